package fhirsource

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

func TestChangedNamesThePatientsOfChangedResources(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	patient := func(id, cpr string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"identifier":[{"system":%q,"value":%q}]}`, id, SystemCPR, cpr))
	}
	raws := []json.RawMessage{
		patient("p1", "0101010001"), patient("p2", "0101010002"), patient("p3", "0101010003"),
		json.RawMessage(`{"resourceType":"Appointment","id":"a1","meta":{"lastUpdated":"` + ts(time.Hour) + `"},"status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T11:00:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a2","meta":{"lastUpdated":"` + ts(-time.Hour) + `"},"status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T11:00:00Z","participant":[{"actor":{"reference":"Patient/p2"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Encounter","id":"e3","meta":{"lastUpdated":"` + ts(90*time.Minute+500*time.Millisecond) + `"},"status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p3"},"period":{"start":"2026-11-20T10:00:00Z"}}`),
	}
	sim, err := fhirsim.New(raws, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var patientReads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/Patient/") {
			patientReads.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	src, err := New(Config{Name: "h", BaseURL: srv.URL, Now: func() time.Time { return t0 }}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	values := func(ids []aggregator.Identifier) []string {
		var out []string
		for _, id := range ids {
			if id.System != SystemCPR {
				t.Errorf("identifier in system %q, want the Patient's own", id.System)
			}
			out = append(out, id.Value)
		}
		slices.Sort(out)
		return out
	}

	tests := []struct {
		name       string
		cursor     string
		want       []string
		wantCursor string
		wantReads  int64 // Patient reads so far
	}{
		// Earlier releases wrote one instant for both types: it still reads.
		{"a new feed starts a minute before now", "", nil, ts(-time.Minute) + "|" + ts(-time.Minute), 0},
		{"changed after the cursor", ts(0), []string{"0101010001", "0101010003"}, ts(time.Hour) + "|" + ts(90*time.Minute+500*time.Millisecond), 2},
		{"strictly after", ts(time.Hour), []string{"0101010003"}, ts(time.Hour) + "|" + ts(90*time.Minute+500*time.Millisecond), 2},
		{"nothing newer keeps the cursor", ts(2 * time.Hour), nil, ts(2*time.Hour) + "|" + ts(2*time.Hour), 2},
		{"everything, patients remembered", ts(-2 * time.Hour), []string{"0101010001", "0101010002", "0101010003"}, ts(time.Hour) + "|" + ts(90*time.Minute+500*time.Millisecond), 3},
		{"each type from its own instant", ts(30*time.Minute) + "|" + ts(2*time.Hour), []string{"0101010001"}, ts(time.Hour) + "|" + ts(2*time.Hour), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, next, err := src.Changed(ctx, tc.cursor)
			if err != nil {
				t.Fatal(err)
			}
			if got := values(ids); !slices.Equal(got, tc.want) {
				t.Errorf("Changed(%q) named %v, want %v", tc.cursor, got, tc.want)
			}
			if next != tc.wantCursor {
				t.Errorf("next cursor = %q, want %q", next, tc.wantCursor)
			}
			if got := patientReads.Load(); got != tc.wantReads {
				t.Errorf("%d Patient reads so far, want %d: each patient once", got, tc.wantReads)
			}
		})
	}
}

// TestChangedLosesNoChangeBetweenItsTwoSearches: an Appointment changed
// while the feed asks for Encounters, stamped before an Encounter changed
// then too, is named by the next call. One instant for both types (the
// newest seen) skipped it for good.
func TestChangedLosesNoChangeBetweenItsTwoSearches(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	sim, err := fhirsim.New([]json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + SystemCPR + `","value":"0101010001"}]}`),
		json.RawMessage(`{"resourceType":"Patient","id":"p2","identifier":[{"system":"` + SystemCPR + `","value":"0101010002"}]}`),
	}, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/Encounter" && r.URL.Query().Has("_lastUpdated") {
			// The Appointment search is done: two changes land now.
			once.Do(func() {
				for _, raw := range []string{
					`{"resourceType":"Appointment","id":"a1","meta":{"lastUpdated":"` + ts(time.Minute) + `"},"status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T11:00:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`,
					`{"resourceType":"Encounter","id":"e2","meta":{"lastUpdated":"` + ts(2*time.Minute) + `"},"status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},"period":{"start":"2026-11-20T10:00:00Z"}}`,
				} {
					if err := sim.Put(json.RawMessage(raw)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	src, err := New(Config{Name: "h", BaseURL: srv.URL}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var named []string
	cursor := ts(0)
	for range 2 {
		ids, next, err := src.Changed(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			named = append(named, id.Value)
		}
		cursor = next
	}
	slices.Sort(named)
	if !slices.Equal(named, []string{"0101010001", "0101010002"}) {
		t.Errorf("the feed named %v, want both changed patients (cursor now %q)", named, cursor)
	}
}

func TestChangedFailsWithoutMovingOn(t *testing.T) {
	sim, err := fhirsim.New(nil, fhirsim.Options{FailStatus: http.StatusServiceUnavailable})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	src, err := New(Config{Name: "h", BaseURL: srv.URL, Client: fhir.Options{MaxAttempts: 1}}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ids, next, err := src.Changed(context.Background(), "2026-11-26T10:00:00Z")
	if aggregator.KindOf(err) != aggregator.Unavailable || ids != nil || next != "" {
		t.Errorf("Changed = %v, %q, %v; want an Unavailable error and no cursor", ids, next, err)
	}
	if _, _, err := src.Changed(context.Background(), "not a time"); aggregator.KindOf(err) != aggregator.Invalid {
		t.Errorf("a bad cursor gave %v, want Invalid", err)
	}
}
