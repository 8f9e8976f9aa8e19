package notify

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/access/storetest"
)

// backends opens notify's store on each SQL backend, beside a real access
// store in the same database.
func backends(t *testing.T) map[string]func(t *testing.T) *Store {
	t.Helper()
	return map[string]func(t *testing.T) *Store{
		"sqlite": func(t *testing.T) *Store {
			as, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { as.Close() })
			return openOn(t, as)
		},
		"postgres": func(t *testing.T) *Store {
			as, err := sqlstore.OpenPostgres(context.Background(), storetest.PostgresURL(t, "notify_"), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { as.Close() })
			return openOn(t, as)
		},
	}
}

func openOn(t *testing.T, as *sqlstore.Store) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), as.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Opening again (another replica, a restart) applies nothing and fails nothing.
	if _, err := OpenStore(context.Background(), as.DB(), nil); err != nil {
		t.Fatalf("second open: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

			t.Run("preferences", func(t *testing.T) {
				if _, ok, err := s.Preferences(ctx, "p1"); err != nil || ok {
					t.Fatalf("unknown person: ok %v, err %v", ok, err)
				}
				p := Preferences{Person: "p1", Subject: "sub-1", Name: "Åse", Lang: "en", Channel: ChannelEmail,
					Address: "aase@example.test", Changes: true, Reminders: true, QuietFrom: 23 * 60, QuietTo: 6*60 + 30,
					Follow: []string{"p1", "p2", "p2"}, Updated: now}
				if err := s.SetPreferences(ctx, p); err != nil {
					t.Fatal(err)
				}
				got, ok, err := s.Preferences(ctx, "p1")
				if err != nil || !ok {
					t.Fatalf("read back: ok %v, err %v", ok, err)
				}
				p.Follow = []string{"p1", "p2"}
				if !got.Updated.Equal(p.Updated) || !slices.Equal(got.Follow, p.Follow) {
					t.Errorf("read back %+v, want %+v", got, p)
				}
				got.Updated, got.Follow, p.Updated, p.Follow = time.Time{}, nil, time.Time{}, nil
				if got.Person != p.Person || got.Subject != p.Subject || got.Name != p.Name || got.Lang != p.Lang ||
					got.Channel != p.Channel || got.Address != p.Address || got.Changes != p.Changes || got.Conflicts != p.Conflicts ||
					got.Reminders != p.Reminders || got.QuietFrom != p.QuietFrom || got.QuietTo != p.QuietTo {
					t.Errorf("read back %+v, want %+v", got, p)
				}
				q := DefaultPreferences("p3")
				q.Address, q.Follow, q.Reminders = "p3@example.test", []string{"p2"}, false
				if err := s.SetPreferences(ctx, q); err != nil {
					t.Fatal(err)
				}
				fs, err := s.followers(ctx, "p2")
				if err != nil {
					t.Fatal(err)
				}
				var who []string
				for _, f := range fs {
					who = append(who, f.Person)
				}
				if !slices.Equal(who, []string{"p1", "p3"}) {
					t.Errorf("followers of p2 = %v, want [p1 p3]", who)
				}
				rs, err := s.remindable(ctx)
				if err != nil || len(rs) != 1 || rs[0].Person != "p1" || len(rs[0].Follow) != 2 {
					t.Errorf("remindable = %+v, %v; want p1 with both followed", rs, err)
				}
				// Saving again replaces what was followed.
				p.Follow, p.Updated = []string{"p1"}, now
				if err := s.SetPreferences(ctx, p); err != nil {
					t.Fatal(err)
				}
				if got, _, _ := s.Preferences(ctx, "p1"); !slices.Equal(got.Follow, []string{"p1"}) {
					t.Errorf("after saving again, p1 follows %v", got.Follow)
				}
				for _, bad := range []Preferences{
					{Person: "p1", Lang: "da", Channel: ChannelEmail, Address: "Birthe <b@example.test>", Follow: []string{"p1"}},
					{Person: "p1", Lang: "da", Channel: ChannelEmail, Address: "no-at-sign", Follow: []string{"p1"}},
					{Person: "p1", Lang: "da", Channel: ChannelEmail, Address: "b@example.test\r\nBcc: x@y", Follow: []string{"p1"}},
					{Person: "p1", Lang: "fr", Channel: ChannelEmail},
					{Person: "p1", Lang: "da", Channel: "sms"},
					{Person: "p1", Lang: "da", Channel: ChannelWebhook, Follow: []string{"p1"}},
					{Person: "p1", Lang: "da", Channel: ChannelEmail, QuietFrom: 24 * 60},
				} {
					if err := s.SetPreferences(ctx, bad); !errors.Is(err, ErrInvalid) {
						t.Errorf("SetPreferences(%+v) = %v, want ErrInvalid", bad, err)
					}
				}
			})

			t.Run("outbox", func(t *testing.T) {
				n := notice{Key: Key("p2", "v7", "p1", KindChange), Patient: "p2", Ref: "v7", Recipient: "p1", Kind: KindChange,
					Channel: ChannelEmail, Address: "aase@example.test", Lang: "da", Subject: "s", Body: "b", Link: "l",
					QuietFrom: 22 * 60, QuietTo: 7 * 60, Created: now, Next: now}
				for i, want := range []bool{true, false} {
					added, err := s.enqueue(ctx, n)
					if err != nil || added != want {
						t.Fatalf("enqueue #%d: added %v, err %v; want %v", i+1, added, err, want)
					}
				}
				// The same (patient, ref, recipient, kind) under another key is the same notice.
				other := n
				other.Key = "another"
				if added, err := s.enqueue(ctx, other); err != nil || added {
					t.Errorf("a second notice of the same change: added %v, err %v", added, err)
				}
				if ok, err := s.enqueued(ctx, n.Key); err != nil || !ok {
					t.Errorf("enqueued = %v, %v", ok, err)
				}
				if due, err := s.due(ctx, now.Add(-time.Second), 10); err != nil || len(due) != 0 {
					t.Errorf("due before its time: %d, %v", len(due), err)
				}
				due, err := s.due(ctx, now, 10)
				if err != nil || len(due) != 1 || due[0].Key != n.Key || due[0].QuietTo != n.QuietTo || due[0].Address != n.Address {
					t.Fatalf("due = %+v, %v", due, err)
				}
				if err := s.retry(ctx, due[0].ID, 1, now.Add(time.Minute), "boom"); err != nil {
					t.Fatal(err)
				}
				if due, _ := s.due(ctx, now.Add(30*time.Second), 10); len(due) != 0 {
					t.Errorf("due during its backoff: %d", len(due))
				}
				due, _ = s.due(ctx, now.Add(time.Minute), 10)
				if len(due) != 1 || due[0].Attempts != 1 || due[0].LastError != "boom" {
					t.Fatalf("after a retry: %+v", due)
				}
				if err := s.failed(ctx, due[0].ID, 2, "still boom", now.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				fs, err := s.Failed(ctx, 10)
				if err != nil || len(fs) != 1 || fs[0].Key != n.Key || fs[0].Attempts != 2 || fs[0].Error != "still boom" || fs[0].Channel != ChannelEmail {
					t.Errorf("Failed = %+v, %v", fs, err)
				}
				if c, _ := s.Outbox(ctx); c[stateFailed] != 1 || c[statePending] != 0 {
					t.Errorf("outbox counts %v", c)
				}
				if err := s.forget(ctx, now.Add(2*time.Minute)); err != nil {
					t.Fatal(err)
				}
				if fs, _ := s.Failed(ctx, 10); len(fs) != 0 {
					t.Errorf("forget kept %d failed notices", len(fs))
				}
			})

			t.Run("events", func(t *testing.T) {
				ev := event{Patient: "p2", Version: 9, Noticed: now, Changes: true, Conflicts: []string{"c1"}}
				for range 2 {
					if err := s.addEvent(ctx, ev, now); err != nil {
						t.Fatal(err)
					}
				}
				if evs, _ := s.pendingEvents(ctx, now, 10); len(evs) != 0 {
					t.Errorf("an event recorded at now is pending before now: %+v", evs)
				}
				evs, err := s.pendingEvents(ctx, now.Add(time.Second), 10)
				if err != nil || len(evs) != 1 || evs[0].Version != 9 || !evs[0].Changes || !slices.Equal(evs[0].Conflicts, ev.Conflicts) || !evs[0].Noticed.Equal(now) {
					t.Fatalf("pending = %+v, %v", evs, err)
				}
				if err := s.eventHandled(ctx, ev, now); err != nil {
					t.Fatal(err)
				}
				if evs, _ := s.pendingEvents(ctx, now.Add(time.Second), 10); len(evs) != 0 {
					t.Errorf("handled event still pending")
				}
			})

			t.Run("lease", func(t *testing.T) {
				steps := []struct {
					holder string
					at     time.Duration
					want   bool
				}{
					{"a", 0, true},
					{"b", time.Second, false},      // a holds it
					{"a", 10 * time.Second, true},  // a renews
					{"b", 35 * time.Second, false}, // renewed till 40 s
					{"b", 41 * time.Second, true},  // a let it run out
					{"a", 42 * time.Second, false},
				}
				for _, st := range steps {
					at := now.Add(st.at)
					got, err := s.acquireLease(ctx, "l", st.holder, at, at.Add(30*time.Second))
					if err != nil || got != st.want {
						t.Errorf("%s at %v: %v, %v; want %v", st.holder, st.at, got, err, st.want)
					}
				}
				if err := s.releaseLease(ctx, "l", "b"); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.acquireLease(ctx, "l", "a", now.Add(43*time.Second), now.Add(73*time.Second)); !got {
					t.Error("a released lease is not free")
				}
			})

			t.Run("runs", func(t *testing.T) {
				if done, err := s.ran(ctx, "reminders:2026-12-01"); err != nil || done {
					t.Fatalf("ran before: %v, %v", done, err)
				}
				for range 2 {
					if err := s.markRun(ctx, "reminders:2026-12-01", now); err != nil {
						t.Fatal(err)
					}
				}
				if done, _ := s.ran(ctx, "reminders:2026-12-01"); !done {
					t.Error("a recorded run is not done")
				}
			})
		})
	}
}

