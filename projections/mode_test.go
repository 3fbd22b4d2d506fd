package projections_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyledger/keyledger/projections"
)

// ledger.db holds secret hashes and who owns what: only its owner may read
// it, and the same goes for the WAL and shared-memory files beside it.
func TestLedgerDBFilesAreOwnerOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(path string)
	}{
		{"new_file", func(string) {}},
		{"file_an_older_build_left_world_readable", func(path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil { // past any umask
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			tc.prepare(path)
			db := projections.NewDB(path)
			if err := db.Open(); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// A write makes sure the -wal and -shm files exist.
			if _, err := db.SQL().Exec(`UPDATE projection_state SET last_seq = last_seq`); err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"", "-wal", "-shm"} {
				fi, err := os.Stat(path + suffix)
				if err != nil {
					t.Fatalf("%s: %v", suffix, err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("ledger.db%s has mode %v; want 0600", suffix, fi.Mode().Perm())
				}
			}
		})
	}
}
