package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/storetest"
)

var fixedNow = func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }

func sqliteHarness() storetest.Harness {
	return storetest.Harness{
		Open: func(t *testing.T) access.Store {
			t.Helper()
			return openSQLite(t, filepath.Join(t.TempDir(), "access.db"))
		},
		Break: func(t *testing.T, s access.Store) {
			t.Helper()
			if err := s.(*Store).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		},
	}
}

func openSQLite(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, Options{Now: fixedNow})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) { storetest.Run(t, sqliteHarness()) }

func TestPostgres(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) access.Store {
			t.Helper()
			return openPostgres(t, postgresSchema(t))
		},
		Break: func(t *testing.T, s access.Store) {
			t.Helper()
			if err := s.(*Store).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		},
	})
}

func openPostgres(t *testing.T, dbURL string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), dbURL, Options{Now: fixedNow})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresSchema creates a schema of the test's own in the test database,
// drops it when the test ends, and returns a URL whose connections use it.
// The tests fail, never skip, when PostgreSQL is not there.
func postgresSchema(t *testing.T) string {
	t.Helper()
	return storetest.PostgresURL(t, "access_test_")
}

func appliedVersions(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// Several processes starting at once on a fresh database: all succeed and
// every migration is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) func() (*Store, error)
	}{
		{"sqlite", func(t *testing.T) func() (*Store, error) {
			path := filepath.Join(t.TempDir(), "access.db")
			return func() (*Store, error) { return OpenSQLite(context.Background(), path, Options{}) }
		}},
		{"postgres", func(t *testing.T) func() (*Store, error) {
			u := postgresSchema(t)
			return func() (*Store, error) { return OpenPostgres(context.Background(), u, Options{}) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := tt.open(t)
			const n = 4
			stores := make([]*Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { stores[i], errs[i] = open() })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				t.Cleanup(func() { stores[i].Close() })
			}
			ms, err := fs.ReadDir(migrationFiles, "migrations/"+stores[0].d.Name())
			if err != nil {
				t.Fatal(err)
			}
			if got := appliedVersions(t, stores[0]); len(got) != len(ms) {
				t.Errorf("applied %v, want %d migrations once each", got, len(ms))
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := access.Event{At: fixedNow(), Actor: "sub", ActorRole: access.RolePatient, Patient: "pa", Action: access.ActionView, Outcome: access.OutcomeAllowed}
	if err := s.Audit(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSQLite(t, path)
	page, err := s.AuditLog(ctx, "pa", "", 10)
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("after reopening: %+v, %v; want the one event", page, err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	s := openSQLite(t, path)
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_us) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenSQLite(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenSQLite on a newer schema: %v, want a refusal", err)
	}
}

func TestOpenPostgresBadURL(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://user:secret@127.0.0.1:5432/x?sslmode=bogus", Options{})
	if err == nil {
		t.Fatal("no error for a bad URL")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
	if errors.Is(err, access.ErrNotVisible) {
		t.Error("a configuration error looks like a refusal")
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	openSQLite(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %o, want 600", mode)
	}
	if _, err := OpenSQLite(context.Background(), "a?b", Options{}); err == nil {
		t.Error("a path with ? was accepted")
	}
}
