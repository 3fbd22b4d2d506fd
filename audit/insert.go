package audit

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"
	"sync"
)

// insertRows writes rows of cols values each (args, row after row) with the
// INSERT whose text up to its VALUES is head: in statements of most rows,
// and the rest in statements of power-of-two row counts. Whatever a batch's
// size, a table's inserts then use a handful of statement texts, which the
// driver's statement cache compiles once per connection; a text for every
// count would crowd the cache and compile in nearly every transaction.
func insertRows(ctx context.Context, tx *sql.Tx, head string, cols, most int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/cols, most)
		if n < most {
			n = 1 << (bits.Len(uint(n)) - 1)
		}
		if _, err := tx.ExecContext(ctx, insertText(head, cols, n), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

// insertTexts holds the statement texts insertText built.
var insertTexts sync.Map // insertShape → string

type insertShape struct {
	head    string
	cols, n int
}

// insertText is head followed by n tuples of cols placeholders.
func insertText(head string, cols, n int) string {
	shape := insertShape{head, cols, n}
	if q, ok := insertTexts.Load(shape); ok {
		return q.(string)
	}
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	q := head + tuple + strings.Repeat(", "+tuple, n-1)
	insertTexts.Store(shape, q)
	return q
}
