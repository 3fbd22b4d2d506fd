package projections

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/keyledger/keyledger/events"
)

// Applier is one projection: the tables it owns (its migrations, files
// NNN_*.sql at the root of an fs.FS, applied in name order and recorded under
// its Name) and how one stored event changes them. A new projection is a new
// Applier registered with DB.Use, not an edit to a shared switch.
//
// Apply runs inside the projector's write transaction, which holds every
// applier's rows for a batch and the stream position, so all of them commit
// together or not at all. An applier ignores events it has no rows for; an
// error stops the projector.
type Applier interface {
	Name() string
	Migrations() fs.FS
	Apply(tx *sql.Tx, r events.Recorded) error
}

// BatchApplier is an Applier that can apply a whole batch at once (one
// multi-row write instead of one per event); the projector prefers it.
type BatchApplier interface {
	Applier
	ApplyBatch(tx *sql.Tx, batch []events.Recorded) error
}

// Skipper is an Applier that must see every stored event, even one the
// projection passes over (an admin's skip, an unreadable usage record): the
// audit log gives each its leaf and row.
type Skipper interface {
	Applier
	ApplySkipped(tx *sql.Tx, r events.Recorded) error
}

// PositionChecker is an Applier that can tell whether its rows cover exactly
// the events up to the projection's position. One that cannot (a table
// emptied or added to an existing file) makes Open drop the file, to be
// rebuilt from the stream.
type PositionChecker interface {
	CheckPosition(ctx context.Context, db *sql.DB, position uint64) error
}

// registered is an applier and the projector position that feeds it.
type registered struct {
	position string // "ledger" or "usage"
	a        Applier
}

// Use registers an applier fed by the projector whose position is named
// position ("ledger" for stream KEYLEDGER, "usage" for KEYLEDGER_USAGE).
// Call it before Open: Open applies its migrations.
func (d *DB) Use(position string, a Applier) {
	d.appliers = append(d.appliers, registered{position: position, a: a})
}

// appliersFor returns the appliers fed by the named position, in
// registration order.
func (d *DB) appliersFor(position string) []Applier {
	var out []Applier
	for _, r := range d.appliers {
		if r.position == position {
			out = append(out, r.a)
		}
	}
	return out
}
