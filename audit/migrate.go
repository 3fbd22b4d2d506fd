package audit

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrate creates or updates the audit tables in db, which is normally the
// projections' ledger.db so that hashes are appended in the same transaction
// as the projector's rows. Applied migrations are recorded in their own table,
// audit_migrations, apart from the projections' schema_migrations. A database
// whose audit schema is newer than this build's is refused.
func Migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("audit migrations: %w", err)
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM audit_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("audit schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("audit schema version %d is newer than this build's %d", version, len(names))
	}
	for i := version; i < len(names); i++ {
		if err := applyMigration(ctx, db, i+1, names[i]); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, name string) error {
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("audit migration %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, strings.TrimPrefix(name, "migrations/"), time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("audit migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit migration %s: %w", name, err)
	}
	return nil
}
