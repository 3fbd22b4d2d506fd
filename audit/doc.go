// Package audit holds keyledger's audit trail and the transparency log that
// proves the trail was not altered, the way Certificate Transparency and Go's
// checksum database do.
//
// # The transparency log
//
// Every event in the JetStream stream KEYLEDGER is stored as exact bytes at a
// stream sequence (1, 2, 3, … without gaps: the stream denies delete and
// purge). The log is an RFC 6962 Merkle tree, built with
// golang.org/x/mod/sumdb/tlog, with one leaf per event:
//
//	leaf input  = uint64be(seq) || data
//	leaf hash   = tlog.RecordHash(leaf input) = SHA-256(0x00 || uint64be(seq) || data)
//	leaf index  = seq - 1
//
// where seq is the event's stream sequence as 8 bytes big-endian and data is
// the message payload exactly as the stream stores it (no headers, no
// re-encoding). Interior nodes are RFC 6962's SHA-256(0x01 || left || right)
// (tlog.NodeHash), and the root of a tree of size n covers seqs 1..n. Anyone
// holding the stream can therefore rebuild the tree, and any root, with no
// other input. Binding seq into the leaf means a reordered or renumbered
// event changes its leaf even when its bytes are unchanged.
//
// A tree head is published as a signed checkpoint in the C2SP format
// (https://c2sp.org/tlog-checkpoint), a golang.org/x/mod/sumdb/note whose text
// is
//
//	<origin>\n<size>\n<base64 root hash>\n
//
// with origin "keyledger/<stream-id>" and ed25519 note signatures. The log's
// own signatures carry the origin as key name; several keys may sign one
// checkpoint (every instance of a cluster computes the same tree and may
// co-sign it), and keys with other names (witnesses) may add signatures.
//
// The pieces:
//   - LeafHash and LeafInput: the encoding above.
//   - HashStore: tlog's stored hashes in SQLite table tlog_hashes, appended
//     inside the projector's transaction; tree heads and proofs at any size.
//   - Checkpoint, SignCheckpoint, OpenCheckpoint, CosignCheckpoint: signed tree heads.
//   - LoadOrCreateKey: the signing key, kept in a mode 0600 file.
//   - Witness, LoadOrCreateWitnessKey, AddCosignature: each instance
//     co-signs the newest checkpoint with a key of its own once it found
//     the same root, and receipts carry the co-signatures.
//   - CheckInclusion, CheckConsistency: proof checking.
//   - Receipt, CheckReceipt: an offline-checkable proof that one event is in the log.
//   - VerifyLog: recompute the whole tree from the stream and check every
//     checkpoint and stored hash against it; CheckRowHashes for audit rows
//     that carry a leaf_hash.
package audit
