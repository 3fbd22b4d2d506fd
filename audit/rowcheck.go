package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keyledger/keyledger/events"
)

// rowChecker compares ledger.db's audit rows, in seq order, with the rows
// the stream's events make, on a goroutine of its own while the caller
// reads on. It holds one read transaction, so the projection's position and
// the rows are of one moment: rows up to the position are compared, a row
// past it is extra, and rows projected after the stream was read are left
// for the next run.
//
// The state before a change (a rename's old name, a roles change's old
// roles) is read from the ledger's own earlier rows. That is sound because
// rows are compared in seq order and the first difference ends the check:
// every earlier row it reads has already been found to be the row its event
// makes.
type rowChecker struct {
	tx         *sql.Conn // in a deferred (read) transaction
	position   uint64
	storedSize int64 // the stored tree's leaves at the same moment
	got        *sql.Rows
	head       storedRow // the ledger row under the cursor, if ok
	ok         bool
	prior      [3]*sql.Stmt
	seq        uint64 // the event being checked: prior rows are below it
	last       uint64 // the last event seen
	matched    uint64

	batches chan []events.Recorded
	err     error // the first difference: the rest is not compared
	done    chan struct{}
}

// startRowChecker opens the read transaction, checks that no row lies past
// the projection's position, and starts comparing.
//
// The transaction is begun by hand, DEFERRED: a handle opened with
// _txlock=immediate (the server's own) would otherwise take the write lock
// for the whole check and stop the projector.
func startRowChecker(ctx context.Context, db *sql.DB) (*rowChecker, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		conn.Close()
		return nil, err
	}
	c := &rowChecker{tx: conn, batches: make(chan []events.Recorded, 8), done: make(chan struct{})}
	if err := c.open(ctx); err != nil {
		c.end()
		return nil, err
	}
	go c.run(ctx)
	return c, nil
}

// end rolls the read transaction back and gives the connection back.
func (c *rowChecker) end() {
	if c.got != nil {
		c.got.Close()
	}
	for _, st := range c.prior {
		if st != nil {
			st.Close()
		}
	}
	_, _ = c.tx.ExecContext(context.Background(), `ROLLBACK`)
	c.tx.Close()
}

func (c *rowChecker) open(ctx context.Context) error {
	if err := c.tx.QueryRowContext(ctx, `SELECT last_seq FROM projection_state WHERE name = 'ledger'`).Scan(&c.position); err != nil {
		return fmt.Errorf("projection position: %w", err)
	}
	var err error
	if c.storedSize, err = treeSize(ctx, c.tx); err != nil {
		return err
	}
	var beyond sql.NullInt64
	if err := c.tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_events WHERE seq > ?`, c.position).Scan(&beyond); err != nil {
		return err
	}
	if beyond.Valid {
		return &DivergenceError{Seq: uint64(beyond.Int64), What: RowExtra, Detail: "ledger.db has an audit row past the events it projected"}
	}
	// The projector appends one leaf per event it projects, in the same
	// transaction: a stored tree of another size was cut or padded, and
	// comparing only the hashes it still holds would pass.
	if size := uint64(c.storedSize); size < c.position {
		return &DivergenceError{Seq: size + 1, What: StoredHash, Detail: fmt.Sprintf("ledger.db's stored tree holds %d leaves, but the projection is at seq %d", size, c.position)}
	} else if size > c.position {
		return &DivergenceError{Seq: c.position + 1, What: StoredExtra, Detail: fmt.Sprintf("ledger.db's stored tree holds %d leaves, but the projection is at seq %d", size, c.position)}
	}
	for i, q := range prevQueries {
		st, err := c.tx.PrepareContext(ctx, priorBelow(q))
		if err != nil {
			return err
		}
		c.prior[i] = st
	}
	c.got, err = c.tx.QueryContext(ctx, `SELECT seq, at, actor, actor_key, action, key_id, owner, source, detail, leaf_hash, `+rowTypesColumn+`
		FROM audit_events WHERE seq <= ? ORDER BY seq`, c.position)
	if err != nil {
		return fmt.Errorf("audit rows: %w", err)
	}
	return c.advance()
}

// advance moves the cursor to the next ledger row.
func (c *rowChecker) advance() error {
	var err error
	c.head, c.ok, err = scanRow(c.got)
	return err
}

func (c *rowChecker) run(ctx context.Context) {
	defer close(c.done)
	for batch := range c.batches {
		if c.err != nil {
			continue
		}
		for _, r := range batch {
			if c.err = c.check(r); c.err != nil {
				break
			}
		}
	}
}

// check compares the ledger row at r's seq with the row r makes.
func (c *rowChecker) check(r events.Recorded) error {
	c.last = r.Seq
	if r.Seq > c.position {
		return nil
	}
	c.seq = r.Seq
	if c.ok && c.head.seq < r.Seq {
		return &DivergenceError{Seq: c.head.seq, What: RowExtra, Detail: "ledger.db has an audit row for no event"}
	}
	if !c.ok || c.head.seq > r.Seq {
		return &DivergenceError{Seq: r.Seq, What: RowMissing, Detail: "ledger.db has no audit row for this event"}
	}
	if leaf := LeafHash(r.Seq, r.Data); !bytes.Equal(c.head.leaf, leaf[:]) {
		return &DivergenceError{Seq: r.Seq, What: RowHash, Detail: "the row's leaf_hash is not the log's leaf at its seq"}
	}
	want, err := makeRow(r, c)
	if err != nil {
		return fmt.Errorf("seq %d (%s): %w", r.Seq, r.Subject, err)
	}
	if c.head.row != want {
		return &DivergenceError{Seq: r.Seq, What: RowContent, Detail: "the row differs from the one its event makes"}
	}
	if c.head.typed != rowColumns {
		return &DivergenceError{Seq: r.Seq, What: RowContent, Detail: "the row's columns are not of their types (text stored as a blob matches no filter)"}
	}
	c.matched++
	return c.advance()
}

// priorBelow is prior-state query q limited to the rows below a sequence,
// its last argument.
func priorBelow(q string) string {
	return strings.Replace(q, " ORDER BY", " AND seq < ? ORDER BY", 1)
}

// previous implements priorState from the ledger's rows before the event
// being checked.
func (c *rowChecker) previous(v any, lookup int, args ...any) (bool, error) {
	return scanDetail(c.prior[lookup].QueryRow(append(args, c.seq)...), v)
}

// add hands a batch over. Once a row differed, the rest are passed over
// and the read goes on: the log's own checks may find an earlier
// divergence.
func (c *rowChecker) add(ctx context.Context, batch []events.Recorded) error {
	select {
	case c.batches <- batch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits for the comparison of every batch handed over, ends it and
// returns how many rows matched, or the first divergence. A ledger row left
// within the position and the stream as read is extra.
func (c *rowChecker) close() (uint64, error) {
	close(c.batches)
	<-c.done
	defer c.end()
	if c.err != nil {
		return c.matched, c.err
	}
	if c.ok && c.head.seq <= min(c.position, c.last) {
		return c.matched, &DivergenceError{Seq: c.head.seq, What: RowExtra, Detail: "ledger.db has an audit row past the events it projected"}
	}
	return c.matched, c.got.Err()
}

// scanDetail decodes the detail a prior-state query found into v.
func scanDetail(row *sql.Row, v any) (bool, error) {
	var detail string
	err := row.Scan(&detail)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(detail), v)
}
