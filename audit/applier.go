package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"golang.org/x/mod/sumdb/tlog"
)

// timeFormat is how audit rows store times, as the projections do.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Applier is the audit trail as a projection of stream KEYLEDGER: for every
// stored event, its leaf in tlog_hashes and its row in audit_events, in the
// projector's transaction. Register it with projections.DB.Use("ledger", …).
//
// Its statements run with tx.Exec and tx.QueryRow: the driver's statement
// cache compiles each once per connection, not once per transaction.
type Applier struct {
	tx   *sql.Tx // the transaction of the batch being applied
	buf  []Event
	args []any // rows not yet written
}

// NewApplier returns the audit applier.
func NewApplier() *Applier { return &Applier{} }

// Name implements projections.Applier.
func (*Applier) Name() string { return "audit" }

// Migrations implements projections.Applier: tlog_hashes and audit_events.
func (*Applier) Migrations() fs.FS {
	f, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	return f
}

// Apply implements projections.Applier for one event.
func (a *Applier) Apply(tx *sql.Tx, r events.Recorded) error {
	return a.ApplyBatch(tx, []events.Recorded{r})
}

// ApplyBatch appends the batch's leaves in one write, then writes a row per
// event carrying its leaf hash, up to rowsPerInsert rows per statement.
func (a *Applier) ApplyBatch(tx *sql.Tx, batch []events.Recorded) error {
	ctx := context.Background()
	a.buf = a.buf[:0]
	for _, r := range batch {
		a.buf = append(a.buf, Event{Seq: r.Seq, Data: r.Data})
	}
	leaves, err := a.leaves(ctx, tx)
	if err != nil {
		return err
	}
	a.tx = tx
	defer func() { a.tx = nil }()
	for i, r := range batch {
		row, err := makeRow(r, a)
		if err != nil {
			return fmt.Errorf("seq %d (%s): %w", r.Seq, r.Subject, err)
		}
		a.args = append(a.args, r.Seq, row.at, row.actor, row.actorKey, row.action, row.keyID, row.owner,
			row.source, row.detail, leaves[i][:])
		if len(a.args) == rowsPerInsert*rowArgs {
			if err := a.flush(); err != nil {
				return err
			}
		}
	}
	return a.flush()
}

// leaves appends a.buf's leaves to the tree and returns their hashes.
func (a *Applier) leaves(ctx context.Context, tx *sql.Tx) ([]tlog.Hash, error) {
	return Append(ctx, tx, a.buf...)
}

// rowsPerInsert is the most audit rows one INSERT writes; rowArgs is the
// number of columns.
const (
	rowsPerInsert = 100
	rowArgs       = 10
)

const insertRow = `INSERT INTO audit_events (seq, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash) VALUES `

// flush writes the buffered rows.
func (a *Applier) flush() error {
	if len(a.args) == 0 {
		return nil
	}
	defer func() { clear(a.args); a.args = a.args[:0] }()
	if err := insertRows(context.Background(), a.tx, insertRow, rowArgs, rowsPerInsert, a.args); err != nil {
		return fmt.Errorf("audit rows from seq %v: %w", a.args[0], err)
	}
	return nil
}

// prevQueries find the state before a change, each through the partial
// index that holds just the rows of its kind in stream order (migration 003),
// so that a change costs the same however many came before it.
var prevQueries = [...]string{
	`SELECT detail FROM audit_events INDEXED BY audit_events_key_names
		WHERE key_id = ? AND action IN ('key.issued', 'key.renamed') ORDER BY seq DESC LIMIT 1`,
	`SELECT detail FROM audit_events INDEXED BY audit_events_user_roles
		WHERE owner = ? AND action IN ('user.registered', 'user.roles_changed') AND key_id = '' ORDER BY seq DESC LIMIT 1`,
	`SELECT detail FROM audit_events INDEXED BY audit_events_settings
		WHERE action = 'settings.changed' ORDER BY seq DESC LIMIT 1`,
}

// ApplySkipped implements projections.Skipper: an event the projection
// passes over (an admin skipped it, or it cannot be read) still has its leaf
// and row, as it has its place in the stream.
func (a *Applier) ApplySkipped(tx *sql.Tx, r events.Recorded) error {
	return a.ApplyBatch(tx, []events.Recorded{r})
}

// CheckPosition implements projections.PositionChecker: the tree and the
// rows must both end at the projection's position (an older ledger.db
// without them is rebuilt from zero).
func (*Applier) CheckPosition(ctx context.Context, db *sql.DB, position uint64) error {
	size, err := treeSize(ctx, db)
	if err != nil {
		return err
	}
	var last uint64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&last); err != nil {
		return err
	}
	if uint64(size) != position || last != position {
		return fmt.Errorf("audit log holds %d leaves and rows to seq %d, the projection is at %d", size, last, position)
	}
	return nil
}

// row is an audit_events row before its leaf hash.
type row struct {
	at, actor, actorKey, action, keyID, owner, source, detail string
}

