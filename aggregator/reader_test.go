package aggregator_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// readerSource is a Reader whose digest and batch the test sets; it counts
// reads and normalisations.
type readerSource struct {
	name   string
	sector aggregator.Sector

	mu         sync.Mutex
	digest     string
	batch      aggregator.Batch
	err        error
	reads      int
	normalised int
	lasts      [][]aggregator.Entry // what each Normalise was handed
}

func (r *readerSource) Name() string              { return r.name }
func (r *readerSource) Sector() aggregator.Sector { return r.sector }

func (r *readerSource) Fetch(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Batch, error) {
	panic("a Reader is read, not fetched")
}

func (r *readerSource) Read(context.Context, aggregator.PatientRef, aggregator.Window) (aggregator.Reading, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	if r.err != nil {
		return aggregator.Reading{}, r.err
	}
	b := r.batch
	b.Entries = slices.Clone(b.Entries)
	return aggregator.Reading{Digest: r.digest, PatientName: "Name " + r.name, Normalise: func(_ context.Context, last []aggregator.Entry) (aggregator.Batch, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.normalised++
		r.lasts = append(r.lasts, last)
		return b, nil
	}}, nil
}

func (r *readerSource) set(digest string, b aggregator.Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digest, r.batch = digest, b
}

func (r *readerSource) counts() (reads, normalised int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.normalised
}

func readerService(t *testing.T, clk *clock, b aggregator.Backend, merge *aggregator.MergeRules, srcs ...aggregator.Source) *aggregator.Service {
	t.Helper()
	var regs []aggregator.Registration
	for _, s := range srcs {
		regs = append(regs, aggregator.Registration{Source: s, Timeout: 2 * time.Second})
	}
	svc, err := aggregator.New(regs, b, aggregator.Options{FreshFor: 2 * time.Minute, Now: clk.Now, Merge: merge})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

func ids(tl *aggregator.Timeline) []string {
	var out []string
	for _, e := range tl.Entries {
		out = append(out, e.ID)
	}
	return out
}

// The same reading again keeps the entries and conflicts without
// normalising; what says when it was read moves on.
func TestSameReadingIsNotNormalisedAgain(t *testing.T) {
	clk := &clock{now: now}
	h := &readerSource{name: "h", sector: aggregator.SectorHospital}
	m := &readerSource{name: "m", sector: aggregator.SectorMunicipality}
	// Two visits at once: an overlap conflict.
	h.set("h1", aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now.Add(time.Hour))}, Skipped: 1})
	m.set("m1", aggregator.Batch{Entries: []aggregator.Entry{appt("m/Appointment/1", now.Add(time.Hour)), appt("m/Appointment/2", now.Add(48*time.Hour))}})
	svc := readerService(t, clk, memcache.NewBackend(0), nil, h, m)
	ctx := context.Background()
	first, err := svc.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Conflicts) == 0 {
		t.Fatal("the overlapping visits made no conflict")
	}
	clk.Add(5 * time.Minute)
	second, err := svc.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*readerSource{h, m} {
		if reads, normalised := s.counts(); reads != 2 || normalised != 1 {
			t.Errorf("%s: %d reads, %d normalised; want 2 reads, 1 normalised", s.name, reads, normalised)
		}
	}
	if !slices.Equal(ids(second), ids(first)) || len(second.Conflicts) != len(first.Conflicts) || second.Conflicts[0].ID != first.Conflicts[0].ID {
		t.Errorf("kept build: entries %v conflicts %v; want %v and %v", ids(second), second.Conflicts, ids(first), first.Conflicts)
	}
	if second.Version != first.Version+1 || !second.GeneratedAt.Equal(clk.Now()) {
		t.Errorf("version %d generated %v; want %d, %v", second.Version, second.GeneratedAt, first.Version+1, clk.Now())
	}
	for _, e := range second.Entries {
		// Kept as made; the sources' LastSuccess says when they were read.
		if !e.FetchedAt.Equal(first.GeneratedAt) || e.Stale {
			t.Errorf("%s fetched at %v stale %v; want as the first build made it, fresh", e.ID, e.FetchedAt, e.Stale)
		}
	}
	for i, st := range second.Sources {
		if !st.OK || !st.LastSuccess.Equal(clk.Now()) || st.Digest == "" || st.Digest != first.Sources[i].Digest {
			t.Errorf("status %+v; want good now with the first build's digest %q", st, first.Sources[i].Digest)
		}
	}
	if second.Sources[0].Skipped != 1 || second.Sources[1].Entries != 2 {
		t.Errorf("statuses %+v: the skipped count and entry counts must stay", second.Sources)
	}

	// When h then fails, its last good copy was fetched when it last
	// answered: the kept build, not the one that made the entry.
	clk.Add(5 * time.Minute)
	h.mu.Lock()
	h.err = &aggregator.SourceError{Source: "h", Kind: aggregator.Unavailable, Msg: "down"}
	h.mu.Unlock()
	third, err := svc.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range third.Entries {
		if e.Source == "h" && (!e.Stale || !e.FetchedAt.Equal(second.GeneratedAt)) {
			t.Errorf("%s fetched at %v stale %v; want stale, fetched at %v", e.ID, e.FetchedAt, e.Stale, second.GeneratedAt)
		}
	}
}

