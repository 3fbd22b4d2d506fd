-- The transparency log's stored hashes, exactly as golang.org/x/mod/sumdb/tlog
-- numbers them (tlog.StoredHashIndex): leaf hashes and every completed
-- interior node, 32 bytes each. The tree size is implied by the row count;
-- rows are only ever appended, in the projector's transaction.
CREATE TABLE tlog_hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
