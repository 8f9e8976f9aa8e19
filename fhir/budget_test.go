package fhir

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestSearchPreferStrict: searches ask the server to refuse parameters it
// does not support; reads and the CapabilityStatement are no searches.
func TestSearchPreferStrict(t *testing.T) {
	var mu sync.Mutex
	prefer := map[string]string{}
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		prefer[r.URL.Path+"?"+r.URL.Query().Get("page")] = r.Header.Get("Prefer")
		mu.Unlock()
		switch r.URL.Path {
		case "/metadata":
			fmt.Fprint(w, `{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1"}`)
		case "/Appointment/a1":
			fmt.Fprint(w, `{"resourceType":"Appointment","id":"a1","status":"booked","participant":[]}`)
		default:
			next := ""
			if r.URL.Query().Get("page") == "" {
				next = "Appointment?page=2"
			}
			fmt.Fprint(w, searchset(next, "a1"))
		}
	})
	c := newTestClient(t, rec.srv.URL, Options{})
	ctx := context.Background()
	if _, err := c.Search(ctx, "Appointment", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx, "Appointment", "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Capabilities(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/Appointment?": "handling=strict", "/Appointment?2": "handling=strict", "/Appointment/a1?": "", "/metadata?": ""}
	for k, v := range want {
		if got, ok := prefer[k]; !ok || got != v {
			t.Errorf("GET %s: Prefer %q (asked: %v), want %q", k, got, ok, v)
		}
	}
}

func TestSearchWithinByteBudget(t *testing.T) {
	page := func(n int) string { return searchset(fmt.Sprintf("Appointment?page=%d", n+1), fmt.Sprint(n)) }
	pageLen := int64(len(page(1))) // pages 1-9 are the same size
	tests := []struct {
		name       string
		gzip       bool
		budget     int64
		wantPages  int
		wantBudget bool
		wantTrunc  bool
	}{
		{name: "room for all pages up to the page cap", budget: 10 * pageLen, wantPages: 5, wantTrunc: true},
		{name: "room for exactly two", budget: 2 * pageLen, wantPages: 2, wantBudget: true},
		{name: "one byte short of two", budget: 2*pageLen - 1, wantPages: 1, wantBudget: true},
		{name: "less than a page", budget: pageLen / 2, wantPages: 0, wantBudget: true},
		{name: "gzip counts the decoded bytes", gzip: true, budget: 2*pageLen - 1, wantPages: 1, wantBudget: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
				n := 1
				fmt.Sscan(r.URL.Query().Get("page"), &n)
				body := []byte(page(n))
				if tt.gzip {
					w.Header().Set("Content-Encoding", "gzip")
					body = gzipped(t, body)
				}
				w.Write(body)
			})
			c := newTestClient(t, rec.srv.URL, Options{MaxPages: 5})
			got, err := c.SearchWithin(context.Background(), NewByteBudget(tt.budget), "Appointment", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pages != tt.wantPages || len(got.Resources) != tt.wantPages || got.OverBudget != tt.wantBudget || got.Truncated != tt.wantTrunc {
				t.Errorf("pages %d, resources %d, over budget %v, truncated %v; want %d, %d, %v, %v",
					got.Pages, len(got.Resources), got.OverBudget, got.Truncated, tt.wantPages, tt.wantPages, tt.wantBudget, tt.wantTrunc)
			}
		})
	}
}

// TestByteBudgetIsShared: two searches running at once spend one budget, and
// a spent budget sends no more requests.
func TestByteBudgetIsShared(t *testing.T) {
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
		n := 1
		fmt.Sscan(r.URL.Query().Get("page"), &n)
		fmt.Fprint(w, searchset(fmt.Sprintf("%s?page=%d", r.URL.Path[1:], n+1), fmt.Sprint(n)))
	})
	c := newTestClient(t, rec.srv.URL, Options{MaxPages: 50})
	pageLen := int64(len(searchset("Appointment?page=2", "1")))
	b := NewByteBudget(6 * pageLen)
	var wg sync.WaitGroup
	results := make([]*SearchResult, 2)
	for i, typ := range []string{"Appointment", "Encounter"} {
		wg.Go(func() {
			res, err := c.SearchWithin(context.Background(), b, typ, nil)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, r := range results {
		if !r.OverBudget {
			t.Errorf("a search of an endless server ended without running out of the budget: %+v", r)
		}
		total += r.Pages
	}
	// Pages of Encounter are a byte longer or shorter, and each search may
	// overrun by the one page it was reading: about six pages in all.
	if total < 4 || total > 6 {
		t.Errorf("%d pages kept in all, want about 6 of the shared budget", total)
	}
	if n := len(rec.requests()); n > 8 {
		t.Errorf("%d requests for a budget of about 6 pages", n)
	}
}
