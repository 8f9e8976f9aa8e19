package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
)

// The calendar feeds of access.FeedStore.

func runFeeds(t *testing.T, h Harness) {
	t.Helper()
	t.Run("FeedRoundTrip", func(t *testing.T) { testFeedRoundTrip(t, h) })
	t.Run("FeedReplacedAndRevoked", func(t *testing.T) { testFeedReplaced(t, h) })
	t.Run("FeedAndAuditRowAreOneTransaction", func(t *testing.T) { testFeedAtomic(t, h) })
	t.Run("FeedsConcurrentlyReplaced", func(t *testing.T) { testFeedConcurrent(t, h) })
	t.Run("FeedsOnBrokenStoreFail", func(t *testing.T) { testFeedBroken(t, h) })
}

func feed(id, subject, patient string, at time.Time) access.Feed {
	return access.Feed{ID: id, Patient: patient, Subject: subject, Roles: []access.Role{access.RolePatient, access.RoleRelative},
		Handle: "h-" + subject, Name: "Åse Lund", Lang: "da", Created: at}
}

func feedEvent(f access.Feed, a access.Action) access.Event {
	return access.Event{At: f.Created, Actor: f.Subject, ActorRole: access.RoleRelative, ActorName: f.Name, ActorHandle: f.Handle,
		Patient: f.Patient, Action: a, Outcome: access.OutcomeAllowed, Ref: f.ID}
}

func sameFeed(a, b access.Feed) bool {
	return a.ID == b.ID && a.Patient == b.Patient && a.Subject == b.Subject && slices.Equal(a.Roles, b.Roles) &&
		a.Handle == b.Handle && a.Name == b.Name && a.Lang == b.Lang && a.Created.Equal(b.Created) && a.Revoked.Equal(b.Revoked)
}

func testFeedRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	f1 := feed("f1", "sub-r", "pa", base)
	f2 := feed("f2", "sub-r", "pb", base.Add(time.Hour))
	f2.Roles, f2.Lang = []access.Role{access.RolePatient}, "en"
	other := feed("f3", "sub-x", "pa", base.Add(2*time.Hour))
	for i, f := range []access.Feed{f1, f2, other} {
		if err := s.CreateFeed(ctx, f, "hash-"+f.ID, feedEvent(f, access.ActionFeedCreate)); err != nil {
			t.Fatalf("CreateFeed %d: %v", i, err)
		}
	}
	got, err := s.FeedBySecret(ctx, "hash-f1")
	if err != nil {
		t.Fatalf("FeedBySecret: %v", err)
	}
	if !sameFeed(got, f1) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, f1)
	}
	if _, err := s.FeedBySecret(ctx, "hash-nobody"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("unknown secret: err %v, want ErrNotFound", err)
	}
	list, err := s.Feeds(ctx, "sub-r")
	if err != nil {
		t.Fatalf("Feeds: %v", err)
	}
	if len(list) != 2 || !sameFeed(list[0], f2) || !sameFeed(list[1], f1) {
		t.Errorf("Feeds(sub-r) = %+v, want f2 then f1", list)
	}
	if list, _ := s.Feeds(ctx, "sub-nobody"); len(list) != 0 {
		t.Errorf("Feeds of nobody = %+v", list)
	}
	// The patient's log holds the two creations of feeds of her timeline.
	log := allEvents(t, s, "pa", 10)
	if len(log) != 2 || log[0].Ref != "f3" || log[1].Ref != "f1" || log[1].Action != access.ActionFeedCreate {
		t.Errorf("pa's log = %+v, want the creations of f3 and f1", log)
	}
}

