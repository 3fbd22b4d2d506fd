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
	"strconv"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
)

//go:embed migrations/*.sql
var stateMigrations embed.FS

//go:embed migrations_usage/*.sql
var usageMigrations embed.FS

// timeFormat is how times are stored: fixed width, so text order is time order.
const timeFormat = "2006-01-02T15:04:05.000Z"

// DB is the projection database, ledger.db. Set Path, register any further
// appliers with Use, then Open.
type DB struct {
	Path string
	// Now is the clock queries use to tell active keys from expired ones.
	Now func() time.Time

	db       *sql.DB
	appliers []registered
	// Rebuilt is true when Open started from an empty file: it was missing,
	// its schema was older than this build's and was dropped, or it was
	// inconsistent.
	Rebuilt bool
	// Inconsistent is why Open found the file's rows at odds with its
	// projections' positions (a stored tree cut short, a position edited),
	// and KeptAside where it moved that file before rebuilding; nil and ""
	// otherwise.
	Inconsistent error
	KeptAside    string
}

// NewDB returns a DB for the file at path with the built-in projections:
// keys, users, settings and commands fed by "ledger", usage fed by "usage".
func NewDB(path string) *DB {
	d := &DB{Path: path, Now: time.Now}
	d.Use("ledger", new(stateApplier))
	d.Use("usage", new(usageApplier))
	return d
}

// Open opens the file, applying every registered applier's migrations. A
// file with an older schema (any applier behind this build, or rows an
// applier finds inconsistent with the position) is removed and recreated
// empty, to be rebuilt from the stream; one with a newer schema is refused.
func (d *DB) Open() error {
	plans, err := d.plans()
	if err != nil {
		return err
	}
	versions, err := d.openAt()
	if err != nil {
		return err
	}
	behind := false
	for _, p := range plans {
		v := versions[p.name]
		if v > len(p.files) {
			d.db.Close()
			return fmt.Errorf("%s has schema version %d for %s, newer than this build's %d", d.Path, v, p.name, len(p.files))
		}
		behind = behind || v < len(p.files)
	}
	fresh := !d.hasTables()
	if behind && !fresh {
		// Projections are disposable: an older schema is dropped, not
		// migrated, and rebuilt from the stream.
		if err := d.drop(); err != nil {
			return err
		}
		if versions, err = d.openAt(); err != nil {
			return err
		}
		fresh = true
	}
	if err := d.migrate(plans, versions); err != nil {
		return err
	}
	if !fresh {
		if err := d.checkPositions(); err != nil {
			// Its rows do not match its positions: damaged, or altered.
			// It is rebuilt from the stream, and kept aside as evidence.
			d.Inconsistent = err
			if d.KeptAside, err = d.keepAside(); err != nil {
				return err
			}
			if versions, err = d.openAt(); err != nil {
				return err
			}
			if err := d.migrate(plans, versions); err != nil {
				return err
			}
			fresh = true
		}
	}
	d.Rebuilt = fresh
	return nil
}

// checkPositions asks every PositionChecker whether its rows match its
// projection's position.
func (d *DB) checkPositions() error {
	ctx := context.Background()
	for _, r := range d.appliers {
		pc, ok := r.a.(PositionChecker)
		if !ok {
			continue
		}
		pos, err := d.Position(ctx, r.position)
		if err != nil {
			return err
		}
		if err := pc.CheckPosition(ctx, d.db, pos); err != nil {
			return fmt.Errorf("%s: %w", r.a.Name(), err)
		}
	}
	return nil
}

// drop closes and removes the file.
func (d *DB) drop() error {
	d.db.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(d.Path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("drop old projections: %w", err)
		}
	}
	return nil
}

// keepAside closes the file and renames it (with its -wal and -shm) to
// PATH.inconsistent-TIME, which it returns.
func (d *DB) keepAside() (string, error) {
	d.db.Close()
	aside := d.Path + ".inconsistent-" + time.Now().UTC().Format("20060102T150405Z")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(d.Path+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("keeping inconsistent projections aside: %w", err)
		}
	}
	return aside, nil
}

// plan is one applier's migration files, in order.
type plan struct {
	name  string
	fsys  fs.FS
	files []string
}

func (d *DB) plans() ([]plan, error) {
	var out []plan
	for _, r := range d.appliers {
		fsys := r.a.Migrations()
		files, err := fs.Glob(fsys, "[0-9][0-9][0-9]_*.sql")
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		out = append(out, plan{name: r.a.Name(), fsys: fsys, files: files})
	}
	return out, nil
}

// hasTables reports whether the file holds any table besides the migration
// record: a new file has none.
func (d *DB) hasTables() bool {
	var n int
	_ = d.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name != 'projection_migrations'`).Scan(&n)
	return n > 0
}

// stmtCacheSize is how many compiled statements each connection keeps.
const stmtCacheSize = 64

// openAt opens the file and returns each applier's schema version (absent
// if new).
func (d *DB) openAt() (map[string]int, error) {
	if err := restrictFiles(d.Path); err != nil {
		return nil, err
	}
	// _stmt_cache_size keeps each connection's compiled statements for the
	// next call with the same text. A projector keeping up commits a
	// transaction every few milliseconds, and compiling its dozen
	// statements anew in each was a tenth of its CPU; the reads on a
	// command's path (a key, the settings, a command's outcome) cost more
	// to compile than to run. Statement texts are fixed (multi-row inserts
	// come in a few sizes, see audit's insertRows), so a small cache holds
	// them.
	dsn := "file:" + d.Path + "?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=" + strconv.Itoa(stmtCacheSize)
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.Path, err)
	}
	d.db = db
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS projection_migrations (applier TEXT NOT NULL, version INTEGER NOT NULL,
		name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (applier, version))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", d.Path, err)
	}
	rows, err := db.Query(`SELECT applier, MAX(version) FROM projection_migrations GROUP BY applier`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("schema version: %w", err)
	}
	defer rows.Close()
	versions := map[string]int{}
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			db.Close()
			return nil, fmt.Errorf("schema version: %w", err)
		}
		versions[name] = v
	}
	return versions, rows.Err()
}

func (d *DB) migrate(plans []plan, versions map[string]int) error {
	if _, err := d.db.Exec(`CREATE TABLE IF NOT EXISTS projection_state (name TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("projection state: %w", err)
	}
	for _, p := range plans {
		for i := versions[p.name]; i < len(p.files); i++ {
			if err := d.migrateOne(p, i); err != nil {
				return err
			}
		}
	}
	for _, r := range d.appliers {
		if _, err := d.db.Exec(`INSERT OR IGNORE INTO projection_state (name, last_seq) VALUES (?, 0)`, r.position); err != nil {
			return fmt.Errorf("projection state: %w", err)
		}
	}
	return nil
}

func (d *DB) migrateOne(p plan, i int) error {
	body, err := fs.ReadFile(p.fsys, p.files[i])
	if err != nil {
		return err
	}
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(string(body)); err != nil {
		return fmt.Errorf("migration %s/%s: %w", p.name, p.files[i], err)
	}
	if _, err := tx.Exec(`INSERT INTO projection_migrations (applier, version, name, applied_at) VALUES (?, ?, ?, ?)`,
		p.name, i+1, p.files[i], time.Now().UTC().Format(timeFormat)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s/%s: %w", p.name, p.files[i], err)
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
