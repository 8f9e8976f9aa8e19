package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Migrations are a package's embedded schema: the NNNN_name.sql files in
// Dir/<dialect name> of FS, applied once each in version order and recorded
// in Table, so packages sharing the database never mix their versions.
type Migrations struct {
	FS    fs.FS
	Dir   string // holds a folder per dialect: sqlite, postgres
	Table string // lower-case letters and _
	// Lock names PostgreSQL's advisory lock; default "overblik " + Table.
	Lock string
}

// migration is one file.
type migration struct {
	version int64
	name    string
	sql     string
}

// Migrate applies the migrations db lacks in one transaction, so a failure
// leaves the schema as it was, and returns the versions it applied. On
// PostgreSQL a transaction-scoped advisory lock makes a second process
// starting at the same time wait and then find everything applied; on
// SQLite the immediate transaction does the same. A database a newer program
// migrated is refused: this one would misread it.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, m Migrations, now time.Time) (applied []int64, err error) {
	if !validTable(m.Table) {
		return nil, fmt.Errorf("migration table %q: want lower-case letters and _", m.Table)
	}
	ms, err := load(m.FS, path.Join(m.Dir, d.name))
	if err != nil {
		return nil, err
	}
	lock := ""
	if d == Postgres {
		name := m.Lock
		if name == "" {
			name = "overblik " + m.Table
		}
		lock = `SELECT pg_advisory_xact_lock(hashtext('` + strings.ReplaceAll(name, "'", "''") + `'))`
	}
	return apply(ctx, db, d, lock, m.Table, ms, now)
}

func validTable(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return s != ""
}

func load(fsys fs.FS, dir string) ([]migration, error) {
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

func apply(ctx context.Context, db *sql.DB, d Dialect, lock, table string, ms []migration, now time.Time) (applied []int64, err error) {
	tx, err := begin(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
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
		return nil, fmt.Errorf("database schema version %d is newer than this program's %d", newest, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return nil, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, d.Bind(`INSERT INTO `+table+` (version, applied_us) VALUES (?, ?)`), m.version, now.UnixMicro()); err != nil {
			return nil, fmt.Errorf("record migration %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit migrations: %w", err)
	}
	return applied, nil
}

// begin starts the migration's transaction. SQLite answers a BEGIN
// IMMEDIATE with SQLITE_BUSY at once, without waiting its busy_timeout,
// when waiting could deadlock, as while another connection turns a new
// file's journal into WAL (TestMigrateConcurrently saw it about once in a
// hundred runs); such a BEGIN is tried again for as long as busy_timeout
// would have waited.
func begin(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		tx, err := db.BeginTx(ctx, nil)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return tx, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}
