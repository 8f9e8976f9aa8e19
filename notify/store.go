package notify

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/overblik/overblik/internal/sqldb"
)

//go:embed migrations
var migrationFiles embed.FS

// ErrInvalid is a request that is wrong whoever asks (a bad form).
var ErrInvalid = errors.New("notify: invalid request")

// Store keeps preferences, the outbox, the events notices are worked out
// from, the worker's lease and the once-a-day runs, in tables of their own
// in access's database (SQLite or PostgreSQL), migrated with sqldb.Migrate
// and recorded in notify_schema_migrations. It shares the access store's
// connection pool: one database to back up, one SQLite file.
type Store struct {
	db *sql.DB
	d  sqldb.Dialect
}

// OpenStore migrates notify's tables in db, the database of an access store
// (sqlstore.Store.DB).
func OpenStore(ctx context.Context, db sqldb.DB, log *slog.Logger) (*Store, error) {
	m := sqldb.Migrations{FS: migrationFiles, Dir: "migrations", Table: "notify_schema_migrations"}
	applied, err := sqldb.Migrate(ctx, db.SQL, db.Dialect, m, time.Now())
	if err != nil {
		return nil, fmt.Errorf("notify store: %w", err)
	}
	if len(applied) > 0 && log != nil {
		log.InfoContext(ctx, "notify store migrated", "backend", db.Dialect.Name(), "versions", applied)
	}
	return &Store{db: db.SQL, d: db.Dialect}, nil
}

func (s *Store) bind(q string) string { return s.d.Bind(q) }

func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.bind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Preferences returns the person's preferences; ok is false when they never
// saved any.
func (s *Store) Preferences(ctx context.Context, person string) (p Preferences, ok bool, err error) {
	ps, err := s.prefs(ctx, `WHERE p.person = ?`, person)
	if err != nil || len(ps) == 0 {
		return Preferences{}, false, err
	}
	return ps[0], true, nil
}

// SetPreferences stores p, replacing what the person had.
func (s *Store) SetPreferences(ctx context.Context, p Preferences) error {
	if err := p.validate(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save preferences: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO notify_prefs
		(person, subject, name, lang, channel, address, changes, conflicts, reminders, quiet_from, quiet_to, updated_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (person) DO UPDATE SET subject = excluded.subject, name = excluded.name, lang = excluded.lang,
			channel = excluded.channel, address = excluded.address, changes = excluded.changes,
			conflicts = excluded.conflicts, reminders = excluded.reminders, quiet_from = excluded.quiet_from,
			quiet_to = excluded.quiet_to, updated_us = excluded.updated_us`),
		p.Person, p.Subject, p.Name, p.Lang, string(p.Channel), p.Address, p.Changes, p.Conflicts, p.Reminders,
		int(p.QuietFrom), int(p.QuietTo), p.Updated.UnixMicro()); err != nil {
		return fmt.Errorf("save preferences: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.bind(`DELETE FROM notify_follows WHERE person = ?`), p.Person); err != nil {
		return fmt.Errorf("save preferences: %w", err)
	}
	seen := map[string]bool{}
	for _, h := range p.Follow {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO notify_follows (person, patient) VALUES (?, ?)`), p.Person, h); err != nil {
			return fmt.Errorf("save preferences: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save preferences: %w", err)
	}
	return nil
}

// followers lists the preferences of everyone who follows patient.
func (s *Store) followers(ctx context.Context, patient string) ([]Preferences, error) {
	return s.prefs(ctx, `WHERE p.person IN (SELECT person FROM notify_follows WHERE patient = ?)`, patient)
}

// remindable lists the preferences of everyone who wants reminders and
// follows someone.
func (s *Store) remindable(ctx context.Context) ([]Preferences, error) {
	return s.prefs(ctx, `WHERE p.reminders = ? AND p.person IN (SELECT person FROM notify_follows)`, true)
}

