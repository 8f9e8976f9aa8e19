package access_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
)

// blockReads counts the block reads that reach the database.
type blockReads struct {
	*sqlstore.Store
	one, many atomic.Int64
}

func (b *blockReads) Block(ctx context.Context, p string) (access.Block, error) {
	b.one.Add(1)
	return b.Store.Block(ctx, p)
}

func (b *blockReads) Blocks(ctx context.Context, ps []string) (map[string]access.Block, error) {
	b.many.Add(1)
	return b.Store.Blocks(ctx, ps)
}

// TestDecideAll: a worklist's candidates are decided as Decide decides
// each (a blocked patient refused, without a blocked row, the others
// allowed), their blocks read in one round trip and then cached, and a
// block set since refuses at once.
func TestDecideAll(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *sqlstore.Store
	}{
		{"SQLite", func(t *testing.T) *sqlstore.Store {
			st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"PostgreSQL", func(t *testing.T) *sqlstore.Store {
			st, err := sqlstore.OpenPostgres(context.Background(), storetest.PostgresURL(t, "decideall_test_"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			st := tc.open(t)
			t.Cleanup(func() { st.Close() })
			store := &blockReads{Store: st}
			s := access.NewService(store, access.Options{Now: c.now})
			wantErr(t, "Bo blocks", s.SetBlock(ctx, bo, true), nil)
			patients := []string{anna.Handle, bo.Handle, "h-cai"}
			ds, refused, err := s.DecideAll(ctx, clinician, patients, access.ActionWorklist)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range patients {
				d, err := s.Decide(ctx, clinician, p, access.ActionWorklist, "")
				if ds[i] != d || !errors.Is(refused[i], err) || (err == nil) != (refused[i] == nil) {
					t.Errorf("DecideAll for %s = %+v, %v; Decide says %+v, %v", p, ds[i], refused[i], d, err)
				}
			}
			wantErr(t, "Bo, who blocks", refused[1], access.ErrNotVisible)
			if refused[0] != nil || refused[2] != nil || !ds[0].Restricted || ds[0].Role != access.RoleClinician {
				t.Errorf("Anna and Cai: %+v %v, %+v %v; want allowed as a clinician", ds[0], refused[0], ds[2], refused[2])
			}
			if one, many := store.one.Load(), store.many.Load(); one != 0 || many != 1 {
				t.Errorf("%d reads of one block and %d of many; want the three in one read, then cached", one, many)
			}
			for _, ev := range auditLog(t, s, bo) {
				if ev.Outcome == access.OutcomeBlocked {
					t.Errorf("a worklist that leaves Bo out wrote %+v", ev)
				}
			}
			wantErr(t, "Anna blocks", s.SetBlock(ctx, anna, true), nil)
			_, refused, err = s.DecideAll(ctx, clinician, patients, access.ActionWorklist)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, "Anna, who blocks now", refused[0], access.ErrNotVisible)
			if _, _, err := s.DecideAll(ctx, clinician, patients, access.ActionGrant); !errors.Is(err, access.ErrInvalid) {
				t.Errorf("DecideAll of a grant: %v, want ErrInvalid", err)
			}
		})
	}
}
