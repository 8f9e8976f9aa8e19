// Package sqlstore keeps access control's delegations, blocks and audit log in
// SQLite (the embedded default: pure Go, one file) or PostgreSQL (several
// replicas). Both run the same queries through database/sql; only
// placeholders, the migration lock and the schema's types differ, and each
// backend's schema is a series of embedded, versioned migrations applied at
// Open.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/internal/sqldb"
)

// Store implements access.Store.
type Store struct {
	db  *sql.DB
	d   sqldb.Dialect
	log *slog.Logger
}

var (
	_ access.Store        = (*Store)(nil)
	_ access.BlocksReader = (*Store)(nil)
)

//go:embed migrations
var migrationFiles embed.FS

// migrations are access's schema; the lock keeps the name it always had, so
// an older replica starting beside a newer one still waits for it.
var migrations = sqldb.Migrations{FS: migrationFiles, Dir: "migrations", Table: "schema_migrations",
	Lock: "overblik access migrations"}

// Options are optional; the zero value logs nothing and uses the wall clock
// for the migration records.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// MaxOpenConns and MaxIdleConns size the connection pool; default
	// DefaultMaxConns each. database/sql keeps only 2 idle connections
	// unless told otherwise, so under load most requests would open a new
	// PostgreSQL connection; idle should equal open.
	MaxOpenConns, MaxIdleConns int
}

// DefaultMaxConns is the pool size when Options leave it zero: enough for
// the group-committed audit, the decisions that miss their cache and the
// pages that list grants, on one replica.
const DefaultMaxConns = 16

// OpenSQLite opens (creating if needed) the SQLite database file at path and
// migrates it.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return open(ctx, db, sqldb.SQLite, opts)
}

// OpenPostgres connects to the PostgreSQL database at databaseURL (a libpq
// URL or key=value string) and migrates it.
func OpenPostgres(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	db, err := sqldb.OpenPostgres(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return open(ctx, db, sqldb.Postgres, opts)
}

func open(ctx context.Context, db *sql.DB, d sqldb.Dialect, opts Options) (*Store, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = DefaultMaxConns
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = opts.MaxOpenConns
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(min(opts.MaxIdleConns, opts.MaxOpenConns))
	s := &Store{db: db, d: d, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	applied, err := sqldb.Migrate(ctx, db, d, migrations, now())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlstore: %s: %w", d.Name(), err), db.Close())
	}
	if len(applied) > 0 {
		s.log.InfoContext(ctx, "access store migrated", "backend", d.Name(), "versions", applied)
	}
	return s, nil
}

// DB is the store's database and its dialect, for a package that keeps
// tables of its own beside access's (migrated with sqldb.Migrate) and
// shares the pool.
func (s *Store) DB() sqldb.DB { return sqldb.DB{SQL: s.db, Dialect: s.d} }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping %s: %w", s.d.Name(), err)
	}
	return nil
}

