package fhirsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tinyPopulation has n patients "p<i>" (identifier "cpr-<i>") with two
// appointments each; a change moves the first by an hour.
type tinyPopulation struct{ n int }

var tinyCreated = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (p tinyPopulation) Len() int { return p.n }
func (p tinyPopulation) Shared() []json.RawMessage {
	return []json.RawMessage{json.RawMessage(`{"resourceType":"Location","id":"l1","name":"Klinik"}`)}
}
func (p tinyPopulation) Created() time.Time { return tinyCreated }
func (p tinyPopulation) Find(system, value string) (int, bool) {
	if system != "" && system != cpr {
		return 0, false
	}
	return p.number(strings.TrimPrefix(value, "cpr-"))
}
func (p tinyPopulation) number(s string) (int, bool) {
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < p.n
}
func (p tinyPopulation) Owner(typ, id string) (int, bool) {
	num, _, _ := strings.Cut(strings.TrimLeft(id, "pa"), "-")
	return p.number(num)
}
func (p tinyPopulation) Resources(i int, changes []time.Time) []json.RawMessage {
	out := []json.RawMessage{json.RawMessage(fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","meta":{"lastUpdated":"2025-12-01T00:00:00Z"},"identifier":[{"system":%q,"value":"cpr-%d"}]}`, i, cpr, i))}
	for j := range 2 {
		start, updated := time.Date(2026, 3, 1, 9+j, 0, 0, 0, time.UTC), "2025-12-01T00:00:00Z"
		if j == 0 && len(changes) > 0 {
			start = start.Add(time.Duration(len(changes)) * time.Hour)
			updated = changes[len(changes)-1].Format(time.RFC3339Nano)
		}
		out = append(out, json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":"a%d-%d","meta":{"lastUpdated":%q},"status":"booked","start":%q,"end":%q,"participant":[{"actor":{"reference":"Patient/p%d"},"status":"accepted"},{"actor":{"reference":"Location/l1"},"status":"accepted"}]}`,
			i, j, updated, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339), i)))
	}
	return out
}

func TestPopulation(t *testing.T) {
	sim, err := NewPopulation(tinyPopulation{n: 50_000}, Options{Include: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	srv := ts.URL
	getJSON := func(t *testing.T, u string, v any) int {
		t.Helper()
		code, body := get(t, u)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return code
	}
	find := func(t *testing.T, path string, q url.Values) bundle {
		t.Helper()
		return search(t, srv+path+"?"+q.Encode())
	}
	t.Run("ByIdentifier", func(t *testing.T) {
		b := find(t, "/Patient", url.Values{"identifier": {cpr + "|cpr-41234"}})
		if got := b.ids(); !slices.Equal(got, []string{"p41234"}) {
			t.Errorf("Patient by identifier = %v", got)
		}
	})
	t.Run("ByPatientWithInclude", func(t *testing.T) {
		b := find(t, "/Appointment", url.Values{"patient": {"Patient/p7"}, "date": {"ge2026-03-01"}, "_include": {"Appointment:actor"}})
		if got := b.ids(); !slices.Equal(got, []string{"a7-0", "a7-1", "p7"}) || b.Entry[2].Search.Mode != "include" || *b.Total != 2 {
			t.Errorf("Appointments of p7 with their Patient included = %v (%+v)", got, b.Entry)
		}
	})
	t.Run("Read", func(t *testing.T) {
		for _, path := range []string{"/Appointment/a49999-1", "/Patient/p3", "/Location/l1"} {
			var r struct{ ID string }
			if code := getJSON(t, srv+path, &r); code != http.StatusOK || !strings.HasSuffix(path, "/"+r.ID) {
				t.Errorf("GET %s = %d, id %q", path, code, r.ID)
			}
		}
		if code := getJSON(t, srv+"/Appointment/a50000-0", &struct{}{}); code != http.StatusNotFound {
			t.Errorf("a patient beyond the population: %d, want 404", code)
		}
	})
	t.Run("ChangesShowOnLastUpdated", func(t *testing.T) {
		before := time.Now().UTC().Add(-time.Millisecond)
		var at []time.Time
		for _, i := range []int{123, 45_678, 123} {
			ts, err := sim.Change(i)
			if err != nil {
				t.Fatal(err)
			}
			at = append(at, ts)
		}
		b := find(t, "/Appointment", url.Values{"_lastUpdated": {"gt" + before.Format(time.RFC3339Nano)}, "_include": {"Appointment:patient"}})
		// By start: p123's first appointment moved twice, p45678's once.
		if got := b.ids(); !slices.Equal(got, []string{"a45678-0", "a123-0", "p45678", "p123"}) {
			t.Errorf("changed since before = %v", got)
		}
		b = find(t, "/Appointment", url.Values{"_lastUpdated": {"gt" + at[1].Format(time.RFC3339Nano)}})
		if got := b.ids(); !slices.Equal(got, []string{"a123-0"}) {
			t.Errorf("changed after the second change = %v, want the third's", got)
		}
		b = find(t, "/Appointment", url.Values{"patient": {"p123"}})
		if got := b.ids(); !slices.Equal(got, []string{"a123-1", "a123-0"}) {
			t.Errorf("p123 after two changes = %v, want its first appointment moved after the second", got)
		}
	})
	t.Run("TooCostly", func(t *testing.T) {
		var oo struct {
			Issue []struct{ Code string }
		}
		code := getJSON(t, srv+"/Appointment?date=ge2026-01-01", &oo)
		if code != http.StatusBadRequest || len(oo.Issue) != 1 || oo.Issue[0].Code != "too-costly" {
			t.Errorf("a search of every patient = %d %+v, want 400 too-costly", code, oo)
		}
		b := find(t, "/Location", nil)
		if got := b.ids(); !slices.Equal(got, []string{"l1"}) {
			t.Errorf("shared resources = %v", got)
		}
	})
	if _, err := sim.Change(50_000); err == nil {
		t.Error("changed a patient beyond the population")
	}
}