func TestQuietHours(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	at := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, loc) }
	tests := []struct {
		t        time.Time
		from, to Clock
		quiet    bool
		end      time.Time
	}{
		{at(12, 1, 21, 59), 22 * 60, 7 * 60, false, time.Time{}},
		{at(12, 1, 22, 0), 22 * 60, 7 * 60, true, at(12, 2, 7, 0)},
		{at(12, 2, 3, 0), 22 * 60, 7 * 60, true, at(12, 2, 7, 0)},
		{at(12, 2, 7, 0), 22 * 60, 7 * 60, false, time.Time{}},
		{at(12, 2, 13, 0), 12 * 60, 14 * 60, true, at(12, 2, 14, 0)},
		{at(12, 2, 13, 0), 9 * 60, 9 * 60, false, time.Time{}}, // equal: none
		// The night the clocks go forward: 07:00 is still 07:00 on the wall.
		{at(3, 28, 23, 30), 22 * 60, 7 * 60, true, at(3, 29, 7, 0)},
	}
	for _, tc := range tests {
		if got := inQuiet(tc.t, tc.from, tc.to); got != tc.quiet {
			t.Errorf("inQuiet(%v, %v-%v) = %v, want %v", tc.t, tc.from, tc.to, got, tc.quiet)
		}
		if tc.quiet {
			if got := quietEnd(tc.t, tc.to); !got.Equal(tc.end) {
				t.Errorf("quietEnd(%v, %v) = %v, want %v", tc.t, tc.to, got, tc.end)
			}
		}
	}
}
