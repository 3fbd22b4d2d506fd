package audit

import "golang.org/x/mod/sumdb/tlog"

// memTree is a tree held in memory, rebuilt from the stream: every stored
// hash, 64 bytes per leaf on average.
type memTree struct {
	n      int64
	hashes []tlog.Hash
	buf    []byte
}

var _ tlog.HashReader = (*memTree)(nil)

// ReadHashes implements tlog.HashReader.
func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx < 0 || idx >= int64(len(m.hashes)) {
			return nil, &missingHashError{idx}
		}
		out[i] = m.hashes[idx]
	}
	return out, nil
}

// add appends the event as leaf m.n, which the caller has checked is seq-1.
func (m *memTree) add(seq uint64, data []byte) error {
	m.buf = appendLeafInput(m.buf[:0], seq, data)
	hs, err := tlog.StoredHashesForRecordHash(m.n, tlog.RecordHash(m.buf), m)
	if err != nil {
		return err
	}
	m.hashes = append(m.hashes, hs...)
	m.n++
	return nil
}
