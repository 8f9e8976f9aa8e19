// Package sqldb is what the packages that keep tables in overblik's one
// database share: opening SQLite or PostgreSQL, the placeholders that differ
// between them, and embedded, versioned migrations. access/sqlstore opens the
// database; notify and sources/medcom keep tables of their own in it, on the
// same pool, each with its own migration table.
package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is an open database with its dialect: what a package that keeps
// tables in it needs.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
}

// Dialect is what differs between the back ends.
type Dialect struct {
	name   string
	dollar bool // $1 placeholders instead of ?
}

var (
	// SQLite is the embedded default: pure Go, one file.
	SQLite = Dialect{name: "sqlite"}
	// Postgres serves several replicas.
	Postgres = Dialect{name: "postgres", dollar: true}
)

// Name is "sqlite" or "postgres", also the folder of a package's migrations.
func (d Dialect) Name() string { return d.name }

// Bind rewrites ? placeholders for the back end; the queries given to it
// have no ? in a literal.
func (d Dialect) Bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// OpenSQLite opens, creating if needed, the SQLite file at path. The file
// holds who looked at whom and who was admitted where: it is readable by
// this user only, and SQLite gives its -wal and -shm files the same mode.
func OpenSQLite(path string) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, errors.New("sqlite path must be non-empty and without ? or #")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create sqlite file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create sqlite file: %w", err)
	}
	// WAL lets readers work while one writer commits; busy_timeout makes a
	// second writer (or process) wait instead of failing; immediate
	// transactions take the write lock at BEGIN, so two processes migrating
	// at once queue rather than deadlock.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}

// OpenPostgres opens the PostgreSQL database at databaseURL (a libpq URL or
// key=value string); it connects on first use.
func OpenPostgres(databaseURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database_url: %w", err) // pgx's error already hides the password
	}
	return stdlib.OpenDB(*cfg), nil
}