const insertEvent = `INSERT INTO audit_events
	(at_us, actor, actor_role, actor_name, actor_org, actor_handle, patient, action, reason, outcome, ref)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) insertEvent(ctx context.Context, x execer, ev access.Event) error {
	_, err := x.ExecContext(ctx, s.d.Bind(insertEvent), eventArgs(ev)...)
	if err != nil {
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// eventArgs are ev's values in insertEvent's order.
func eventArgs(ev access.Event) []any {
	return []any{ev.At.UnixMicro(), ev.Actor, string(ev.ActorRole), ev.ActorName, ev.ActorOrg, ev.ActorHandle,
		ev.Patient, string(ev.Action), ev.Reason, string(ev.Outcome), ev.Ref}
}

// Audit implements access.Store.
func (s *Store) Audit(ctx context.Context, ev access.Event) error {
	return s.insertEvent(ctx, s.db, ev)
}

// maxBatch bounds the rows of one AuditBatch statement: 11 parameters a row
// stay far below both backends' limits (SQLite 32766, PostgreSQL 65535).
const maxBatch = 1000

// AuditBatch implements access.Store: one multi-row INSERT, so one commit,
// for every row; all or none are written.
func (s *Store) AuditBatch(ctx context.Context, evs []access.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if len(evs) > maxBatch {
		return fmt.Errorf("write audit events: %d rows in one batch, at most %d: %w", len(evs), maxBatch, access.ErrInvalid)
	}
	var q strings.Builder
	head, row, _ := strings.Cut(insertEvent, "VALUES")
	q.WriteString(head + "VALUES ")
	row = strings.TrimSpace(row)
	args := make([]any, 0, 11*len(evs))
	for i, ev := range evs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
		args = append(args, eventArgs(ev)...)
	}
	if _, err := s.db.ExecContext(ctx, s.d.Bind(q.String()), args...); err != nil {
		return fmt.Errorf("write %d audit events: %w", len(evs), err)
	}
	return nil
}

// LookedUp implements access.Store.
func (s *Store) LookedUp(ctx context.Context, actor string, since time.Time, limit int) ([]string, error) {
	if actor == "" || limit < 1 {
		return nil, fmt.Errorf("looked up: actor %q, limit %d: %w", actor, limit, access.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, s.d.Bind(`SELECT patient FROM audit_events
		WHERE actor = ? AND at_us >= ? AND action IN (?, ?) AND outcome = ?
		GROUP BY patient ORDER BY MAX(at_us) DESC LIMIT ?`),
		actor, since.UnixMicro(), string(access.ActionLookup), string(access.ActionView), string(access.OutcomeAllowed), limit)
	if err != nil {
		return nil, fmt.Errorf("looked up: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("looked up: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looked up: %w", err)
	}
	return out, nil
}

// inTx runs f in a transaction and commits it; the audit row and the change
// it records stand or fall together.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// cursor is the position after the last event of a page: (at, id), since the
// log is ordered by time and rows written in the same microsecond by id.
func encodeCursor(ev access.Event) string {
	return strconv.FormatInt(ev.At.UnixMicro(), 36) + "." + strconv.FormatInt(ev.ID, 36)
}

func decodeCursor(c string) (atUS, id int64, err error) {
	a, b, ok := strings.Cut(c, ".")
	if ok {
		atUS, err = strconv.ParseInt(a, 36, 64)
		if err == nil {
			id, err = strconv.ParseInt(b, 36, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("bad audit log cursor: %w", access.ErrInvalid)
	}
	return atUS, id, nil
}

// AuditLog implements access.Store.
func (s *Store) AuditLog(ctx context.Context, patient, cursor string, limit int) (access.AuditPage, error) {
	return s.auditLog(ctx, patient, "", cursor, limit)
}

// AuditLogWithoutReadsBy implements access.Store.
func (s *Store) AuditLogWithoutReadsBy(ctx context.Context, patient, reader, cursor string, limit int) (access.AuditPage, error) {
	if reader == "" {
		// Programs have no handle: "" would hide every API key's reads.
		return access.AuditPage{}, fmt.Errorf("audit log without the reads of nobody: %w", access.ErrInvalid)
	}
	return s.auditLog(ctx, patient, reader, cursor, limit)
}

// auditLog pages through patient's log, without the reads whose actor has
// the handle reader when reader is set.
func (s *Store) auditLog(ctx context.Context, patient, reader, cursor string, limit int) (access.AuditPage, error) {
	if limit < 1 {
		return access.AuditPage{}, fmt.Errorf("audit log limit %d: %w", limit, access.ErrInvalid)
	}
	q := `SELECT id, at_us, actor, actor_role, actor_name, actor_org, actor_handle, patient, action, reason, outcome, ref
		FROM audit_events WHERE patient = ?`
	args := []any{patient}
	if reader != "" {
		reads := access.ReadActions()
		q += ` AND NOT (actor_handle = ? AND action IN (?` + strings.Repeat(", ?", len(reads)-1) + `))`
		args = append(args, reader)
		for _, a := range reads {
			args = append(args, string(a))
		}
	}
	if cursor != "" {
		atUS, id, err := decodeCursor(cursor)
		if err != nil {
			return access.AuditPage{}, err
		}
		q += ` AND (at_us < ? OR (at_us = ? AND id < ?))`
		args = append(args, atUS, atUS, id)
	}
	q += ` ORDER BY at_us DESC, id DESC LIMIT ?`
	args = append(args, limit+1) // one more tells whether there is a next page
	rows, err := s.db.QueryContext(ctx, s.d.Bind(q), args...)
	if err != nil {
		return access.AuditPage{}, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var page access.AuditPage
	for rows.Next() {
		var ev access.Event
		var atUS int64
		var role, action, outcome string
		if err := rows.Scan(&ev.ID, &atUS, &ev.Actor, &role, &ev.ActorName, &ev.ActorOrg, &ev.ActorHandle, &ev.Patient,
			&action, &ev.Reason, &outcome, &ev.Ref); err != nil {
			return access.AuditPage{}, fmt.Errorf("read audit log: %w", err)
		}
		ev.At = fromMicro(atUS)
		ev.ActorRole, ev.Action, ev.Outcome = access.Role(role), access.Action(action), access.Outcome(outcome)
		page.Events = append(page.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return access.AuditPage{}, fmt.Errorf("read audit log: %w", err)
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		page.Next = encodeCursor(page.Events[limit-1])
	}
	return page, nil
}

// CreateDelegation implements access.Store. SQLite's transactions take the
// write lock at BEGIN (sqldb), so two of them check one after the other; on
// PostgreSQL a lock on the pair does the same, without blocking grants
// between other people.
func (s *Store) CreateDelegation(ctx context.Context, d access.Delegation, ev access.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d == sqldb.Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`,
				"overblik delegation "+d.Patient+" "+d.Grantee); err != nil {
				return fmt.Errorf("create delegation: lock: %w", err)
			}
		}
		var n int
		err := tx.QueryRowContext(ctx, s.d.Bind(`SELECT COUNT(*) FROM delegations
			WHERE patient = ? AND grantee = ? AND revoked_us IS NULL AND (until_us IS NULL OR until_us > ?)`),
			d.Patient, d.Grantee, d.Created.UnixMicro()).Scan(&n)
		if err != nil {
			return fmt.Errorf("create delegation: %w", err)
		}
		if n > 0 {
			return access.ErrAlreadyGranted
		}
		_, err = tx.ExecContext(ctx, s.d.Bind(`INSERT INTO delegations
			(id, patient, grantee, label, patient_name, grantee_masked, grantee_name, include_restricted, created_us, until_us, revoked_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			d.ID, d.Patient, d.Grantee, d.Label, d.PatientName, d.GranteeMasked, d.GranteeName, d.IncludeRestricted,
			d.Created.UnixMicro(), nullMicro(d.Until), nullMicro(d.Revoked))
		if err != nil {
			return fmt.Errorf("create delegation: %w", err)
		}
		return s.insertEvent(ctx, tx, ev)
	})
}

// SetGranteeName implements access.Store.
func (s *Store) SetGranteeName(ctx context.Context, grantee, name string) error {
	if grantee == "" {
		return fmt.Errorf("set grantee name: no grantee: %w", access.ErrInvalid)
	}
	// Only rows whose name differs: a login is no reason to rewrite them.
	if _, err := s.db.ExecContext(ctx, s.d.Bind(`UPDATE delegations SET grantee_name = ?
		WHERE grantee = ? AND grantee_name <> ?`), name, grantee, name); err != nil {
		return fmt.Errorf("set grantee name: %w", err)
	}
	return nil
}

// RevokeDelegation implements access.Store.
func (s *Store) RevokeDelegation(ctx context.Context, patient, id string, at time.Time, ev access.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.Bind(`UPDATE delegations SET revoked_us = ?
			WHERE id = ? AND patient = ? AND revoked_us IS NULL`), at.UnixMicro(), id, patient)
		if err != nil {
			return fmt.Errorf("revoke delegation: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("revoke delegation: %w", err)
		}
		if n == 0 {
			return access.ErrNotFound
		}
		return s.insertEvent(ctx, tx, ev)
	})
}

// Delegations implements access.Store.
func (s *Store) Delegations(ctx context.Context, patient, grantee string) ([]access.Delegation, error) {
	var where []string
	var args []any
	if patient != "" {
		where, args = append(where, "patient = ?"), append(args, patient)
	}
	if grantee != "" {
		where, args = append(where, "grantee = ?"), append(args, grantee)
	}
	if len(where) == 0 {
		return nil, fmt.Errorf("list delegations: neither patient nor grantee: %w", access.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, s.d.Bind(`SELECT id, patient, grantee, label, patient_name, grantee_masked, grantee_name, include_restricted,
		created_us, until_us, revoked_us FROM delegations WHERE `+strings.Join(where, " AND ")+`
		ORDER BY created_us DESC, id DESC`), args...)
	if err != nil {
		return nil, fmt.Errorf("list delegations: %w", err)
	}
	defer rows.Close()
	var ds []access.Delegation
	for rows.Next() {
		var d access.Delegation
		var created int64
		var until, revoked sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Patient, &d.Grantee, &d.Label, &d.PatientName, &d.GranteeMasked, &d.GranteeName, &d.IncludeRestricted,
			&created, &until, &revoked); err != nil {
			return nil, fmt.Errorf("list delegations: %w", err)
		}
		d.Created, d.Until, d.Revoked = fromMicro(created), fromNullMicro(until), fromNullMicro(revoked)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list delegations: %w", err)
	}
	return ds, nil
}

// SetBlock implements access.Store.
func (s *Store) SetBlock(ctx context.Context, patient string, blocked bool, at time.Time, ev access.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// ON CONFLICT ... excluded is the same in SQLite (3.24+) and PostgreSQL.
		_, err := tx.ExecContext(ctx, s.d.Bind(`INSERT INTO blocks (patient, blocked, since_us) VALUES (?, ?, ?)
			ON CONFLICT (patient) DO UPDATE SET blocked = excluded.blocked, since_us = excluded.since_us`),
			patient, blocked, at.UnixMicro())
		if err != nil {
			return fmt.Errorf("set block: %w", err)
		}
		return s.insertEvent(ctx, tx, ev)
	})
}

// Block implements access.Store.
func (s *Store) Block(ctx context.Context, patient string) (access.Block, error) {
	var b access.Block
	var since int64
	err := s.db.QueryRowContext(ctx, s.d.Bind(`SELECT blocked, since_us FROM blocks WHERE patient = ?`), patient).
		Scan(&b.Blocked, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Block{}, nil
	}
	if err != nil {
		return access.Block{}, fmt.Errorf("read block: %w", err)
	}
	b.Since = fromMicro(since)
	return b, nil
}

// maxBlockPatients bounds the patients of one Blocks statement, far below
// both backends' parameter limits; more are read in several.
const maxBlockPatients = 500

// Blocks implements access.BlocksReader.
func (s *Store) Blocks(ctx context.Context, patients []string) (map[string]access.Block, error) {
	out := make(map[string]access.Block, len(patients))
	patients = slices.Compact(slices.Sorted(slices.Values(patients)))
	for len(patients) > 0 {
		n := min(len(patients), maxBlockPatients)
		part := patients[:n]
		patients = patients[n:]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p
		}
		q := `SELECT patient, blocked, since_us FROM blocks WHERE patient IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + `)`
		rows, err := s.db.QueryContext(ctx, s.d.Bind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("read blocks: %w", err)
		}
		for rows.Next() {
			var patient string
			var b access.Block
			var since int64
			if err := rows.Scan(&patient, &b.Blocked, &since); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read blocks: %w", err)
			}
			b.Since = fromMicro(since)
			out[patient] = b
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read blocks: %w", err)
		}
	}
	return out, nil
}

func nullMicro(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicro(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicro(n.Int64)
}