func testFeedReplaced(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	old := feed("old", "sub-r", "pa", base)
	if err := s.CreateFeed(ctx, old, "hash-old", feedEvent(old, access.ActionFeedCreate)); err != nil {
		t.Fatal(err)
	}
	// A new feed for the same viewer and patient replaces the old one.
	nu := feed("new", "sub-r", "pa", base.Add(time.Hour))
	if err := s.CreateFeed(ctx, nu, "hash-new", feedEvent(nu, access.ActionFeedCreate)); err != nil {
		t.Fatalf("CreateFeed replacing: %v", err)
	}
	if _, err := s.FeedBySecret(ctx, "hash-old"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("the replaced feed: err %v, want ErrNotFound", err)
	}
	if got, err := s.FeedBySecret(ctx, "hash-new"); err != nil || got.ID != "new" {
		t.Errorf("the new feed: %+v, %v", got, err)
	}
	if list, _ := s.Feeds(ctx, "sub-r"); len(list) != 1 || list[0].ID != "new" {
		t.Errorf("Feeds after replacing = %+v, want only the new one", list)
	}
	// The same secret hash twice is refused, whoever asks.
	dup := feed("dup", "sub-y", "pz", base)
	if err := s.CreateFeed(ctx, dup, "hash-new", feedEvent(dup, access.ActionFeedCreate)); err == nil {
		t.Error("a second feed with the same secret was stored")
	}

	rev := access.Event{At: base.Add(2 * time.Hour), Actor: "sub-r", ActorRole: access.RoleRelative, Patient: "pa",
		Action: access.ActionFeedRevoke, Outcome: access.OutcomeAllowed}
	tests := []struct {
		name, subject, patient string
		wantErr                error
	}{
		{"someone else's", "sub-x", "pa", access.ErrNotFound},
		{"another patient", "sub-r", "pb", access.ErrNotFound},
		{"own", "sub-r", "pa", nil},
		{"again", "sub-r", "pa", access.ErrNotFound},
	}
	for _, tt := range tests {
		err := s.RevokeFeed(ctx, tt.subject, tt.patient, base.Add(2*time.Hour), rev)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	if _, err := s.FeedBySecret(ctx, "hash-new"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("the revoked feed: err %v, want ErrNotFound", err)
	}
	if list, _ := s.Feeds(ctx, "sub-r"); len(list) != 0 {
		t.Errorf("Feeds after revoking = %+v, want none", list)
	}
	log := allEvents(t, s, "pa", 10)
	if len(log) != 3 || log[0].Action != access.ActionFeedRevoke || log[0].Ref != "new" {
		t.Errorf("pa's log = %+v, want the revocation of feed new on top of two creations", log)
	}
	// A feed can be made again after a revocation.
	again := feed("again", "sub-r", "pa", base.Add(3*time.Hour))
	if err := s.CreateFeed(ctx, again, "hash-again", feedEvent(again, access.ActionFeedCreate)); err != nil {
		t.Errorf("CreateFeed after revoking: %v", err)
	}
}

func testFeedAtomic(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	f := feed("f1", "sub-r", "pa", base)
	if err := s.CreateFeed(ctx, f, "hash-1", feedEvent(f, access.ActionFeedCreate)); err != nil {
		t.Fatal(err)
	}
	// The same ID again fails after revoking f1 in the same transaction:
	// the failure must leave f1 active and no row in the log.
	dup := feed("f1", "sub-r", "pa", base.Add(time.Hour))
	if err := s.CreateFeed(ctx, dup, "hash-2", feedEvent(dup, access.ActionFeedCreate)); err == nil {
		t.Fatal("a second feed with the same ID was stored")
	}
	if got, err := s.FeedBySecret(ctx, "hash-1"); err != nil || !got.Revoked.IsZero() {
		t.Errorf("after the failed replacement f1 = %+v, %v; want it still active", got, err)
	}
	if log := allEvents(t, s, "pa", 10); len(log) != 1 {
		t.Errorf("pa's log has %d rows, want 1: the failed creation's row must roll back", len(log))
	}
	if err := s.CreateFeed(ctx, access.Feed{ID: "f9", Patient: "pa", Created: base}, "hash-9", feedEvent(f, access.ActionFeedCreate)); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("a feed without a subject: err %v, want ErrInvalid", err)
	}
}

// testFeedConcurrent makes feeds of one viewer and patient at once: the
// store may refuse some, but never leaves two active.
func testFeedConcurrent(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	ids := []string{"c0", "c1", "c2", "c3"}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			f := feed(id, "sub-r", "pa", base.Add(time.Duration(i)*time.Second))
			_ = s.CreateFeed(ctx, f, "hash-"+id, feedEvent(f, access.ActionFeedCreate))
		})
	}
	wg.Wait()
	list, err := s.Feeds(ctx, "sub-r")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d active feeds of one viewer and patient, want 1: %+v", len(list), list)
	}
}

func testFeedBroken(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t)
	h.Break(t, s)
	f := feed("f1", "sub-r", "pa", base)
	calls := map[string]func() error{
		"CreateFeed": func() error { return s.CreateFeed(ctx, f, "hash", feedEvent(f, access.ActionFeedCreate)) },
		"RevokeFeed": func() error { return s.RevokeFeed(ctx, "sub-r", "pa", base, feedEvent(f, access.ActionFeedRevoke)) },
		"FeedBySecret": func() error {
			_, err := s.FeedBySecret(ctx, "hash")
			return err
		},
		"Feeds": func() error {
			_, err := s.Feeds(ctx, "sub-r")
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s on a broken store: no error", name)
		}
		if errors.Is(err, access.ErrNotVisible) || errors.Is(err, access.ErrInvalid) {
			t.Errorf("%s on a broken store: %v; a store failure must not look like a refusal", name, err)
		}
	}
}