func (s *Store) prefs(ctx context.Context, where string, args ...any) ([]Preferences, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT p.person, p.subject, p.name, p.lang, p.channel, p.address,
		p.changes, p.conflicts, p.reminders, p.quiet_from, p.quiet_to, p.updated_us, COALESCE(f.patient, '')
		FROM notify_prefs p LEFT JOIN notify_follows f ON f.person = p.person `+where+`
		ORDER BY p.person, f.patient`), args...)
	if err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	defer rows.Close()
	var out []Preferences
	for rows.Next() {
		var p Preferences
		var ch, follow string
		var from, to int
		var updated int64
		if err := rows.Scan(&p.Person, &p.Subject, &p.Name, &p.Lang, &ch, &p.Address, &p.Changes, &p.Conflicts,
			&p.Reminders, &from, &to, &updated, &follow); err != nil {
			return nil, fmt.Errorf("read preferences: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].Person == p.Person {
			out[n-1].Follow = append(out[n-1].Follow, follow)
			continue
		}
		p.Channel, p.QuietFrom, p.QuietTo, p.Updated = Channel(ch), Clock(from), Clock(to), fromMicro(updated)
		if follow != "" {
			p.Follow = []string{follow}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read preferences: %w", err)
	}
	return out, nil
}

// event is a stored build that may call for notices.
type event struct {
	Patient   string
	Version   int64
	Noticed   time.Time // when the build noticed its changes
	Changes   bool      // it recorded changes of upcoming kinds
	Conflicts []string  // ids of the new high-severity conflicts
}

// addEvent records ev unless it is recorded already.
func (s *Store) addEvent(ctx context.Context, ev event, now time.Time) error {
	cs, _ := json.Marshal(ev.Conflicts)
	if _, err := s.exec(ctx, `INSERT INTO notify_events (patient, version, noticed_us, changes, conflicts, created_us)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (patient, version) DO NOTHING`,
		ev.Patient, ev.Version, ev.Noticed.UnixMicro(), ev.Changes, string(cs), now.UnixMicro()); err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	return nil
}

// pendingEvents lists events not handled and recorded before before.
func (s *Store) pendingEvents(ctx context.Context, before time.Time, limit int) ([]event, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT patient, version, noticed_us, changes, conflicts FROM notify_events
		WHERE handled_us IS NULL AND created_us < ? ORDER BY created_us LIMIT ?`), before.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var ev event
		var noticed int64
		var cs string
		if err := rows.Scan(&ev.Patient, &ev.Version, &noticed, &ev.Changes, &cs); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		ev.Noticed = fromMicro(noticed)
		if err := json.Unmarshal([]byte(cs), &ev.Conflicts); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

func (s *Store) eventHandled(ctx context.Context, ev event, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE notify_events SET handled_us = ? WHERE patient = ? AND version = ?`,
		now.UnixMicro(), ev.Patient, ev.Version); err != nil {
		return fmt.Errorf("event handled: %w", err)
	}
	return nil
}

// States of an outbox row.
const (
	statePending = "pending"
	stateSent    = "sent"
	stateFailed  = "failed"
)

// notice is one outbox row.
type notice struct {
	ID                      int64
	Key                     string
	Patient, Ref, Recipient string
	Kind                    Kind
	Channel                 Channel
	Address, Lang           string
	Subject, Body, Link     string
	QuietFrom, QuietTo      Clock
	Created, Next           time.Time
	Attempts                int
	State, LastError        string
}

// enqueued reports whether the outbox holds a notice with key.
func (s *Store) enqueued(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.bind(`SELECT COUNT(*) FROM notify_outbox WHERE ikey = ?`), key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	return n > 0, nil
}

// enqueue writes n unless a notice for its (patient, ref, recipient, kind)
// is there already, and says whether it wrote it. It returns once committed.
func (s *Store) enqueue(ctx context.Context, n notice) (bool, error) {
	added, err := s.exec(ctx, `INSERT INTO notify_outbox (ikey, patient, ref, recipient, kind, channel, address, lang,
		subject, body, link, quiet_from, quiet_to, created_us, next_us, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		n.Key, n.Patient, n.Ref, n.Recipient, string(n.Kind), string(n.Channel), n.Address, n.Lang,
		n.Subject, n.Body, n.Link, int(n.QuietFrom), int(n.QuietTo), n.Created.UnixMicro(), n.Next.UnixMicro(), statePending)
	if err != nil {
		return false, fmt.Errorf("write outbox: %w", err)
	}
	return added > 0, nil
}

// due lists pending notices whose time has come, oldest first.
func (s *Store) due(ctx context.Context, now time.Time, limit int) ([]notice, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT id, ikey, patient, ref, recipient, kind, channel, address, lang,
		subject, body, link, quiet_from, quiet_to, created_us, next_us, attempts, state, last_error
		FROM notify_outbox WHERE state = ? AND next_us <= ? ORDER BY next_us, id LIMIT ?`),
		statePending, now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []notice
	for rows.Next() {
		var n notice
		var kind, ch string
		var from, to int
		var created, next int64
		if err := rows.Scan(&n.ID, &n.Key, &n.Patient, &n.Ref, &n.Recipient, &kind, &ch, &n.Address, &n.Lang,
			&n.Subject, &n.Body, &n.Link, &from, &to, &created, &next, &n.Attempts, &n.State, &n.LastError); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		n.Kind, n.Channel, n.QuietFrom, n.QuietTo = Kind(kind), Channel(ch), Clock(from), Clock(to)
		n.Created, n.Next = fromMicro(created), fromMicro(next)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// sent marks a notice delivered.
func (s *Store) sent(ctx context.Context, id int64, attempts int, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE notify_outbox SET state = ?, attempts = ?, last_error = '', done_us = ? WHERE id = ?`,
		stateSent, attempts, now.UnixMicro(), id); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// retry puts a notice off until next, after attempts attempts (a failed
