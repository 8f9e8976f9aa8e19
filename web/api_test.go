package web

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
)

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func assertKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: missing key %q; have %v", what, k, keysOf(m))
		}
	}
}

func TestTimelineJSONShape(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	rec := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
		t.Errorf("Content-Length = %q, want %q", got, want)
	}
	var doc map[string]any
	decodeJSON(t, rec, &doc)
	assertKeys(t, "timeline", doc, "patient", "generated_at", "stale", "entries", "sources")

	if got, want := doc["patient"], map[string]any{"handle": testHandle}; !equalJSON(got, want) {
		t.Errorf("patient = %v, want %v", got, want)
	}
	if got, want := doc["stale"], true; got != want {
		t.Errorf("stale = %v, want %v (the GP source failed)", got, want)
	}
	if got, want := doc["generated_at"], "2026-12-01T11:58:00+01:00"; got != want {
		t.Errorf("generated_at = %v, want %v", got, want)
	}

	entries, _ := doc["entries"].([]any)
	if got, want := len(entries), len(testTimeline(t).Entries); got != want {
		t.Fatalf("len(entries) = %d, want %d", got, want)
	}
	adm, _ := entries[1].(map[string]any)
	assertKeys(t, "entry", adm, "id", "source", "sector", "kind", "status", "fhir_status", "start", "end",
		"all_day", "title", "description", "instruction", "place", "medium", "video_url", "people",
		"organization", "stale", "updated", "provenance", "fetched_at", "contact", "sensitivity")
	checks := []struct{ key, want string }{
		{"id", "hospital/Encounter/adm1"},
		{"sector", "hospital"},
		{"kind", "admission"},
		{"status", "booked"},
		{"fhir_status", "planned"},
		{"start", "2026-12-01T10:00:00+01:00"},
		{"end", "2026-12-04T12:00:00+01:00"},
		{"updated", "2026-12-01T08:00:00+01:00"},
		{"instruction", "Mød fastende fra kl. 24"},
		// A fresh entry was fetched when its source last answered.
		{"fetched_at", "2026-12-01T11:58:00+01:00"},
	}
	for _, c := range checks {
		if got := adm[c.key]; got != c.want {
			t.Errorf("entry[%q] = %v, want %v", c.key, got, c.want)
		}
	}
	place, _ := adm["place"].(map[string]any)
	assertKeys(t, "place", place, "name", "address", "lat", "lon")
	if got, want := place["lat"], 55.6963; got != want {
		t.Errorf("place.lat = %v, want %v", got, want)
	}
	prov, _ := adm["provenance"].([]any)
	if got, want := len(prov), 2; got != want {
		t.Fatalf("len(provenance) = %d, want %d", got, want)
	}
	p0, _ := prov[0].(map[string]any)
	assertKeys(t, "provenance", p0, "source", "type", "id", "version")
	if got, want := p0["version"], "3"; got != want {
		t.Errorf("provenance[0].version = %v, want %v", got, want)
	}

	stale, _ := entries[3].(map[string]any)
	if got, want := stale["stale"], true; got != want {
		t.Errorf("stale entry: stale = %v, want %v", got, want)
	}
	if got, want := stale["fetched_at"], "2026-12-01T10:42:00+01:00"; got != want {
		t.Errorf("stale entry: fetched_at = %v, want %v", got, want)
	}
	allDay, _ := entries[2].(map[string]any)
	if got, want := allDay["all_day"], true; got != want {
		t.Errorf("all_day = %v, want %v", got, want)
	}
	if got, ok := allDay["people"].([]any); !ok || len(got) != 0 {
		t.Errorf("people of an entry without people = %#v, want []", allDay["people"])
	}
	video, _ := entries[4].(map[string]any)
	if got, want := video["video_url"], videoURL; got != want {
		t.Errorf("video_url = %v, want %v", got, want)
	}

	sources, _ := doc["sources"].([]any)
	if got, want := len(sources), 3; got != want {
		t.Fatalf("len(sources) = %d, want %d", got, want)
	}
	gp, _ := sources[2].(map[string]any)
	assertKeys(t, "source", gp, "name", "display", "sector", "ok", "error", "error_kind", "last_success",
		"entries", "duration_ms", "skipped")
	sourceChecks := []struct {
		key  string
		want any
	}{
		{"name", failedSourceGP},
		{"sector", "gp"},
		{"ok", false},
		{"error_kind", "unavailable"},
		{"last_success", "2026-12-01T10:42:00+01:00"},
		{"entries", 1.0},
		{"duration_ms", 5000.0},
	}
	for _, c := range sourceChecks {
		if got := gp[c.key]; got != c.want {
			t.Errorf("source[%q] = %v, want %v", c.key, got, c.want)
		}
	}
}