// One source read something new: the other's reading, the same as before,
// is normalised after all, and the build is what a first build would be.
func TestOneChangedReadingNormalisesTheOthers(t *testing.T) {
	clk := &clock{now: now}
	h := &readerSource{name: "h", sector: aggregator.SectorHospital}
	m := &readerSource{name: "m", sector: aggregator.SectorMunicipality}
	h.set("h1", aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now.Add(time.Hour))}})
	m.set("m1", aggregator.Batch{Entries: []aggregator.Entry{appt("m/Appointment/1", now.Add(2*time.Hour))}})
	svc := readerService(t, clk, memcache.NewBackend(0), nil, h, m)
	ctx := context.Background()
	if _, err := svc.Refresh(ctx, patient); err != nil {
		t.Fatal(err)
	}
	h.set("h2", aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now.Add(2*time.Hour)), appt("h/Appointment/3", now.Add(time.Hour))}})
	clk.Add(5 * time.Minute)
	got, err := svc.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	if _, normalised := m.counts(); normalised != 2 {
		t.Errorf("the unchanged source was normalised %d times, want 2", normalised)
	}
	fresh := readerService(t, clk, memcache.NewBackend(0), nil, h, m)
	want, err := fresh.Refresh(ctx, patient)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), ids(want)) || len(got.Conflicts) != len(want.Conflicts) {
		t.Errorf("entries %v conflicts %d; a first build has %v and %d", ids(got), len(got.Conflicts), ids(want), len(want.Conflicts))
	}
}

