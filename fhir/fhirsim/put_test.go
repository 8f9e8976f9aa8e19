package fhirsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Put replaces a resource or adds one, and searches and reads see it in
// date order at once.
func TestPut(t *testing.T) {
	s, err := New([]json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p1"}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a1","status":"booked","start":"2026-12-01T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/p1"}}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a2","status":"booked","start":"2026-12-02T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/p1"}}]}`),
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	search := func() string {
		t.Helper()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/Appointment?patient=p1", nil))
		var b struct {
			Entry []struct {
				Resource struct{ ID, Status string }
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range b.Entry {
			out = append(out, e.Resource.ID+":"+e.Resource.Status)
		}
		return strings.Join(out, " ")
	}
	if got := search(); got != "a1:booked a2:booked" {
		t.Fatalf("before: %s", got)
	}
	// a1 moves after a2 and is cancelled; a3 comes first.
	for _, r := range []string{
		`{"resourceType":"Appointment","id":"a1","status":"cancelled","start":"2026-12-03T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/p1"}}]}`,
		`{"resourceType":"Appointment","id":"a3","status":"booked","start":"2026-11-30T10:00:00+01:00","participant":[{"actor":{"reference":"Patient/p1"}}]}`,
	} {
		if err := s.Put(json.RawMessage(r)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := search(), "a3:booked a2:booked a1:cancelled"; got != want {
		t.Errorf("after: %s, want %s", got, want)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/Appointment/a1", nil))
	if !strings.Contains(rec.Body.String(), `"cancelled"`) {
		t.Errorf("read after put: %s", rec.Body)
	}
	if err := s.Put(json.RawMessage(`{"resourceType":"Appointment"}`)); err == nil {
		t.Error("a resource without an id was stored")
	}
	if n := len(s.Resources("Appointment")); n != 3 {
		t.Errorf("Resources: %d appointments, want 3", n)
	}
}
