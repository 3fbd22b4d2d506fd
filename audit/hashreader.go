package audit

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// sqlHashReader is a tlog.HashReader over table tlog_hashes. Hashes at
// stored index base and above come from pending, the hashes an Append has
// computed but not yet written.
type sqlHashReader struct {
	ctx     context.Context
	q       querier
	base    int64
	pending []tlog.Hash
}

var _ tlog.HashReader = (*sqlHashReader)(nil)

// maxParams bounds the placeholders in one IN list (SQLite allows 32766).
const maxParams = 500

// ReadHashes implements tlog.HashReader. A run of consecutive indexes is
// read with one range scan, anything else with IN lists.
func (r *sqlHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var want []int64 // positions in indexes still to read from the table
	for i, idx := range indexes {
		switch {
		case r.pending != nil && idx >= r.base && idx < r.base+int64(len(r.pending)):
			out[i] = r.pending[idx-r.base]
		case idx < 0 || (r.pending != nil && idx >= r.base+int64(len(r.pending))):
			return nil, &missingHashError{idx}
		default:
			want = append(want, int64(i))
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	if consecutive(indexes, want) {
		lo, hi := indexes[want[0]], indexes[want[len(want)-1]]
		if err := r.scan(out[want[0]:want[0]+int64(len(want))], lo, hi); err != nil {
			return nil, err
		}
		return out, nil
	}
	for len(want) > 0 {
		chunk := want[:min(len(want), maxParams)]
		want = want[len(chunk):]
		if err := r.readSome(out, indexes, chunk); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// consecutive reports whether the wanted indexes are one increasing run at
// consecutive positions.
func consecutive(indexes, want []int64) bool {
	for k := 1; k < len(want); k++ {
		if want[k] != want[k-1]+1 || indexes[want[k]] != indexes[want[k-1]]+1 {
			return false
		}
	}
	return true
}

// scan reads hashes lo..hi into dst, which has hi-lo+1 entries.
func (r *sqlHashReader) scan(dst []tlog.Hash, lo, hi int64) error {
	rows, err := r.q.QueryContext(r.ctx, `SELECT idx, hash FROM tlog_hashes WHERE idx BETWEEN ? AND ? ORDER BY idx`, lo, hi)
	if err != nil {
		return fmt.Errorf("read stored hashes: %w", err)
	}
	defer rows.Close()
	next := lo
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return fmt.Errorf("read stored hashes: %w", err)
		}
		if idx != next || len(b) != tlog.HashSize {
			return &missingHashError{next}
		}
		copy(dst[idx-lo][:], b)
		next++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read stored hashes: %w", err)
	}
	if next != hi+1 {
		return &missingHashError{next}
	}
	return nil
}

// readSome reads the hashes at positions pos of indexes into out.
func (r *sqlHashReader) readSome(out []tlog.Hash, indexes, pos []int64) error {
	args := make([]any, len(pos))
	at := make(map[int64][]int64, len(pos)) // stored index -> positions in out
	for k, p := range pos {
		args[k] = indexes[p]
		at[indexes[p]] = append(at[indexes[p]], p)
	}
	q := `SELECT idx, hash FROM tlog_hashes WHERE idx IN (?` + strings.Repeat(",?", len(pos)-1) + `)`
	rows, err := r.q.QueryContext(r.ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read stored hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return fmt.Errorf("read stored hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return &missingHashError{idx}
		}
		for _, p := range at[idx] {
			copy(out[p][:], b)
		}
		delete(at, idx)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read stored hashes: %w", err)
	}
	for idx := range at {
		return &missingHashError{idx}
	}
	return nil
}
