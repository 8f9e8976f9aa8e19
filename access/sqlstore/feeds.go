package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/overblik/overblik/access"
)

// Calendar feeds (access/feeds.go), in the table calendar_feeds of
// migration 0003.

const feedColumns = `id, patient, subject, roles, handle, name, lang, created_us, revoked_us`

// CreateFeed implements access.FeedStore.
func (s *Store) CreateFeed(ctx context.Context, f access.Feed, secretHash string, ev access.Event) error {
	if f.ID == "" || f.Subject == "" || f.Patient == "" || secretHash == "" {
		return fmt.Errorf("create feed: id, subject, patient and secret are required: %w", access.ErrInvalid)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.Bind(`UPDATE calendar_feeds SET revoked_us = ?
			WHERE subject = ? AND patient = ? AND revoked_us IS NULL`), f.Created.UnixMicro(), f.Subject, f.Patient); err != nil {
			return fmt.Errorf("replace feed: %w", err)
		}
		_, err := tx.ExecContext(ctx, s.d.Bind(`INSERT INTO calendar_feeds
			(id, secret_sha256, patient, subject, roles, handle, name, lang, created_us, revoked_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			f.ID, secretHash, f.Patient, f.Subject, joinRoles(f.Roles), f.Handle, f.Name, f.Lang,
			f.Created.UnixMicro(), nullMicro(f.Revoked))
		if err != nil {
			return fmt.Errorf("create feed: %w", err)
		}
		return s.insertEvent(ctx, tx, ev)
	})
}

// RevokeFeed implements access.FeedStore.
func (s *Store) RevokeFeed(ctx context.Context, subject, patient string, at time.Time, ev access.Event) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The audit row names the feed revoked.
		var id string
		err := tx.QueryRowContext(ctx, s.d.Bind(`SELECT id FROM calendar_feeds
			WHERE subject = ? AND patient = ? AND revoked_us IS NULL`), subject, patient).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return access.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("revoke feed: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.d.Bind(`UPDATE calendar_feeds SET revoked_us = ?
			WHERE id = ? AND revoked_us IS NULL`), at.UnixMicro(), id)
		if err != nil {
			return fmt.Errorf("revoke feed: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// Revoked by a concurrent request between the two statements.
			return errors.Join(access.ErrNotFound, err)
		}
		ev.Ref = id
		return s.insertEvent(ctx, tx, ev)
	})
}

// FeedBySecret implements access.FeedStore.
func (s *Store) FeedBySecret(ctx context.Context, secretHash string) (access.Feed, error) {
	row := s.db.QueryRowContext(ctx, s.d.Bind(`SELECT `+feedColumns+` FROM calendar_feeds
		WHERE secret_sha256 = ? AND revoked_us IS NULL`), secretHash)
	f, err := scanFeed(row)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Feed{}, access.ErrNotFound
	}
	if err != nil {
		return access.Feed{}, fmt.Errorf("find feed: %w", err)
	}
	return f, nil
}

// Feeds implements access.FeedStore.
func (s *Store) Feeds(ctx context.Context, subject string) ([]access.Feed, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Bind(`SELECT `+feedColumns+` FROM calendar_feeds
		WHERE subject = ? AND revoked_us IS NULL ORDER BY created_us DESC, id DESC`), subject)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	defer rows.Close()
	var out []access.Feed
	for rows.Next() {
		f, err := scanFeed(rows)
		if err != nil {
			return nil, fmt.Errorf("list feeds: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanFeed(r scanner) (access.Feed, error) {
	var f access.Feed
	var roles string
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(&f.ID, &f.Patient, &f.Subject, &roles, &f.Handle, &f.Name, &f.Lang, &created, &revoked); err != nil {
		return access.Feed{}, err
	}
	f.Roles = splitRoles(roles)
	f.Created, f.Revoked = fromMicro(created), fromNullMicro(revoked)
	return f, nil
}

// Roles are kept as one comma-separated column: they are read with the
// feed, never searched.
func joinRoles(rs []access.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func splitRoles(s string) []access.Role {
	if s == "" {
		return nil
	}
	var out []access.Role
	for _, r := range strings.Split(s, ",") {
		out = append(out, access.Role(r))
	}
	return out
}
