package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
)

// EventReader reads one stored event by sequence: *events.Store is one.
type EventReader interface {
	Get(ctx context.Context, seq uint64) (events.Recorded, error)
}

// Trail answers audit queries from the audit rows and tree in ledger.db,
// and the stream for an event's exact bytes.
type Trail struct {
	DB     *sql.DB
	Events EventReader
	// Witnesses, if set, are the verifier keys whose co-signatures receipts
	// carry; others stored in the stream are left out. Unset, receipts carry
	// any that verify, at most maxWitnesses.
	Witnesses []string
}

// Default and largest page sizes of List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

const entryColumns = `seq, at, actor, actor_key, action, key_id, owner, detail, source, leaf_hash`

// List returns one page of entries matching f, newest first: by event time,
// then stream sequence.
func (t *Trail) List(ctx context.Context, f keyledger.AuditFilter) (*keyledger.AuditPage, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, keyledger.Errorf(keyledger.EInvalid, "limit: 1..%d", MaxLimit)
	}
	var where []string
	var args []any
	// The most selective filter drives the scan; a leading + keeps SQLite
	// from scanning by a less selective one's index instead.
	lead := true
	add := func(col string, v any) {
		if !lead {
			col = "+" + col
		}
		lead = false
		where = append(where, col+` = ?`)
		args = append(args, v)
	}
	if f.KeyID != "" {
		add(`key_id`, f.KeyID)
	}
	if f.Owner != "" {
		add(`owner`, f.Owner)
	}
	if f.Actor != "" {
		add(`actor`, f.Actor)
	}
	if f.Action != "" {
		add(`action`, f.Action)
	}
	if f.Since != nil {
		where, args = append(where, `at >= ?`), append(args, f.Since.UTC().Format(timeFormat))
	}
	if f.Until != nil {
		where, args = append(where, `at < ?`), append(args, f.Until.UTC().Format(timeFormat))
	}
	if f.Cursor != "" {
		at, seq, ok := parseCursor(f.Cursor)
		if !ok {
			return nil, keyledger.Errorf(keyledger.EInvalid, "cursor: not one this server gave")
		}
		where, args = append(where, `(at, seq) < (?, ?)`), append(args, at, seq)
	}
	q := `SELECT ` + entryColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY at DESC, seq DESC LIMIT ?`
	args = append(args, limit+1)
	entries, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	page := &keyledger.AuditPage{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[:limit]
		last := entries[limit-1]
		page.NextCursor = last.At.UTC().Format(timeFormat) + "/" + strconv.FormatUint(last.Seq, 10)
	}
	return page, nil
}

// parseCursor reads "AT/SEQ", the last entry of the page before.
func parseCursor(c string) (string, uint64, bool) {
	at, seqText, ok := strings.Cut(c, "/")
	if !ok {
		return "", 0, false
	}
	if _, err := parseTime(at); err != nil {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	return at, seq, err == nil
}

// Trace returns one key's whole story: every entry about it, oldest first
// (who issued it, for whom and with what policy, renames, refused
// attempts, revocations, regenerations, its end), and its use per hour
// with the addresses it came from, over its most recent hours of use (at
// most keyledger.MaxTraceUsageHours).
func (t *Trail) Trace(ctx context.Context, keyID string, hours int) (*keyledger.KeyTrace, error) {
	entries, err := t.query(ctx, `SELECT `+entryColumns+` FROM audit_events WHERE key_id = ? ORDER BY seq`, keyID)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, keyledger.Errorf(keyledger.ENotFound, "no audit entries for key %s", keyID)
	}
	tr := &keyledger.KeyTrace{KeyID: keyID, Entries: entries}
	for _, e := range entries {
		if e.Owner != "" {
			tr.Owner = e.Owner
		}
	}
	if tr.Usage, err = t.usagePerHour(ctx, keyID, min(hours, keyledger.MaxTraceUsageHours)); err != nil {
		return nil, err
	}
	return tr, nil
}

func (t *Trail) query(ctx context.Context, q string, args ...any) ([]*keyledger.AuditEntry, error) {
	rows, err := t.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	defer rows.Close()
	entries := []*keyledger.AuditEntry{}
	for rows.Next() {
		var e keyledger.AuditEntry
		var at, detail string
		var leaf []byte
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.ActorKey, &e.Action, &e.KeyID, &e.Owner, &detail, &e.Source, &leaf); err != nil {
			return nil, fmt.Errorf("audit query: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("audit row %d: %w", e.Seq, err)
		}
		if detail != "{}" {
			e.Detail = json.RawMessage(detail)
		}
		e.LeafHash = LeafHashText(leaf)
		entries = append(entries, &e)
	}
	return entries, rows.Err()
}

// Prove returns the receipt of the event at seq against a checkpoint in
// the stream that covers it: the newest one witnesses have co-signed, among
// the last eight, or else the newest. (Under load a new checkpoint comes
// every second, so the newest alone would often not carry theirs yet.)
func (t *Trail) Prove(ctx context.Context, seq uint64) (*keyledger.AuditReceipt, error) {
	if seq == 0 {
		return nil, keyledger.Errorf(keyledger.EInvalid, "seq: 1 or more")
	}
	cps, err := t.newestCheckpoints(ctx, proveAmong)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		return nil, keyledger.Errorf(keyledger.EUnavailable, "no checkpoint signed yet: try again after the next one")
	}
	if seq > cps[0].Size {
		return nil, keyledger.Errorf(keyledger.EUnavailable, "seq %d is not yet covered by a checkpoint (the latest covers 1..%d): try again after the next one", seq, cps[0].Size)
	}
	ev, err := t.Events.Get(ctx, seq)
	if err != nil {
		return nil, err
	}
	var signed []byte
	for _, cp := range cps {
		if cp.Size < seq {
			break
		}
		withCos, err := t.cosigned(ctx, cp.seq, cp.checkpointDetail)
		if err != nil {
			return nil, err
		}
		if signed == nil || len(withCos) > len(cp.Note) {
			signed = withCos
		}
		if len(withCos) > len(cp.Note) {
			break // the newest covering checkpoint witnesses co-signed
		}
	}
	r, err := NewHashStore(t.DB).NewReceipt(ctx, seq, ev.Data, signed)
	if err != nil {
		return nil, err
	}
	out := &keyledger.AuditReceipt{Seq: r.Seq, Event: base64.StdEncoding.EncodeToString(r.Event), LeafHash: r.LeafHash.String(),
		Proof: make([]string, len(r.Proof)), Checkpoint: r.Checkpoint}
	for i, h := range r.Proof {
		out.Proof[i] = h.String()
	}
	return out, nil
}

// proveAmong is how many of the newest checkpoints Prove looks at for one
// witnesses co-signed: the checkpointer and the witnesses each look once a
// second, so under load the newest checkpoint is often a poll or two ahead
// of every witness.
const proveAmong = 8

// storedCheckpoint is a checkpoint event's row.
type storedCheckpoint struct {
	seq uint64
	checkpointDetail
}

// newestCheckpoints returns up to n checkpoint rows, newest first. It walks
// the rows back from the end (checkpoints are at most about Every events
// apart) rather than sorting every checkpoint ever stored.
func (t *Trail) newestCheckpoints(ctx context.Context, n int) ([]storedCheckpoint, error) {
	rows, err := t.DB.QueryContext(ctx, `SELECT seq, detail FROM audit_events WHERE +action = 'audit.checkpoint' ORDER BY seq DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	defer rows.Close()
	var out []storedCheckpoint
	for rows.Next() {
		var c storedCheckpoint
		var detail string
		if err := rows.Scan(&c.seq, &detail); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(detail), &c.checkpointDetail); err != nil {
			return nil, fmt.Errorf("checkpoint at seq %d: %w", c.seq, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// maxWitnesses bounds the co-signatures a receipt carries, well below
// what note allows on one note (100 signatures, 16 KiB checkpoints here).
const maxWitnesses = 16

// cosigned returns the checkpoint stored at seq with every witness's
// co-signature stored since. Witnesses co-sign the newest checkpoint, so
// theirs follow it closely: the rows after it are read in seq order, never
// the whole history of co-signatures.
func (t *Trail) cosigned(ctx context.Context, seq uint64, cp checkpointDetail) ([]byte, error) {
	rows, err := t.DB.QueryContext(ctx, `SELECT detail FROM audit_events WHERE seq > ? AND +action = 'audit.cosigned' ORDER BY seq`, seq)
	if err != nil {
		return nil, fmt.Errorf("co-signatures: %w", err)
	}
	defer rows.Close()
	out := []byte(cp.Note)
	merged := 0
	for rows.Next() && merged < maxWitnesses {
		var detail string
		if err := rows.Scan(&detail); err != nil {
			return nil, err
		}
		var co cosignDetail
		if err := json.Unmarshal([]byte(detail), &co); err != nil {
			return nil, fmt.Errorf("co-signature: %w", err)
		}
		if co.Size != cp.Size || (len(t.Witnesses) > 0 && !slices.Contains(t.Witnesses, co.Witness)) {
			continue
		}
		next, err := AddCosignature(out, []byte(co.Note), co.Witness)
		if err != nil || len(next) == len(out) {
			continue // one witness's bad signature must not cost the receipt the others'
		}
		out, merged = next, merged+1
	}
	return out, rows.Err()
}

// Revocation returns the sequence of the latest revocation of a key.
func (t *Trail) Revocation(ctx context.Context, keyID string) (uint64, error) {
	var seq uint64
	err := t.DB.QueryRowContext(ctx, `SELECT seq FROM audit_events WHERE key_id = ? AND action = 'key.revoked' ORDER BY seq DESC LIMIT 1`, keyID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, keyledger.Errorf(keyledger.ENotFound, "key %s has never been revoked (audit trace %s tells its story, "+
			"and audit prove SEQ proves any of its events)", keyID, keyID)
	}
	return seq, err
}

// LatestCheckpoint returns the size and stream sequence of the newest
// checkpoint event projected (0, 0 if none).
func (t *Trail) LatestCheckpoint(ctx context.Context) (size, seq uint64, err error) {
	cps, err := t.newestCheckpoints(ctx, 1)
	if err != nil || len(cps) == 0 {
		return 0, 0, err
	}
	return cps[0].Size, cps[0].seq, nil
}

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

// LatestCheckpointAt returns when the newest checkpoint projected was
// stored; ok is false before there is one.
func (t *Trail) LatestCheckpointAt(ctx context.Context) (at time.Time, ok bool, err error) {
	var s sql.NullString
	if err := t.DB.QueryRowContext(ctx, `SELECT MAX(at) FROM audit_events WHERE action = 'audit.checkpoint'`).Scan(&s); err != nil {
		return time.Time{}, false, fmt.Errorf("latest checkpoint: %w", err)
	}
	if !s.Valid {
		return time.Time{}, false, nil
	}
	at, err = parseTime(s.String)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("latest checkpoint: %w", err)
	}
	return at, true, nil
}