// one, or none when quiet hours hold it back).
func (s *Store) retry(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	if _, err := s.exec(ctx, `UPDATE notify_outbox SET attempts = ?, next_us = ?, last_error = ? WHERE id = ?`,
		attempts, next.UnixMicro(), lastErr, id); err != nil {
		return fmt.Errorf("mark retry: %w", err)
	}
	return nil
}

// failed gives a notice up.
func (s *Store) failed(ctx context.Context, id int64, attempts int, lastErr string, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE notify_outbox SET state = ?, attempts = ?, last_error = ?, done_us = ? WHERE id = ?`,
		stateFailed, attempts, lastErr, now.UnixMicro(), id); err != nil {
		return fmt.Errorf("mark failed: %w", err)
	}
	return nil
}

// Failed is a notice given up on, as the admin page shows it: no address,
// no patient, nothing of what it said.
type Failed struct {
	Key      string // its idempotency key, also the receiver's
	Kind     Kind
	Channel  Channel
	Attempts int
	Created  time.Time
	GaveUp   time.Time
	Error    string // the last attempt's, with the address taken out
}

// Failed lists the notices given up on, newest first, at most limit.
func (s *Store) Failed(ctx context.Context, limit int) ([]Failed, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT ikey, kind, channel, attempts, created_us, COALESCE(done_us, 0), last_error
		FROM notify_outbox WHERE state = ? ORDER BY done_us DESC, id DESC LIMIT ?`), stateFailed, limit)
	if err != nil {
		return nil, fmt.Errorf("read failed notices: %w", err)
	}
	defer rows.Close()
	var out []Failed
	for rows.Next() {
		var f Failed
		var kind, ch string
		var created, done int64
		if err := rows.Scan(&f.Key, &kind, &ch, &f.Attempts, &created, &done, &f.Error); err != nil {
			return nil, fmt.Errorf("read failed notices: %w", err)
		}
		f.Kind, f.Channel, f.Created, f.GaveUp = Kind(kind), Channel(ch), fromMicro(created), fromMicro(done)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read failed notices: %w", err)
	}
	return out, nil
}

// Outbox counts the notices per state, for tests and the admin page.
func (s *Store) Outbox(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM notify_outbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count outbox: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// acquireLease takes or renews the lease name for holder until until; it
// says whether holder has it.
func (s *Store) acquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	n, err := s.exec(ctx, `UPDATE notify_leases SET holder = ?, until_us = ? WHERE name = ? AND (holder = ? OR until_us < ?)`,
		holder, until.UnixMicro(), name, holder, now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	n, err = s.exec(ctx, `INSERT INTO notify_leases (name, holder, until_us) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, holder, until.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	return n > 0, nil
}

// releaseLease gives the lease up, if holder has it.
func (s *Store) releaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, `DELETE FROM notify_leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// ran reports whether the run name was done.
func (s *Store) ran(ctx context.Context, name string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.bind(`SELECT COUNT(*) FROM notify_runs WHERE name = ?`), name).Scan(&n); err != nil {
		return false, fmt.Errorf("read runs: %w", err)
	}
	return n > 0, nil
}

func (s *Store) markRun(ctx context.Context, name string, now time.Time) error {
	if _, err := s.exec(ctx, `INSERT INTO notify_runs (name, done_us) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, now.UnixMicro()); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return nil
}

// forget deletes what is no longer needed before: delivered and failed
// notices, handled events and old runs.
func (s *Store) forget(ctx context.Context, before time.Time) error {
	us := before.UnixMicro()
	for _, q := range []string{
		`DELETE FROM notify_outbox WHERE state <> 'pending' AND done_us < ?`,
		`DELETE FROM notify_events WHERE handled_us < ?`,
		`DELETE FROM notify_runs WHERE done_us < ?`,
	} {
		if _, err := s.exec(ctx, q, us); err != nil {
			return fmt.Errorf("forget old notices: %w", err)
		}
	}
	return nil
}

func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }
