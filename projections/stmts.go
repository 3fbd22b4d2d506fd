package projections

import (
	"context"
	"database/sql"
	"sync"
)

// readStmts are the prepared statements of the queries on a command's path
// (the reply's key, settings, a command's outcome): preparing one costs
// more than running it. database/sql prepares each again on every pooled
// connection that runs it, once.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// queryRow runs query on d's file through a statement prepared once.
func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s := d.stmts
	s.mu.Lock()
	st, ok := s.m[query]
	if !ok {
		var err error
		if st, err = d.db.PrepareContext(ctx, query); err != nil {
			s.mu.Unlock()
			return d.db.QueryRowContext(ctx, query, args...) // reports the error
		}
		s.m[query] = st
	}
	s.mu.Unlock()
	return st.QueryRowContext(ctx, args...)
}
