package view_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/rediscache"
	"github.com/overblik/overblik/view"
)

// wholeTimelines reads each cached timeline whole, as the worklist did
// before it read conflicts only: Timelines without CachedConflicts.
type wholeTimelines struct{ view.Timelines }

// notRestricted decides as the access service does, but as for a viewer
// who may not see restricted entries.
type notRestricted struct{ *access.Service }

func (n notRestricted) Decide(ctx context.Context, p access.Principal, h string, a access.Action, reason string) (access.Decision, error) {
	d, err := n.Service.Decide(ctx, p, h, a, reason)
	d.Restricted = false
	return d, err
}

func (n notRestricted) DecideAll(ctx context.Context, p access.Principal, hs []string, a access.Action) ([]access.Decision, []error, error) {
	ds, refused, err := n.Service.DecideAll(ctx, p, hs, a)
	for i := range ds {
		ds[i].Restricted = false
	}
	return ds, refused, err
}

// redisWorklist is a worklist's world on the real Redis, as serve wires it
// (rediscache.NewBackend), and on SQLite for access control.
type redisWorklist struct {
	*env
	client redis.UniversalClient
	svc    *aggregator.Service
	acc    *access.Service
	prefix string
}

func newRedisWorklist(t *testing.T) *redisWorklist {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	rdb, err := rediscache.NewClient("redis://127.0.0.1:6379/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("this test needs the real Redis on 127.0.0.1:6379: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "overblik-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(context.Background(), keys...).Err()
		}
	})
	be, err := rediscache.NewBackend(rdb, rediscache.Options{Prefix: prefix}, rediscache.FallbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	loc, _ := time.LoadLocation("Europe/Copenhagen")
	svc, err := aggregator.New([]aggregator.Registration{{Source: e.hosp, Display: "Aarhus Universitetshospital"}, {Source: e.kom, Display: "Aarhus Kommune"}},
		be.Backend, aggregator.Options{Now: func() time.Time { return e.now }, Location: loc, FreshFor: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "worklist.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acc := access.NewService(st, access.Options{Now: func() time.Time { return e.now }})
	return &redisWorklist{env: e, client: rdb, svc: svc, acc: acc, prefix: prefix}
}

func (w *redisWorklist) worklist(t *testing.T, tl view.Timelines, acc view.Access, idx view.Conflicted) []*view.View {
	t.Helper()
	views := view.New(tl, w.pats, view.Options{Access: acc, Conflicted: idx, ByOrganization: true, Now: func() time.Time { return w.now }})
	kim := access.Principal{Subject: "sub-kim", Roles: []access.Role{access.RoleClinician}, Organization: "kom"}
	list, err := views.Worklist(context.Background(), kim, "2026-12-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func conflictIDs(v *view.View) []string {
	var ids []string
	for _, c := range v.Timeline.Conflicts {
		ids = append(ids, c.ID)
	}
	return ids
}

func entryIDs(v *view.View) []string {
	var ids []string
	for _, e := range v.Timeline.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestWorklistFromStoredConflicts: on Redis the worklist reads each
// patient's stored conflicts instead of the whole timeline, and shows
// what it showed from the whole one: to a clinician, the same patients and
// conflicts, one of them with a restricted entry; to a viewer who may not
// see restricted entries, exactly the same views as before, without that
// conflict. A timeline stored without its conflicts (an older release)
// still shows, and only the patients shown are audited.
func TestWorklistFromStoredConflicts(t *testing.T) {
	ctx := context.Background()
	w := newRedisWorklist(t)
	x := entry(w.hosp, "x", "Psykiatri", at(5, 10, 0), 60, true) // restricted, overlaps y
	y := entry(w.kom, "y", "Hjemmepleje", at(5, 10, 30), 30, false)
	z := entry(w.hosp, "z", "Kontrol", at(9, 10, 0), 60, false) // overlaps v
	v := entry(w.kom, "v", "Hjemmepleje", at(9, 10, 15), 30, false)
	far := entry(w.hosp, "far", "Røntgen", at(20, 8, 0), 15, false) // in no conflict
	bo, _ := w.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3102380127"})
	dan, _ := w.pats.Register(ctx, aggregator.Identifier{System: cprSystem, Value: "3102450133"})
	cai := w.pats.Handle(aggregator.Identifier{System: cprSystem, Value: "0101500133"}) // never built
	for _, p := range []struct {
		ref       aggregator.PatientRef
		hosp, kom []aggregator.Entry
	}{
		{w.annaRef, []aggregator.Entry{x, z, far}, []aggregator.Entry{y, v}},
		{bo, []aggregator.Entry{z, far}, []aggregator.Entry{v}},
		{dan, []aggregator.Entry{far}, []aggregator.Entry{v}}, // no conflict
	} {
		w.hosp.set(p.hosp...)
		w.kom.set(p.kom...)
		if _, err := w.svc.Refresh(ctx, p.ref); err != nil {
			t.Fatal(err)
		}
	}
	// The index may name a patient without a conflict or not cached.
	idx := staleIndex{index: w.svc, extra: []string{dan.Handle, cai}}
	anna, bob := w.annaRef.Handle, bo.Handle
	xID := x.ID

	// sameLists compares, of each view, the entries too for the patients
	// in entriesOf: the others may be shown only the entries their
	// conflicts name.
	sameLists := func(t *testing.T, got, want []*view.View, entriesOf ...string) {
		t.Helper()
		if !slices.Equal(handles(got), handles(want)) {
			t.Fatalf("worklist shows %v, before %v", handles(got), handles(want))
		}
		for i := range got {
			if !slices.Equal(conflictIDs(got[i]), conflictIDs(want[i])) {
				t.Errorf("%s: conflicts %v, before %v", got[i].Patient.Handle, conflictIDs(got[i]), conflictIDs(want[i]))
			}
			if slices.Contains(entriesOf, got[i].Patient.Handle) && !slices.Equal(entryIDs(got[i]), entryIDs(want[i])) {
				t.Errorf("%s: entries %v, before %v", got[i].Patient.Handle, entryIDs(got[i]), entryIDs(want[i]))
			}
			if got[i].Decision != want[i].Decision || got[i].Patient != want[i].Patient || got[i].Name != want[i].Name {
				t.Errorf("%s: %+v %+v %q, before %+v %+v %q", got[i].Patient.Handle, got[i].Decision, got[i].Patient, got[i].Name,
					want[i].Decision, want[i].Patient, want[i].Name)
			}
			for _, c := range got[i].Timeline.Conflicts {
				for _, id := range c.Entries {
					if !slices.Contains(entryIDs(got[i]), id) {
						t.Errorf("%s: conflict %s names entry %s, which the view lacks", got[i].Patient.Handle, c.ID, id)
					}
				}
			}
		}
	}
	withX := func(vs []*view.View) bool {
		for _, vw := range vs {
			if slices.Contains(entryIDs(vw), xID) {
				return true
			}
			for _, c := range vw.Timeline.Conflicts {
				if slices.Contains(c.Entries, xID) {
					return true
				}
			}
		}
		return false
	}

	t.Run("clinician", func(t *testing.T) {
		got := w.worklist(t, w.svc, w.acc, idx)
		want := w.worklist(t, wholeTimelines{w.svc}, w.acc, idx)
		sameLists(t, got, want)
		if !slices.Equal(handles(got), []string{anna, bob}) || !withX(got) {
			t.Fatalf("worklist shows %v (x shown: %v), want Anna with both conflicts and Bo", handles(got), withX(got))
		}
		if len(got[0].Timeline.Entries) >= len(want[0].Timeline.Entries) {
			t.Errorf("Anna's view holds %d entries, as many as her whole timeline: not read from the stored conflicts", len(got[0].Timeline.Entries))
		}
	})
	t.Run("not restricted", func(t *testing.T) {
		acc := notRestricted{w.acc}
		got := w.worklist(t, w.svc, acc, idx)
		want := w.worklist(t, wholeTimelines{w.svc}, acc, idx)
		sameLists(t, got, want, anna) // Anna has a restricted entry: her whole timeline, as before
		if withX(got) || len(got) != 2 || len(got[0].Timeline.Conflicts) != 1 {
			t.Errorf("a viewer who may not see x is shown %v with Anna's conflicts %v (x shown: %v)", handles(got), conflictIDs(got[0]), withX(got))
		}
	})
	t.Run("stored without conflicts", func(t *testing.T) {
		want := w.worklist(t, wholeTimelines{w.svc}, w.acc, idx)
		keys, err := w.client.Keys(ctx, w.prefix+"*:conflicts").Result()
		if err != nil || len(keys) != 3 {
			t.Fatalf("stored conflicts %v, %v; want Anna's, Bo's and Dan's", keys, err)
		}
		if err := w.client.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		got := w.worklist(t, w.svc, w.acc, idx)
		sameLists(t, got, want, anna, bob)
	})
	t.Run("audit", func(t *testing.T) {
		w.now = w.now.Add(time.Hour)
		since := w.now
		list := w.worklist(t, w.svc, w.acc, idx)
		for _, h := range []string{anna, bob, dan.Handle, cai} {
			page, err := w.acc.AuditLog(ctx, access.Principal{Roles: []access.Role{access.RolePatient}, Handle: h}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range page.Events {
				if ev.Action == access.ActionWorklist && !ev.At.Before(since) {
					n++
				}
			}
			shown := slices.Contains(handles(list), h)
			if (shown && n != 1) || (!shown && n != 0) {
				t.Errorf("%s (shown: %v) has %d worklist rows from this worklist", h, shown, n)
			}
		}
	})
}
