package sqldb

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestBind(t *testing.T) {
	q := `SELECT a FROM t WHERE b = ? AND c = ?`
	if got, want := Postgres.Bind(q), `SELECT a FROM t WHERE b = $1 AND c = $2`; got != want {
		t.Errorf("Postgres.Bind = %q, want %q", got, want)
	}
	if got := SQLite.Bind(q); got != q {
		t.Errorf("SQLite.Bind = %q, want it unchanged", got)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int64
		wantErr bool
	}{
		{"ordered by number", fstest.MapFS{
			"m/0010_c.sql": {Data: []byte("c")}, "m/0002_b.sql": {Data: []byte("b")}, "m/0001_a.sql": {Data: []byte("a")},
		}, []int64{1, 2, 10}, false},
		{"no number", fstest.MapFS{"m/init.sql": {}}, nil, true},
		{"not sql", fstest.MapFS{"m/0001_a.txt": {}}, nil, true},
		{"same version", fstest.MapFS{"m/0001_a.sql": {}, "m/1_b.sql": {}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := load(tt.files, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("versions %v, want %v", got, tt.want)
			}
		})
	}
}

func openTemp(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "overblik.db")
	db, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}

func TestMigrateAppliesOnceAndRollsBackAFailure(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(openTemp(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	good := Migrations{Table: "x_migrations", Dir: "m", FS: fstest.MapFS{
		"m/sqlite/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER)")},
	}}
	now := time.Unix(1_700_000_000, 0)
	if got, err := Migrate(ctx, db, SQLite, good, now); err != nil || !slices.Equal(got, []int64{1}) {
		t.Fatalf("first Migrate = %v, %v; want [1]", got, err)
	}
	if got, err := Migrate(ctx, db, SQLite, good, now); err != nil || len(got) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", got, err)
	}
	bad := good
	bad.FS = fstest.MapFS{
		"m/sqlite/0001_a.sql":   {Data: []byte("CREATE TABLE a (x INTEGER)")},
		"m/sqlite/0002_b.sql":   {Data: []byte("CREATE TABLE b (x INTEGER)")},
		"m/sqlite/0003_bad.sql": {Data: []byte("CREATE TABLE nonsense (")},
	}
	if _, err := Migrate(ctx, db, SQLite, bad, now); err == nil || !strings.Contains(err.Error(), "0003_bad.sql") {
		t.Fatalf("Migrate: %v, want an error naming 0003_bad.sql", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table b exists (%d, %v): the failed run was not rolled back", n, err)
	}
	// A newer program's database is refused.
	older := good
	if _, err := db.Exec(`INSERT INTO x_migrations (version, applied_us) VALUES (9, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, db, SQLite, older, now); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate on a newer schema: %v, want a refusal", err)
	}
	if _, err := Migrate(ctx, db, SQLite, Migrations{Table: "x; DROP", FS: good.FS, Dir: "m"}, now); err == nil {
		t.Error("a table name with SQL in it was accepted")
	}
}

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %o, want 600", mode)
	}
	if _, err := OpenSQLite("a?b"); err == nil {
		t.Error("a path with ? was accepted")
	}
}

func TestOpenPostgresBadURLHidesThePassword(t *testing.T) {
	_, err := OpenPostgres("postgres://user:secret@127.0.0.1:5432/x?sslmode=bogus")
	if err == nil {
		t.Fatal("no error for a bad URL")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
}