// Action names one event kind as audit rows and filters do.
func Action(e events.Event) string {
	switch e.(type) {
	case *events.SettingsChanged:
		return "settings." + e.Action()
	case *events.CheckpointSigned, *events.CheckpointCosigned:
		return "audit." + e.Action()
	case *events.EventSkipped, *events.Undecodable:
		return "ops." + e.Action()
	}
	if e.KeyRef() != "" {
		return "key." + e.Action()
	}
	return "user." + e.Action()
}

type nameDesc struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type issuedDetail struct {
	Name         string               `json:"name"`
	Description  string               `json:"description,omitempty"`
	Scopes       []string             `json:"scopes,omitempty"`
	AllowedCIDRs []string             `json:"allowed_cidrs,omitempty"`
	RateLimit    *keyledger.RateLimit `json:"rate_limit,omitempty"`
	ExpiresAt    *time.Time           `json:"expires_at,omitempty"`
}

type change[T any] struct {
	Before *T `json:"before"`
	After  T  `json:"after"`
}

type reasonDetail struct {
	Reason string `json:"reason,omitempty"`
}

type checkpointDetail struct {
	Size uint64 `json:"size"`
	Note string `json:"note"`
}

type cosignDetail struct {
	Size    uint64 `json:"size"`
	Witness string `json:"witness"`
	Note    string `json:"note"`
}

type userDetail struct {
	Name  string   `json:"name"`
	Kind  string   `json:"kind"`
	Roles []string `json:"roles"`
}

// priorState finds what a change changed: it decodes into v the detail of
// the latest row before the event found by lookup (0: a key's issue or
// rename, by key ID; 1: a user's registration or roles change, by user ID;
// 2: the settings, with no argument), and reports whether there is one.
type priorState interface {
	previous(v any, lookup int, args ...any) (bool, error)
}

// makeRow derives the row of one event. Renames, role and settings changes
// read the state before them from earlier rows, through prior.
func makeRow(r events.Recorded, prior priorState) (row, error) {
	m := r.Event.Base()
	out := row{at: m.At.UTC().Format(timeFormat), actor: m.Actor, actorKey: m.ActorKey, source: m.Source,
		action: Action(r.Event), keyID: r.Event.KeyRef(), owner: r.Event.OwnerID()}
	var detail any
	switch e := r.Event.(type) {
	case *events.KeyIssued:
		detail = issuedDetail{e.Name, e.Description, e.Scopes, e.AllowedCIDRs, e.RateLimit, e.ExpiresAt}
	case *events.KeyRenamed:
		c := change[nameDesc]{After: nameDesc{e.Name, e.Description}}
		var prev struct {
			nameDesc
			After *nameDesc `json:"after"`
		}
		if ok, err := prior.previous(&prev, 0, e.KeyID); err != nil {
			return out, err
		} else if ok && prev.After != nil {
			c.Before = prev.After
		} else if ok {
			c.Before = &prev.nameDesc
		}
		detail = c
	case *events.KeyRevoked:
		detail = reasonDetail{e.Reason}
	case *events.KeyDeleted:
		detail = reasonDetail{e.Reason}
	case *events.KeyExpired:
		detail = reasonDetail{e.Reason}
	case *events.UserRegistered:
		detail = userDetail{e.Name, e.Kind, e.Roles}
	case *events.UserRolesChanged:
		c := change[[]string]{After: e.Roles}
		var prev struct {
			Roles []string  `json:"roles"`
			After *[]string `json:"after"`
		}
		if ok, err := prior.previous(&prev, 1, e.UserID); err != nil {
			return out, err
		} else if ok && prev.After != nil {
			c.Before = prev.After
		} else if ok {
			c.Before = &prev.Roles
		}
		detail = c
	case *events.SettingsChanged:
		c := change[keyledger.Settings]{After: e.Settings}
		var prev struct {
			After *keyledger.Settings `json:"after"`
		}
		if ok, err := prior.previous(&prev, 2); err != nil {
			return out, err
		} else if ok {
			c.Before = prev.After
		} else {
			d := keyledger.DefaultSettings() // the policy before any change
			c.Before = &d
		}
		detail = c
	case *events.CheckpointSigned:
		detail = checkpointDetail{e.Size, e.Note}
	case *events.CheckpointCosigned:
		detail = cosignDetail{e.Size, e.Witness, e.Note}
	case *events.EventSkipped:
		detail = struct {
			Seq    uint64 `json:"seq"`
			Reason string `json:"reason"`
		}{e.Seq, e.Reason}
	case *events.AccessDenied:
		detail = struct {
			Endpoint string `json:"endpoint"`
			Code     string `json:"code"`
		}{e.Endpoint, e.Code}
	default:
		detail = struct{}{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return out, err
	}
	out.detail = string(b)
	return out, nil
}

// previous implements priorState from the rows of the applier's own
// transaction.
func (a *Applier) previous(v any, lookup int, args ...any) (bool, error) {
	if err := a.flush(); err != nil { // the row looked for may be buffered
		return false, err
	}
	return scanDetail(a.tx.QueryRow(prevQueries[lookup], args...), v)
}

// LeafHashText is how entries show a leaf hash: base64, as tlog prints it.
func LeafHashText(b []byte) string {
	var h tlog.Hash
	copy(h[:], b)
	return h.String()
}
