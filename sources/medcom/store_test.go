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
