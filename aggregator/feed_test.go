package aggregator_test

import (
	"context"
	"errors"
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
	fail    bool // the feed answers with an error
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
	if f.fail {
		return nil, "", errors.New("feed down")
	}
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
	// Read after the change was noticed: not again, whatever the clocks
	// (marks are counted, not timed).
	f.round(t, time.Minute)
	f.round(t, time.Minute)
	f.round(t, time.Minute)
	if feed, _ := f.calls(); feed != 2 {
		t.Errorf("the feed source was asked %d times in all, want 2: once for the change, then none", feed)
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

// TestSourcesAllWithFeedsAreLeftAlone: when every source has a change feed,
// a patient nothing changed for is neither built nor asked about interval
// after interval, and viewers get the timeline as fresh while the feeds
// answer; a change at one source asks that source alone, once; the full
// read comes at FeedFullEvery; feeds that stop answering leave freshness to
// FreshFor again.
func TestSourcesAllWithFeedsAreLeftAlone(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: now}
	hosp := &feedSource{fakeSource: &fakeSource{name: "hosp", fetch: returning(appt("hosp/Appointment/1", now.Add(24*time.Hour)))}}
	kom := &feedSource{fakeSource: &fakeSource{name: "kom", fetch: returning(appt("kom/Appointment/1", now.Add(48*time.Hour)))}}
	svc, err := aggregator.New([]aggregator.Registration{{Source: hosp, ChangeFeed: true}, {Source: kom, ChangeFeed: true}},
		backend(nil, memcache.NewSchedule()), aggregator.Options{FreshFor: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	p := aggregator.PatientRef{Handle: "h-1", Identifier: aggregator.Identifier{System: "urn:test", Value: "1"}}
	ref, err := aggregator.NewRefresher(svc, handleDirectory{directory{p.Handle: p}},
		aggregator.RefresherOptions{FeedEvery: time.Second, FeedFullEvery: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	round := func(d time.Duration) {
		t.Helper()
		clk.Add(d)
		if _, err := ref.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	calls := func() [2]int64 { return [2]int64{hosp.calls.Load(), kom.calls.Load()} }
	first, err := svc.Timeline(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	round(0) // the feeds start
	for range 10 {
		round(time.Minute)
		tl, err := svc.Timeline(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if tl.Version != first.Version {
			t.Fatalf("version %d after an unchanged interval, want %d: nothing to build", tl.Version, first.Version)
		}
	}
	if got := calls(); got != [2]int64{1, 1} {
		t.Errorf("in ten unchanged intervals, with views, the sources were asked %v times, want once each (the first view)", got)
	}

	kom.name(p.Identifier)
	round(time.Second)
	if got := calls(); got != [2]int64{1, 2} {
		t.Errorf("after kom's feed named the patient: asked %v, want kom once more and hosp not", got)
	}
	for range 5 {
		round(time.Minute)
	}
	if got := calls(); got != [2]int64{1, 2} {
		t.Errorf("after the change was read: asked %v, want no more", got)
	}
	for range 20 { // past FeedFullEvery of the first read
		round(time.Minute)
	}
	if got := calls(); got[0] != 2 {
		t.Errorf("after FeedFullEvery: hosp asked %d times, want 2 (the full read)", got[0])
	}

	// The feeds stop answering: after a few of their intervals the
	// timeline is as fresh as FreshFor says, and a view refreshes it.
	hosp.mu.Lock()
	kom.mu.Lock()
	hosp.fail, kom.fail = true, true
	hosp.mu.Unlock()
	kom.mu.Unlock()
	before := calls()
	for range 2 { // short of kom's full read
		round(time.Minute)
	}
	if _, err := svc.Timeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	svc.Close() // waits for the view's refresh
	if got := calls(); got[0] <= before[0] || got[1] <= before[1] {
		t.Errorf("with the feeds failing, a view of an old timeline asked %v (before %v), want both asked again", got, before)
	}
}
