package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFiles embed.FS

// migration is one embedded file, NNNN_name.sql, applied once in version order.
type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		if e.IsDir() || !ok || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: bad version", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s: same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the missing migrations in one transaction, so a failure
// leaves the schema as it was. On PostgreSQL a transaction-scoped advisory lock
// makes a second process starting at the same time wait and then find
// everything applied; on SQLite the immediate transaction does the same.
func migrate(ctx context.Context, db *sql.DB, d dialect, ms []migration, now time.Time) (applied []int64, err error) {
	return migrateTable(ctx, db, d, d.migrationLock, "schema_migrations", ms, now)
}

// Migrate applies another package's embedded migrations (the NNNN_name.sql
// files in dir of fsys) to db, the database of a Store (Store.DB), recording
// them in a table of their own so their versions never mix with access's:
// a package that keeps tables of its own beside access's (notify) migrates
// them alike, one transaction, one process at a time. backend is
// Store.Backend: "sqlite" or "postgres".
func Migrate(ctx context.Context, db *sql.DB, backend string, fsys fs.FS, dir, table string, now time.Time) ([]int64, error) {
	var d dialect
	switch backend {
	case sqlite.name:
		d = sqlite
	case postgres.name:
		d = postgres
	default:
		return nil, fmt.Errorf("sqlstore: unknown backend %q", backend)
	}
	if !validTable(table) {
		return nil, fmt.Errorf("sqlstore: migration table %q: want lower-case letters and _", table)
	}
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return nil, err
	}
	lock := ""
	if d.migrationLock != "" {
		lock = `SELECT pg_advisory_xact_lock(hashtext('overblik ` + table + `'))`
	}
	return migrateTable(ctx, db, d, lock, table, ms, now)
}

func validTable(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return s != ""
}

func migrateTable(ctx context.Context, db *sql.DB, d dialect, lock, table string, ms []migration, now time.Time) (applied []int64, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return nil, fmt.Errorf("lock migrations: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version    BIGINT PRIMARY KEY,
		applied_us BIGINT NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("create %s: %w", table, err)
	}
	done := map[int64]bool{}
	var newest int64
	rows, err := tx.QueryContext(ctx, `SELECT version FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		done[v] = true
		newest = max(newest, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].version {
		// A newer binary migrated this database; this one would misread it.
		return nil, fmt.Errorf("database schema version %d is newer than this program's %d", newest, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, d.bind(`INSERT INTO `+table+` (version, applied_us) VALUES (?, ?)`), m.version, now.UnixMicro()); err != nil {
			return nil, fmt.Errorf("record migration %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit migrations: %w", err)
	}
	return applied, nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
