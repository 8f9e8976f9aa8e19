package medcom

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/overblik/overblik/internal/sqldb"
)

// Store keeps the notifications received, durably, in access control's
// database (SQLite or PostgreSQL), on its pool, in tables of its own
// (medcom_messages, and medcom_schema_migrations for its migrations). It
// holds patient handles, never CPR numbers.
type Store struct {
	db *sql.DB
	d  sqldb.Dialect
}

//go:embed migrations
var migrationFiles embed.FS

// OpenStore migrates the message tables in db, the database of an access
// store (sqlstore.Store.DB), whose owner closes it.
func OpenStore(ctx context.Context, db sqldb.DB) (*Store, error) {
	m := sqldb.Migrations{FS: migrationFiles, Dir: "migrations", Table: "medcom_schema_migrations",
		Lock: "overblik medcom migrations"}
	if _, err := sqldb.Migrate(ctx, db.SQL, db.Dialect, m, time.Now()); err != nil {
		return nil, fmt.Errorf("medcom store: %s: %w", db.Dialect.Name(), err)
	}
	return &Store{db: db.SQL, d: db.Dialect}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("medcom store: ping %s: %w", s.d.Name(), err)
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
	res, err := s.db.ExecContext(ctx, s.d.Bind(`INSERT INTO medcom_messages
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
	err = s.db.QueryRowContext(ctx, s.d.Bind(`SELECT ack FROM medcom_messages WHERE source = ? AND header_id = ?`),
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
	rows, err := s.db.QueryContext(ctx, s.d.Bind(`SELECT header_id, facts FROM medcom_messages
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

// Prune deletes the messages of every patient whose newest message
// happened before before: a stay nobody has told us about since is long
// over, and keeping who was admitted where longer than needed is keeping
// health data for nothing. It returns the messages deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.d.Bind(`DELETE FROM medcom_messages WHERE (source, patient) IN (
		SELECT source, patient FROM medcom_messages GROUP BY source, patient HAVING MAX(occurred_us) < ?)`),
		before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("medcom store: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("medcom store: prune: %w", err)
	}
	return n, nil
}
