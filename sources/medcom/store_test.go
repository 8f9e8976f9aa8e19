package medcom

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access/storetest"
)

// TestStoreMigrations: a second process opening the database finds its
// tables and messages, and a database a newer program migrated is refused
// rather than misread.
func TestStoreMigrations(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) func() (*Store, error){
		"sqlite": func(t *testing.T) func() (*Store, error) {
			path := filepath.Join(t.TempDir(), "overblik.db")
			return func() (*Store, error) { return OpenStore(ctx, openSQLite(t, path)) }
		},
		"postgres": func(t *testing.T) func() (*Store, error) {
			url := storetest.PostgresURL(t, "medcom_migrate_")
			return func() (*Store, error) { return OpenStore(ctx, openPostgres(t, url)) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			reopen := open(t)
			first, err := reopen()
			if err != nil {
				t.Fatal(err)
			}
			m, perr := Parse(exampleBytes(t, exAdmit))
			if perr != nil {
				t.Fatal(perr)
			}
			if saved, _, err := first.Save(ctx, sender, "h", m, []byte("{}"), time.Now()); err != nil || saved != Stored {
				t.Fatalf("save: %v %v", saved, err)
			}
			second, err := reopen()
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if ns, err := second.Notifications(ctx, sender, "h"); err != nil || len(ns) != 1 || ns[0].HeaderID != m.HeaderID {
				t.Fatalf("after reopening: %v %v", ns, err)
			}
			if _, err := first.db.Exec(`INSERT INTO medcom_schema_migrations (version, applied_us) VALUES (99, 0)`); err != nil {
				t.Fatal(err)
			}
			if _, err := reopen(); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Errorf("a newer schema: %v, want it refused", err)
			}
		})
	}
}

// TestPrune: a patient's messages go once the newest of them is older than
// the cut-off, and not one of a patient still being told about.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			m, perr := Parse(exampleBytes(t, exAdmit))
			if perr != nil {
				t.Fatal(perr)
			}
			now := time.Now()
			save := func(patient, header string, occurred time.Time) {
				t.Helper()
				c := *m
				c.HeaderID, c.BundleID, c.Facts.Occurred = header, "b-"+header, occurred
				if saved, _, err := s.Save(ctx, sender, patient, &c, []byte("{}"), now); err != nil || saved != Stored {
					t.Fatalf("save %s: %v %v", header, saved, err)
				}
			}
			year := 365 * 24 * time.Hour
			save("old", "h1", now.Add(-3*year))
			save("old", "h2", now.Add(-2*year))
			save("current", "h3", now.Add(-2*year))    // admitted long ago,
			save("current", "h4", now.Add(-time.Hour)) // and told about today
			n, err := s.Prune(ctx, now.Add(-year))
			if err != nil || n != 2 {
				t.Fatalf("Prune = %d, %v; want the old patient's 2 messages", n, err)
			}
			if ns, err := s.Notifications(ctx, sender, "old"); err != nil || len(ns) != 0 {
				t.Errorf("old patient: %d messages left (%v), want none", len(ns), err)
			}
			if ns, err := s.Notifications(ctx, sender, "current"); err != nil || len(ns) != 2 {
				t.Errorf("current patient: %d messages (%v), want both kept", len(ns), err)
			}
		})
	}
}
