package medcom

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store keeps the notifications received, durably, in SQLite or PostgreSQL:
// the same database as access control's, in tables of its own
// (medcom_messages, and medcom_schema_migrations for its migrations). It
// holds patient handles, never CPR numbers.
type Store struct {
	db *sql.DB
	d  dialect
}

// dialect is what differs between the back ends.
type dialect struct {
	name   string
	dollar bool   // $1 placeholders instead of ?
	lock   string // run first in the migration transaction
}

var (
	sqlite   = dialect{name: "sqlite"}
	postgres = dialect{name: "postgres", dollar: true,
		lock: `SELECT pg_advisory_xact_lock(hashtext('overblik medcom migrations'))`}
)

// bind rewrites ? placeholders for the back end; no query here has ? in a literal.
func (d dialect) bind(q string) string {
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

//go:embed migrations
var migrationFiles embed.FS

// OpenSQLite opens (creating if needed) the SQLite file at path, which may
// be access control's database file, and migrates it.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, errors.New("medcom store: SQLite path must be non-empty and without ? or #")
	}
	// Readable by this user only: it tells who was admitted where.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("medcom store: create sqlite file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("medcom store: create sqlite file: %w", err)
	}
	// As access/sqlstore opens the same file: WAL, a writer waits for
	// another (busy_timeout), and transactions take the write lock first.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("medcom store: open sqlite: %w", err)
	}
	return open(ctx, db, sqlite)
}

// OpenPostgres connects to the PostgreSQL database at databaseURL and
// migrates it.
func OpenPostgres(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("medcom store: database_url: %w", err) // pgx hides the password
	}
	return open(ctx, stdlib.OpenDB(*cfg), postgres)
}

func open(ctx context.Context, db *sql.DB, d dialect) (*Store, error) {
	if err := migrate(ctx, db, d, time.Now()); err != nil {
		return nil, errors.Join(fmt.Errorf("medcom store: %s: %w", d.name, err), db.Close())
	}
	return &Store{db: db, d: d}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("medcom store: ping %s: %w", s.d.name, err)
	}
	return nil
}

// Saved is what Save did with a message.
type Saved int

const (
	// Stored: the message is new and now kept; apply it.
	Stored Saved = iota
	// Resent: a message with its MessageHeader id is kept already; answer
	// with the acknowledgement it got then, and apply nothing.
	Resent
	// BundleReused: its Bundle id belongs to another message, which MedCom's
	// reliable messaging forbids; refuse it.
	BundleReused
)

// storedFacts is the stored form of Facts, versioned.
type storedFacts struct {
	V int `json:"v"`
	Facts
}

// Save keeps message m of source for patient (a handle) with the
// acknowledgement ack, unless it has it already: then it returns the
// acknowledgement kept with it. A message is kept once however often or
// concurrently it is sent.
func (s *Store) Save(ctx context.Context, source, patient string, m *Message, ack []byte, now time.Time) (Saved, []byte, error) {
	facts, err := json.Marshal(storedFacts{V: 1, Facts: m.Facts})
	if err != nil {
		return 0, nil, fmt.Errorf("medcom store: encode facts: %w", err)
	}
	// ON CONFLICT DO NOTHING means the same in SQLite and PostgreSQL: on
	// either key, the row kept first stays.
	res, err := s.db.ExecContext(ctx, s.d.bind(`INSERT INTO medcom_messages
		(source, header_id, bundle_id, patient, occurred_us, sent_us, received_us, facts, ack)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		source, m.HeaderID, m.BundleID, patient, m.Facts.Occurred.UnixMicro(), m.Facts.Sent.UnixMicro(), now.UnixMicro(),
		string(facts), string(ack))
	if err != nil {
		return 0, nil, fmt.Errorf("medcom store: save message: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, nil, fmt.Errorf("medcom store: save message: %w", err)
	}
	if n == 1 {
		return Stored, nil, nil
	}
	var kept string
	err = s.db.QueryRowContext(ctx, s.d.bind(`SELECT ack FROM medcom_messages WHERE source = ? AND header_id = ?`),
		source, m.HeaderID).Scan(&kept)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return BundleReused, nil, nil
	case err != nil:
		return 0, nil, fmt.Errorf("medcom store: read kept message: %w", err)
	}
	return Resent, []byte(kept), nil
}

// Notifications returns what source told about patient (a handle), in the
// order the activities happened.
func (s *Store) Notifications(ctx context.Context, source, patient string) ([]Facts, error) {
	rows, err := s.db.QueryContext(ctx, s.d.bind(`SELECT header_id, facts FROM medcom_messages
		WHERE source = ? AND patient = ? ORDER BY occurred_us, sent_us, header_id`), source, patient)
	if err != nil {
		return nil, fmt.Errorf("medcom store: read notifications: %w", err)
	}
	defer rows.Close()
	var out []Facts
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("medcom store: read notifications: %w", err)
		}
		var sf storedFacts
		if err := json.Unmarshal([]byte(raw), &sf); err != nil {
			return nil, fmt.Errorf("medcom store: notification %s: %w", id, err)
		}
		if sf.V != 1 {
			return nil, fmt.Errorf("medcom store: notification %s has facts of version %d, this program reads 1", id, sf.V)
		}
		sf.Facts.HeaderID = id
		out = append(out, sf.Facts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("medcom store: read notifications: %w", err)
	}
	return out, nil
}

// migrate applies the embedded migrations for d missing from db, in one
// transaction, as access/sqlstore does for its own tables (which a source
// package may not import): under PostgreSQL's advisory lock or SQLite's
// immediate transaction, a second process starting at once waits and then
// finds them applied.
func migrate(ctx context.Context, db *sql.DB, d dialect, now time.Time) (err error) {
	dir := "migrations/" + d.name
	ents, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	type migration struct {
		version int64
		sql     string
	}
	var ms []migration
	for _, e := range ents {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v < 1 || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{v, string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if d.lock != "" {
		if _, err := tx.ExecContext(ctx, d.lock); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS medcom_schema_migrations (
		version    BIGINT PRIMARY KEY,
		applied_us BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create medcom_schema_migrations: %w", err)
	}
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM medcom_schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("read medcom_schema_migrations: %w", err)
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].version {
		return fmt.Errorf("schema version %d is newer than this program's %d", newest, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if m.version <= newest {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
		if _, err := tx.ExecContext(ctx, d.bind(`INSERT INTO medcom_schema_migrations (version, applied_us) VALUES (?, ?)`),
			m.version, now.UnixMicro()); err != nil {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}