// A digest is trusted only where it says the same: not once the window
// has moved to another day, not after the source failed, not for a batch
// that rests on a passing failure, and not by a service that merges
// differently.
func TestDigestIsTrustedOnlyForTheSameRead(t *testing.T) {
	ctx := context.Background()
	batch := aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/1", now.Add(time.Hour))}}
	setup := func(t *testing.T) (*clock, *readerSource, *aggregator.Service, aggregator.Backend) {
		clk := &clock{now: now}
		h := &readerSource{name: "h", sector: aggregator.SectorHospital}
		h.set("h1", batch)
		b := memcache.NewBackend(0)
		svc := readerService(t, clk, b, nil, h)
		if _, err := svc.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		return clk, h, svc, b
	}
	wantNormalised := func(t *testing.T, h *readerSource, want int) {
		t.Helper()
		if _, n := h.counts(); n != want {
			t.Errorf("normalised %d times, want %d", n, want)
		}
	}
	t.Run("window moved", func(t *testing.T) {
		clk, h, svc, _ := setup(t)
		clk.Add(24 * time.Hour)
		if _, err := svc.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		wantNormalised(t, h, 2)
	})
	t.Run("source failed in between", func(t *testing.T) {
		clk, h, svc, _ := setup(t)
		h.mu.Lock()
		h.err = &aggregator.SourceError{Source: "h", Kind: aggregator.Unavailable, Msg: "503"}
		h.mu.Unlock()
		clk.Add(5 * time.Minute)
		tl, err := svc.Refresh(ctx, patient)
		if err != nil || tl.Sources[0].OK || tl.Sources[0].Digest != "" {
			t.Fatalf("failed read: %v, status %+v; want not OK without a digest", err, tl.Sources[0])
		}
		h.mu.Lock()
		h.err = nil
		h.mu.Unlock()
		clk.Add(5 * time.Minute)
		tl, err = svc.Refresh(ctx, patient)
		if err != nil || tl.Stale() {
			t.Fatalf("recovered read: %v, stale %v", err, tl.Stale())
		}
		wantNormalised(t, h, 2)
	})
	t.Run("unsettled batch", func(t *testing.T) {
		clk, h, svc, _ := setup(t)
		unsettled := batch
		unsettled.Unsettled = true
		h.set("h2", unsettled)
		clk.Add(5 * time.Minute)
		tl, err := svc.Refresh(ctx, patient)
		if err != nil || tl.Sources[0].Digest != "" {
			t.Fatalf("unsettled read: %v, digest %q; want none kept", err, tl.Sources[0].Digest)
		}
		clk.Add(5 * time.Minute)
		if _, err := svc.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		wantNormalised(t, h, 3)
	})
	t.Run("other merge rules", func(t *testing.T) {
		clk, h, _, b := setup(t)
		other := readerService(t, clk, b, &aggregator.MergeRules{Meetings: aggregator.MeetingMerge{Off: true}}, h)
		clk.Add(5 * time.Minute)
		if _, err := other.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		wantNormalised(t, h, 2)
	})
	t.Run("a source without digests beside it", func(t *testing.T) {
		clk := &clock{now: now}
		h := &readerSource{name: "h", sector: aggregator.SectorHospital}
		h.set("h1", batch)
		gp := &fakeSource{name: "gp", sector: aggregator.SectorGP, fetch: returning(appt("gp/Appointment/1", now.Add(3*time.Hour)))}
		svc := readerService(t, clk, memcache.NewBackend(0), nil, h, gp)
		for range 2 {
			if _, err := svc.Refresh(ctx, patient); err != nil {
				t.Fatal(err)
			}
			clk.Add(5 * time.Minute)
		}
		// The other source's entries may have changed: everything is merged anew.
		wantNormalised(t, h, 2)
	})
}

// Normalise is handed the previous timeline's entries only when they are
// what the source's last good read in this window gave.
func TestNormaliseIsHandedTheLastGoodReadsEntries(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: now}
	h := &readerSource{name: "h", sector: aggregator.SectorHospital}
	svc := readerService(t, clk, memcache.NewBackend(0), nil, h)
	read := func(digest string) []aggregator.Entry {
		t.Helper()
		h.set(digest, aggregator.Batch{Entries: []aggregator.Entry{appt("h/Appointment/"+digest, now.Add(time.Hour))}})
		clk.Add(5 * time.Minute)
		if _, err := svc.Refresh(ctx, patient); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.lasts[len(h.lasts)-1]
	}
	if last := read("d1"); last != nil {
		t.Errorf("first build handed %v, want nothing", ids(&aggregator.Timeline{Entries: last}))
	}
	if last := read("d2"); len(last) != 1 || last[0].ID != "h/Appointment/d1" {
		t.Errorf("second build handed %v, want the first build's entry", ids(&aggregator.Timeline{Entries: last}))
	}
	// A failed read in between: the timeline's entries are stale ones.
	h.mu.Lock()
	h.err = &aggregator.SourceError{Source: "h", Kind: aggregator.Unavailable, Msg: "503"}
	h.mu.Unlock()
	clk.Add(5 * time.Minute)
	if _, err := svc.Refresh(ctx, patient); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.err = nil
	h.mu.Unlock()
	if last := read("d3"); last != nil {
		t.Errorf("after a failed read handed %v, want nothing", ids(&aggregator.Timeline{Entries: last}))
	}
	// Another day: another window.
	clk.Add(24 * time.Hour)
	if last := read("d4"); last != nil {
		t.Errorf("in another window handed %v, want nothing", ids(&aggregator.Timeline{Entries: last}))
	}
}
