package aggregator_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// TestChangedHook: Options.Changed hears of each stored build that changed
// something, once, with its version, its changes and the conflicts it found
// new; never of a first build or of one that changed nothing.
func TestChangedHook(t *testing.T) {
	type call struct {
		version   int64
		changes   []string
		conflicts []string
	}
	var mu sync.Mutex
	var calls []call
	clk := &clock{now: now}
	src := &switchable{}
	h := &fakeSource{name: "h", sector: aggregator.SectorHospital, fetch: src.fetch}
	svc, err := aggregator.New([]aggregator.Registration{{Source: h}}, memcache.NewBackend(0), aggregator.Options{
		FreshFor: 2 * time.Minute, Now: clk.Now,
		Changed: func(ctx context.Context, handle string, version int64, cs []aggregator.Change, added []aggregator.Conflict) {
			if handle != patient.Handle {
				t.Errorf("Changed for %q", handle)
			}
			c := call{version: version}
			for _, ch := range cs {
				c.changes = append(c.changes, fmt.Sprintf("%s %s v%d", ch.EntryID, ch.Kind, ch.Version))
			}
			for _, cf := range added {
				c.conflicts = append(c.conflicts, string(cf.Rule))
			}
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	a := appt("h/Appointment/a", now.Add(48*time.Hour))
	b := appt("h/Appointment/b", now.Add(72*time.Hour))
	overlapping := appt("h/Appointment/c", now.Add(48*time.Hour+30*time.Minute))
	steps := []struct {
		entries []aggregator.Entry
		want    *call
	}{
		{[]aggregator.Entry{a}, nil}, // first build: nothing to compare with
		{[]aggregator.Entry{a}, nil}, // nothing changed
		{[]aggregator.Entry{a, b}, &call{version: 3, changes: []string{"h/Appointment/b added v3"}}},
		{[]aggregator.Entry{a, b, overlapping}, &call{version: 4, changes: []string{"h/Appointment/c added v4"}, conflicts: []string{"overlap"}}},
	}
	for i, st := range steps {
		src.set(nil, st.entries...)
		clk.Add(time.Minute)
		if _, err := svc.Refresh(context.Background(), patient); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := slices.Clone(calls)
		calls = nil
		mu.Unlock()
		switch {
		case st.want == nil && len(got) > 0:
			t.Errorf("step %d: Changed called %+v, want no call", i, got)
		case st.want != nil && (len(got) != 1 || got[0].version != st.want.version ||
			!slices.Equal(got[0].changes, st.want.changes) || !slices.Equal(got[0].conflicts, st.want.conflicts)):
			t.Errorf("step %d: Changed called %+v, want once with %+v", i, got, *st.want)
		}
	}
}
