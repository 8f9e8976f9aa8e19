package aggregator_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// feedSource is a source with a change feed that names what the test says.
type feedSource struct {
	*fakeSource
	mu      sync.Mutex
	pending []aggregator.Identifier
	polls   int
}

func (f *feedSource) name(ids ...aggregator.Identifier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, ids...)
}

func (f *feedSource) Changed(_ context.Context, cursor string) ([]aggregator.Identifier, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	if cursor == "" {
		return nil, "0", nil
	}
	n, _ := strconv.Atoi(cursor)
	ids := f.pending
	f.pending = nil
	return ids, strconv.Itoa(n + 1), nil
}

// handleDirectory resolves and makes handles as *Patients does, simply.
type handleDirectory struct{ directory }

func (handleDirectory) Handle(id aggregator.Identifier) string { return "h-" + id.Value }

type feedFixture struct {
	clk        *clock
	feed, poll *feedSource
	svc        *aggregator.Service
	ref        *aggregator.Refresher
	ps         []aggregator.PatientRef
}

func newFeedFixture(t *testing.T, opts aggregator.RefresherOptions) *feedFixture {
	t.Helper()
	f := &feedFixture{clk: &clock{now: now}}
	f.feed = &feedSource{fakeSource: &fakeSource{name: "feed", sector: aggregator.SectorHospital,
		fetch: returning(appt("feed/Appointment/1", now.Add(24*time.Hour)))}}
	f.poll = &feedSource{fakeSource: &fakeSource{name: "poll", sector: aggregator.SectorGP,
		fetch: returning(appt("poll/Appointment/1", now.Add(48*time.Hour)))}}
	sched := memcache.NewSchedule()
	svc, err := aggregator.New([]aggregator.Registration{
		{Source: f.feed, ChangeFeed: true},
		{Source: f.poll.fakeSource}, // no feed at all
	}, backend(nil, sched), aggregator.Options{FreshFor: time.Minute, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	dir := handleDirectory{directory{}}
	for _, v := range []string{"1", "2"} {
		p := aggregator.PatientRef{Handle: "h-" + v, Identifier: aggregator.Identifier{System: "urn:test", Value: v}}
		dir.directory[p.Handle] = p
		f.ps = append(f.ps, p)
	}
	opts.FeedEvery = time.Second
	f.ref, err = aggregator.NewRefresher(svc, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *feedFixture) round(t *testing.T, d time.Duration) {
	t.Helper()
	f.clk.Add(d)
	if _, err := f.ref.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *feedFixture) calls() (feed, poll int64) { return f.feed.calls.Load(), f.poll.calls.Load() }

func TestFeedSourcesAreAskedOnlyForChangedPatients(t *testing.T) {
	f := newFeedFixture(t, aggregator.RefresherOptions{})
	ctx := context.Background()
	if _, err := f.svc.Timeline(ctx, f.ps[0]); err != nil { // viewed: a full build
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		f.round(t, time.Minute)
		if feed, poll := f.calls(); feed != 1 || poll != int64(1+round) {
			t.Errorf("round %d: feed source asked %d times, polled one %d; want 1 and %d", round, feed, poll, 1+round)
		}
	}
	tl, err := f.svc.Timeline(ctx, f.ps[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Entries) != 2 || tl.Stale() || !tl.GeneratedAt.Equal(f.clk.Now()) {
		t.Errorf("timeline after partial refreshes: %d entries, stale %v, generated %v; want both sources' entries, fresh, now",
			len(tl.Entries), tl.Stale(), tl.GeneratedAt)
	}

	// The feed names the patient: it is refreshed at once, the feed source too.
	f.feed.name(f.ps[0].Identifier, aggregator.Identifier{System: "urn:test", Value: "never-viewed"})
	f.round(t, time.Second)
	if feed, _ := f.calls(); feed != 2 {
		t.Errorf("after the feed named the patient, the feed source was asked %d times in all, want 2", feed)
	}
	// Read after the change was noticed (and a skew margin later): not again.
	f.round(t, time.Minute)
	f.round(t, time.Minute)
	f.round(t, time.Minute)
	if feed, _ := f.calls(); feed != 3 {
		t.Errorf("the feed source was asked %d times in all, want 3 (one more read for clock skew, then none)", feed)
	}
}

func TestFeedSourcesAreReadInFullNowAndThen(t *testing.T) {
	f := newFeedFixture(t, aggregator.RefresherOptions{FeedFullEvery: 10 * time.Minute})
	if _, err := f.svc.Timeline(context.Background(), f.ps[0]); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f.round(t, time.Minute)
	}
	if feed, poll := f.calls(); feed != 2 || poll != 11 {
		t.Errorf("in 10 minutes the feed source was asked %d times and the other %d; want 2 (FeedFullEvery) and 11", feed, poll)
	}
}

func TestFeedsNeedCursorsAndHandles(t *testing.T) {
	clk := &clock{now: now}
	fs := &feedSource{fakeSource: &fakeSource{name: "feed", fetch: returning()}}
	sched := memcache.NewSchedule()
	svc, err := aggregator.New([]aggregator.Registration{{Source: fs, ChangeFeed: true}}, backend(nil, sched),
		aggregator.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := aggregator.NewRefresher(svc, directory{}, aggregator.RefresherOptions{}); err == nil {
		t.Error("NewRefresher with a resolver that makes no handles accepted a change feed")
	}
}
