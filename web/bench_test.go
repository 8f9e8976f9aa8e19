package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// bigTimeline has n entries spread over the days around testNow.
func bigTimeline(b *testing.B, n int) *aggregator.Timeline {
	b.Helper()
	base := testTimeline(b)
	start := testNow(b).AddDate(0, 0, -n/8)
	tl := &aggregator.Timeline{GeneratedAt: base.GeneratedAt, Window: base.Window, Sources: base.Sources}
	for i := range n {
		e := base.Entries[i%len(base.Entries)]
		e.ID = fmt.Sprintf("%s-%d", e.ID, i)
		e.Start = start.Add(time.Duration(i) * 5 * time.Hour)
		e.End = e.Start.Add(45 * time.Minute)
		e.AllDay = false
		tl.Entries = append(tl.Entries, e)
	}
	return tl
}

func benchmarkGet(b *testing.B, target string) {
	env := newTestEnv(b, Config{}, fakeTimelines{tl: bigTimeline(b, 100)})
	req := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		env.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkTimelineJSON(b *testing.B) {
	benchmarkGet(b, "/api/v1/patients/"+testHandle+"/timeline")
}

func BenchmarkTimelineHTML(b *testing.B) {
	benchmarkGet(b, "/p/"+testHandle)
}
