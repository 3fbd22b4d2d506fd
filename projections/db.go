// Package projections builds keyledger's SQLite read models (keys, users,
// settings) from the event stream and answers queries from them. Every batch
// of events is applied in one transaction together with the last applied
// stream sequence, so a crash at any point neither loses nor repeats an
// event, and the whole file can be rebuilt from the stream at any time.
package projections

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// timeFormat is how times are stored: fixed width, so text order is time order.
const timeFormat = "2006-01-02T15:04:05.000Z"

// DB is the projection database, ledger.db. Set Path, then Open.
type DB struct {
	Path string
	// Now is the clock queries use to tell active keys from expired ones.
	Now func() time.Time

	db *sql.DB
	// Rebuilt is true when Open started from an empty file: it was missing,
	// or its schema was older than this build's and was dropped.
	Rebuilt bool
}

// NewDB returns a DB for the file at path.
func NewDB(path string) *DB { return &DB{Path: path, Now: time.Now} }

// Open opens the file, applying migrations. A file with an older schema is
// removed and recreated empty, to be rebuilt from the stream; one with a
// newer schema is refused.
func (d *DB) Open() error {
	names, err := migrations()
	if err != nil {
		return err
	}
	version, err := d.openAt()
	if err != nil {
		return err
	}
	switch {
	case version > len(names):
		d.db.Close()
		return fmt.Errorf("%s has schema version %d, newer than this build's %d", d.Path, version, len(names))
	case version < len(names) && d.hasTables():
		// Projections are disposable: an older schema is dropped, not
		// migrated, and rebuilt from the stream.
		d.db.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(d.Path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("drop old projections: %w", err)
			}
		}
		if version, err = d.openAt(); err != nil {
			return err
		}
	}
	d.Rebuilt = version < len(names)
	return d.migrate(version, names)
}

// hasTables reports whether the file holds any table besides the migration
// record: a new file has none.
func (d *DB) hasTables() bool {
	var n int
	_ = d.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name != 'schema_migrations'`).Scan(&n)
	return n > 0
}

// openAt opens the file and returns its schema version (0 if new).
func (d *DB) openAt() (int, error) {
	if err := restrictFiles(d.Path); err != nil {
		return 0, err
	}
	dsn := "file:" + d.Path + "?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", d.Path, err)
	}
	d.db = db
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		db.Close()
		return 0, fmt.Errorf("open %s: %w", d.Path, err)
	}
	var v int
	if err := db.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		db.Close()
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

func migrations() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func (d *DB) migrate(from int, names []string) error {
	for i := from; i < len(names); i++ {
		body, err := migrationFS.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := d.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			i+1, strings.TrimPrefix(names[i], "migrations/"), time.Now().UTC().Format(timeFormat)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error {
	if d.db == nil {
		return nil
	}
	return d.db.Close()
}

// LastSeq returns the last event-stream sequence applied.
func (d *DB) LastSeq(ctx context.Context) (uint64, error) { return d.Position(ctx, "ledger") }

// Position returns the last sequence a projection ("ledger", "usage") applied.
func (d *DB) Position(ctx context.Context, name string) (uint64, error) {
	var seq uint64
	err := d.db.QueryRowContext(ctx, `SELECT last_seq FROM projection_state WHERE name = ?`, name).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("position of %s: %w", name, err)
	}
	return seq, nil
}

// SQL returns the underlying handle, for tests and tools that compare tables.
func (d *DB) SQL() *sql.DB { return d.db }

// restrictFiles creates the database file readable by its owner only (0600),
// before SQLite does with its default 0644; SQLite gives the -wal and -shm
// files the database file's mode. Files an older build left readable by
// others are tightened.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict %s: %w", path+suffix, err)
		}
	}
	return nil
}