func equalJSON(a, b any) bool {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	if !ok1 || !ok2 || len(am) != len(bm) {
		return false
	}
	for k, v := range bm {
		if am[k] != v {
			return false
		}
	}
	return true
}

func TestUnknownHandle(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)

	t.Run("json", func(t *testing.T) {
		rec := env.do(t, http.MethodGet, "/api/v1/patients/nobody/timeline", "")
		assertAPIError(t, rec, http.StatusNotFound, "not_found")
	})
	t.Run("html", func(t *testing.T) {
		rec := env.do(t, http.MethodGet, "/p/nobody", "")
		if got, want := rec.Code, http.StatusNotFound; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", got)
		}
		body := rec.Body.String()
		for _, want := range []string{`<html lang="da">`, "Siden findes ikke", "Vi kender ikke den patient."} {
			if !strings.Contains(body, want) {
				t.Errorf("404 page lacks %q", want)
			}
		}
	})
	t.Run("unknown route is json under api", func(t *testing.T) {
		rec := env.do(t, http.MethodGet, "/api/v1/nothing", "")
		assertAPIError(t, rec, http.StatusNotFound, "not_found")
	})
}

func TestLookupAPI(t *testing.T) {
	const def = "urn:default"
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string                // error code when not 200
		wantID     aggregator.Identifier // what Register got when 200
	}{
		{"system and value", `{"identifier": "urn:x|123"}`, http.StatusOK, "", aggregator.Identifier{System: "urn:x", Value: "123"}},
		{"bare value takes default system", `{"identifier": "4567"}`, http.StatusOK, "", aggregator.Identifier{System: def, Value: "4567"}},
		{"empty system takes default system", `{"identifier": "|89"}`, http.StatusOK, "", aggregator.Identifier{System: def, Value: "89"}},
		{"spaces trimmed", `{"identifier": "  urn:x | 123 "}`, http.StatusOK, "", aggregator.Identifier{System: "urn:x", Value: "123"}},
		{"bad json", `{"identifier": `, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"not an object", `["x"]`, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"trailing data", `{"identifier": "1"} {}`, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"empty identifier", `{"identifier": ""}`, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"missing identifier", `{}`, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"system without value", `{"identifier": "urn:x|"}`, http.StatusBadRequest, "bad_request", aggregator.Identifier{}},
		{"body over 64 KiB", `{"identifier": "` + strings.Repeat("9", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "too_large", aggregator.Identifier{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, Config{DefaultIdentifierSystem: def}, nil)
			rec := env.do(t, http.MethodPost, "/api/v1/patients/lookup", tt.body, "Content-Type: application/json")
			if tt.wantStatus != http.StatusOK {
				assertAPIError(t, rec, tt.wantStatus, tt.wantCode)
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			var got map[string]any
			decodeJSON(t, rec, &got)
			h, _ := got["handle"].(string)
			if h == "" {
				t.Fatalf("handle missing in %s", rec.Body)
			}
			if gotID := env.pats.lastRegistered(); gotID != tt.wantID {
				t.Errorf("registered %+v, want %+v", gotID, tt.wantID)
			}
			// The handle must lead to the timeline.
			if rec := env.do(t, http.MethodGet, "/api/v1/patients/"+h+"/timeline", ""); rec.Code != http.StatusOK {
				t.Errorf("timeline of looked-up handle: status %d", rec.Code)
			}
		})
	}
}

