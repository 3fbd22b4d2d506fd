package audit

import (
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// Event is one stored event: its stream sequence and the exact bytes the
// stream holds at that sequence.
type Event struct {
	Seq  uint64
	Data []byte
}

// LeafInput returns the bytes a leaf hashes: uint64be(seq) || data.
func LeafInput(seq uint64, data []byte) []byte {
	return appendLeafInput(make([]byte, 0, 8+len(data)), seq, data)
}

func appendLeafInput(buf []byte, seq uint64, data []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, seq)
	return append(buf, data...)
}

// LeafHash returns the leaf hash of the event stored at seq with bytes data:
// tlog.RecordHash(uint64be(seq) || data). Its leaf index is seq-1.
func LeafHash(seq uint64, data []byte) tlog.Hash {
	return tlog.RecordHash(LeafInput(seq, data))
}

// leafIndex is the tree index of the event at seq (seq ≥ 1).
func leafIndex(seq uint64) int64 { return int64(seq - 1) }
