package cachetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// RunBackend runs every suite on the parts of the back ends newBackend
// builds (each call a fresh, empty one of the test's own).
func RunBackend(t *testing.T, newBackend func(t *testing.T) aggregator.Backend) {
	t.Helper()
	t.Run("Timelines", func(t *testing.T) {
		Run(t, func(t *testing.T) aggregator.Cache { return newBackend(t).Timelines })
	})
	t.Run("Conflicts", func(t *testing.T) {
		RunConflicts(t, func(t *testing.T) aggregator.Cache { return newBackend(t).Timelines })
	})
	t.Run("Changes", func(t *testing.T) {
		RunChangeLog(t, func(t *testing.T) aggregator.ChangeLog { return newBackend(t).Changes })
	})
	t.Run("Lease", func(t *testing.T) {
		RunLease(t, func(t *testing.T) (aggregator.Lease, aggregator.Cache) {
			b := newBackend(t)
			return b.Lease, b.Timelines
		})
	})
	t.Run("Schedule", func(t *testing.T) {
		RunSchedule(t, func(t *testing.T) aggregator.Schedule { return newBackend(t).Schedule })
	})
	t.Run("Cursors", func(t *testing.T) {
		RunCursors(t, func(t *testing.T) aggregator.Cursors { return newBackend(t).Cursors })
	})
	t.Run("Directory", func(t *testing.T) {
		RunDirectory(t, func(t *testing.T) aggregator.Directory { return newBackend(t).Directory })
	})
	t.Run("Index", func(t *testing.T) {
		RunIndex(t, func(t *testing.T) (aggregator.Cache, aggregator.ConflictIndex) {
			b := newBackend(t)
			return b.Timelines, b.Index
		})
	})
}

// RunLease checks the refresh lease: one holder at a time, a holder's
// timeline reaches those who wait, and an abandoned lease is said so.
// newLease returns a lease and the timelines it waits on.
func RunLease(t *testing.T, newLease func(t *testing.T) (aggregator.Lease, aggregator.Cache)) {
	t.Helper()
	ctx := context.Background()
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	t.Run("OneHolderAtATime", func(t *testing.T) {
		l, _ := newLease(t)
		release, ok, err := l.Acquire(ctx, "p1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("first Acquire = %v, %v; want the lease", ok, err)
		}
		if _, ok, err := l.Acquire(ctx, "p1", time.Minute); err != nil || ok {
			t.Errorf("second Acquire while held = %v, %v; want refused", ok, err)
		}
		if _, ok, err := l.Acquire(ctx, "p2", time.Minute); err != nil || !ok {
			t.Errorf("another patient's lease = %v, %v; want it", ok, err)
		}
		if err := release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := l.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
			t.Errorf("Acquire after release = %v, %v; want the lease", ok, err)
		}
	})
	t.Run("ExpiresByItself", func(t *testing.T) {
		l, _ := newLease(t)
		if _, ok, err := l.Acquire(ctx, "p1", 100*time.Millisecond); err != nil || !ok {
			t.Fatalf("Acquire = %v, %v", ok, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, ok, err := l.Acquire(ctx, "p1", time.Minute); err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("a lease whose holder never released it did not expire")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("WaitGetsTheHoldersTimeline", func(t *testing.T) {
		l, c := newLease(t)
		release, ok, err := l.Acquire(ctx, "p1", time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		var wg sync.WaitGroup
		var got *aggregator.Timeline
		var werr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			got, werr = l.Wait(wctx, "p1", gen)
		}()
		time.Sleep(50 * time.Millisecond) // let it wait
		if err := c.Put(ctx, "p1", &aggregator.Timeline{Patient: "p1", GeneratedAt: gen.Add(time.Second), Version: 7}); err != nil {
			t.Fatal(err)
		}
		if err := release(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if werr != nil || got == nil || got.Version != 7 {
			t.Errorf("Wait = %+v, %v; want the holder's timeline", got, werr)
		}
	})
	t.Run("AbandonedIsAnError", func(t *testing.T) {
		l, _ := newLease(t)
		release, ok, err := l.Acquire(ctx, "p1", time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := l.Wait(wctx, "p1", gen)
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		if err := release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait after a release without a timeline = %v; want the lease abandoned, at once", err)
		}
	})
	t.Run("WaitHonoursContext", func(t *testing.T) {
		l, _ := newLease(t)
		if _, ok, err := l.Acquire(ctx, "p1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := l.Wait(wctx, "p1", gen); err == nil {
			t.Error("Wait past its context's deadline returned no error")
		}
	})
}

// RunDirectory checks the patient directory: what is saved loads back,
// per handle.
func RunDirectory(t *testing.T, newDirectory func(t *testing.T) aggregator.Directory) {
	t.Helper()
	ctx := context.Background()
	d := newDirectory(t)
	if _, ok, err := d.LoadPatient(ctx, "nobody"); err != nil || ok {
		t.Errorf("LoadPatient of an unknown handle = %v, %v; want a miss", ok, err)
	}
	for h, v := range map[string][]byte{"p1": []byte("sealed one"), "p2": {0, 1, 2, 255}} {
		if err := d.SavePatient(ctx, h, v); err != nil {
			t.Fatal(err)
		}
	}
	for h, want := range map[string][]byte{"p1": []byte("sealed one"), "p2": {0, 1, 2, 255}} {
		got, ok, err := d.LoadPatient(ctx, h)
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Errorf("LoadPatient(%s) = %q, %v, %v; want %q", h, got, ok, err, want)
		}
	}
}