func TestLookupAPIStableHandle(t *testing.T) {
	env := newTestEnv(t, Config{DefaultIdentifierSystem: testSystem}, nil)
	handle := func(body string) string {
		t.Helper()
		rec := env.do(t, http.MethodPost, "/api/v1/patients/lookup", body)
		var got struct{ Handle string }
		decodeJSON(t, rec, &got)
		return got.Handle
	}
	a, b := handle(`{"identifier":"`+fakeCPR+`"}`), handle(`{"identifier":"`+testSystem+`|`+fakeCPR+`"}`)
	if a == "" || a != b {
		t.Errorf("handles %q and %q, want the same non-empty handle for bare and qualified value", a, b)
	}
}

func TestDemoList(t *testing.T) {
	demo := []DemoPatient{{Handle: "demo-a", Name: "Karen Jensen"}, {Handle: "demo-b", Name: "Ole Sørensen"}}

	t.Run("html", func(t *testing.T) {
		env := newTestEnv(t, Config{Demo: demo}, nil)
		rec := env.do(t, http.MethodGet, "/", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
		body := rec.Body.String()
		for _, want := range []string{`<a href="/p/demo-a">Karen Jensen</a>`, `<a href="/p/demo-b">Ole Sørensen</a>`} {
			if !strings.Contains(body, want) {
				t.Errorf("front page lacks %s", want)
			}
		}
		if strings.Contains(between(body, "<title>", "</title>"), "Karen") {
			t.Errorf("a patient name is in the page title")
		}
	})
	t.Run("api", func(t *testing.T) {
		env := newTestEnv(t, Config{Demo: demo}, nil)
		rec := env.do(t, http.MethodGet, "/api/v1/patients", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
		var got []map[string]string
		decodeJSON(t, rec, &got)
		want := []map[string]string{{"handle": "demo-a", "name": "Karen Jensen"}, {"handle": "demo-b", "name": "Ole Sørensen"}}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range want {
			if got[i]["handle"] != want[i]["handle"] || got[i]["name"] != want[i]["name"] {
				t.Errorf("patient %d = %v, want %v", i, got[i], want[i])
			}
		}
	})
	t.Run("api outside demo mode", func(t *testing.T) {
		env := newTestEnv(t, Config{}, nil)
		assertAPIError(t, env.do(t, http.MethodGet, "/api/v1/patients", ""), http.StatusNotFound, "not_found")
	})
	t.Run("html outside demo mode has the form only", func(t *testing.T) {
		env := newTestEnv(t, Config{}, nil)
		body := env.do(t, http.MethodGet, "/", "").Body.String()
		if strings.Contains(body, "Demopatienter") {
			t.Errorf("demo list shown outside demo mode")
		}
		if !strings.Contains(body, `<form method="post" action="/lookup"`) {
			t.Errorf("lookup form missing")
		}
	})
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	before, _, _ := strings.Cut(after, to)
	return before
}

// A timeline cached before links were checked, or built by hand, still
// sends no script link: the JSON keeps only https video links.
func TestTimelineJSONKeepsOnlyHTTPSLinks(t *testing.T) {
	tl := testTimeline(t)
	for i := range tl.Entries {
		if tl.Entries[i].Medium == aggregator.MediumVideo {
			tl.Entries[i].VideoURL = "javascript:alert(document.domain)"
		}
	}
	env := newTestEnv(t, Config{}, fakeTimelines{tl: tl})
	for _, path := range []string{"/api/v1/patients/" + testHandle + "/timeline", "/p/" + testHandle} {
		if body := env.do(t, http.MethodGet, path, "").Body.String(); strings.Contains(body, "javascript:") {
			t.Errorf("%s carries the javascript: link", path)
		}
	}
}
