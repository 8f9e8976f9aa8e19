package fhirsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const cpr = "urn:oid:1.2.208.176.1.2"

// fixture is a small source with hand-picked times for boundary checks.
func fixture() []json.RawMessage {
	return []json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2026-01-10T10:00:00Z"},"identifier":[{"system":"` + cpr + `","value":"3002410148"}]}`),
		json.RawMessage(`{"resourceType":"Patient","id":"p2","meta":{"lastUpdated":"2026-01-11T10:00:00Z"},"identifier":[{"system":"` + cpr + `","value":"3102380127"}]}`),
		json.RawMessage(`{"resourceType":"Patient","id":"p3","identifier":[{"system":"urn:other","value":"3002410148"},{"value":"nosystem"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a-late","meta":{"lastUpdated":"2026-02-20T12:00:00Z"},"status":"booked","start":"2026-03-01T11:00:00+01:00","end":"2026-03-01T11:30:00+01:00","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a-nine","meta":{"lastUpdated":"2026-02-01T08:00:00Z"},"status":"booked","start":"2026-03-01T09:00:00+01:00","end":"2026-03-01T09:30:00+01:00","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Location/l1"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a-ten","meta":{"lastUpdated":"2026-02-15T08:00:00Z"},"status":"booked","start":"2026-03-01T10:00:00+01:00","minutesDuration":20,"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"a-next","meta":{"lastUpdated":"2026-02-25T08:00:00Z"},"status":"booked","start":"2026-03-02T09:00:00+01:00","end":"2026-03-02T09:15:00+01:00","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Appointment","id":"b-other","meta":{"lastUpdated":"2026-02-01T08:00:00Z"},"status":"booked","start":"2026-03-01T10:00:00+01:00","end":"2026-03-01T10:30:00+01:00","participant":[{"actor":{"reference":"Patient/p2"},"status":"accepted"}]}`),
		json.RawMessage(`{"resourceType":"Encounter","id":"e-stay","meta":{"lastUpdated":"2026-03-03T12:00:00Z"},"status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/p1"},"period":{"start":"2026-02-27T14:00:00+01:00","end":"2026-03-03T11:00:00+01:00"}}`),
		json.RawMessage(`{"resourceType":"Encounter","id":"e-open","meta":{"lastUpdated":"2026-03-05T12:00:00Z"},"status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-05T08:00:00+01:00"}}`),
		json.RawMessage(`{"resourceType":"Encounter","id":"e-day","meta":{"lastUpdated":"2026-01-20T12:00:00Z"},"status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"},"period":{"start":"2026-01-20","end":"2026-01-20"}}`),
		json.RawMessage(`{"resourceType":"Location","id":"l1","meta":{"lastUpdated":"2025-01-01T00:00:00Z"},"name":"Klinik"}`),
	}
}

func newTestServer(t *testing.T, resources []json.RawMessage, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	sim, err := New(resources, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		} `json:"resource"`
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (b bundle) link(relation string) string {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL
		}
	}
	return ""
}

func (b bundle) ids() []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ID)
	}
	return out
}

// get fetches u and checks the FHIR content type.
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/fhir+json" {
		t.Errorf("GET %s: Content-Type %q, want application/fhir+json", u, got)
	}
	return resp.StatusCode, body
}

func search(t *testing.T, u string) bundle {
	t.Helper()
	status, body := get(t, u)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", u, status, body)
	}
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" || b.Total == nil {
		t.Fatalf("GET %s: not a searchset Bundle with total: %s", u, body)
	}
	included := false
	for _, e := range b.Entry {
		switch {
		case e.Search.Mode == "include":
			included = true
		case e.Search.Mode != "match" || included:
			t.Errorf("GET %s: entry %s search.mode %q (matches first, then what is included)", u, e.Resource.ID, e.Search.Mode)
		}
		if want := "/" + e.Resource.ResourceType + "/" + e.Resource.ID; !strings.HasSuffix(e.FullURL, want) || !strings.HasPrefix(e.FullURL, "http") {
			t.Errorf("GET %s: fullUrl %q does not end in %s", u, e.FullURL, want)
		}
	}
	return b
}

func outcomeCode(t *testing.T, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome: %s", body)
	}
	return oo.Issue[0].Code
}

func TestRead(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	tests := []struct {
		name, path string
		wantStatus int
		wantID     string // resource id, or OperationOutcome code when not 200
	}{
		{"patient", "/Patient/p1", 200, "p1"},
		{"appointment", "/Appointment/a-ten", 200, "a-ten"},
		{"missing id", "/Patient/nobody", 404, "not-found"},
		{"id of another type", "/Encounter/p1", 404, "not-found"},
		{"unknown path", "/Patient/p1/_history/1", 404, "not-found"},
		{"root", "/", 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, ts.URL+tt.path)
			if status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d: %s", status, tt.wantStatus, body)
			}
			if status != 200 {
				if got := outcomeCode(t, body); got != tt.wantID {
					t.Errorf("issue code: got %q, want %q", got, tt.wantID)
				}
				return
			}
			var r struct{ ID string }
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			if r.ID != tt.wantID {
				t.Errorf("id: got %q, want %q", r.ID, tt.wantID)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	status, body := get(t, ts.URL+"/metadata")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var cs struct {
		ResourceType string
		FhirVersion  string
		Rest         []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(body, &cs); err != nil {
		t.Fatal(err)
	}
	if cs.ResourceType != "CapabilityStatement" || cs.FhirVersion != "4.0.1" || len(cs.Rest) != 1 {
		t.Fatalf("got %s", body)
	}
	params := map[string][]string{}
	for _, r := range cs.Rest[0].Resource {
		for _, p := range r.SearchParam {
			params[r.Type] = append(params[r.Type], p.Name)
		}
	}
	for typ, want := range map[string][]string{
		"Appointment": {"_id", "_lastUpdated", "identifier", "patient", "subject", "date"},
		"Encounter":   {"date", "subject"},
		"Patient":     {"identifier", "_id"},
		"Location":    {"_id"},
	} {
		for _, w := range want {
			if !slices.Contains(params[typ], w) {
				t.Errorf("%s: search param %s not listed (got %v)", typ, w, params[typ])
			}
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	resp, err := http.Post(ts.URL+"/Patient", "application/fhir+json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("status: got %d, want 405", resp.StatusCode)
	}
	if got := outcomeCode(t, body); got != "not-supported" {
		t.Errorf("code: got %q", got)
	}
}

func TestSearch(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	tests := []struct {
		name  string
		query string // path and query, values pre-encoded
		want  []string
	}{
		{"identifier system|value", "/Patient?identifier=" + url.QueryEscape(cpr+"|3002410148"), []string{"p1"}},
		{"identifier value only", "/Patient?identifier=3002410148", []string{"p1", "p3"}},
		{"identifier other system", "/Patient?identifier=" + url.QueryEscape("urn:other|3002410148"), []string{"p3"}},
		{"identifier no system", "/Patient?identifier=" + url.QueryEscape("|nosystem"), []string{"p3"}},
		{"identifier system only", "/Patient?identifier=" + url.QueryEscape(cpr+"|"), []string{"p1", "p2"}},
		{"identifier OR", "/Patient?identifier=" + url.QueryEscape(cpr+"|3102380127,nosystem"), []string{"p2", "p3"}},
		{"identifier unknown", "/Patient?identifier=0000000000", nil},
		{"_id", "/Appointment?_id=a-ten,b-other", []string{"a-ten", "b-other"}},
		{"appointment by patient ref", "/Appointment?patient=Patient/p1", []string{"a-nine", "a-ten", "a-late", "a-next"}},
		{"appointment by bare id", "/Appointment?patient=p2", []string{"b-other"}},
		{"appointment by absolute url", "/Appointment?patient=" + url.QueryEscape("http://elsewhere/fhir/Patient/p2"), []string{"b-other"}},
		{"appointment by subject", "/Appointment?subject=p2", []string{"b-other"}},
		{"encounter by subject", "/Encounter?subject=Patient/p1", []string{"e-stay", "e-open"}},
		{"encounter by patient with modifier", "/Encounter?patient:Patient=p2", []string{"e-day"}},
		{"non-patient reference does not match", "/Appointment?patient=l1", nil},
		{"unknown parameter ignored", "/Appointment?patient=p2&status=booked&_sort=date", []string{"b-other"}},
		{"patient param ignored on Patient", "/Patient?patient=p1&_id=p2", []string{"p2"}},
		{"type without resources", "/Observation?patient=p1", nil},
		{"_count=0 gives no entries", "/Appointment?_count=0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := search(t, ts.URL+tt.query)
			if got := b.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.name != "_count=0 gives no entries" && *b.Total != len(tt.want) {
				t.Errorf("total: got %d, want %d", *b.Total, len(tt.want))
			}
		})
	}
}

// TestIgnorePatient: a server that does not support patient= (or subject=)
// answers a search for one patient's appointments with everyone's.
func TestIgnorePatient(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{IgnorePatient: true})
	tests := []struct {
		name, query string
		want        []string
	}{
		{"patient", "/Appointment?patient=Patient/p2", []string{"a-nine", "a-ten", "b-other", "a-late", "a-next"}},
		{"subject with modifier", "/Encounter?subject:Patient=p2", []string{"e-day", "e-stay", "e-open"}},
		{"other parameters still count", "/Appointment?patient=p2&_id=a-ten", []string{"a-ten"}},
		{"identifier still counts", "/Patient?identifier=" + url.QueryEscape(cpr+"|3102380127"), []string{"p2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := search(t, ts.URL+tt.query).ids(); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSearchDate(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{TimeZone: mustZone(t, "Europe/Copenhagen")})
	// Appointments of p1 start 2026-03-01 09:00, 10:00, 11:00 and 03-02 09:00 (+01:00).
	tests := []struct {
		name  string
		typ   string
		dates []string
		want  []string
	}{
		{"ge is inclusive", "Appointment", []string{"ge2026-03-01T10:00:00+01:00"}, []string{"a-ten", "a-late", "a-next"}},
		{"gt is exclusive", "Appointment", []string{"gt2026-03-01T10:00:00+01:00"}, []string{"a-late", "a-next"}},
		{"lt is exclusive", "Appointment", []string{"lt2026-03-01T10:00:00+01:00"}, []string{"a-nine"}},
		{"le is inclusive", "Appointment", []string{"le2026-03-01T10:00:00+01:00"}, []string{"a-nine", "a-ten"}},
		{"eq an instant", "Appointment", []string{"eq2026-03-01T10:00:00+01:00"}, []string{"a-ten"}},
		{"no prefix is eq", "Appointment", []string{"2026-03-01T10:00:00+01:00"}, []string{"a-ten"}},
		{"other offset, same instant", "Appointment", []string{"ge2026-03-01T09:00:00Z"}, []string{"a-ten", "a-late", "a-next"}},
		{"UTC Z", "Appointment", []string{"lt2026-03-01T09:00:00Z"}, []string{"a-nine"}},
		{"window ge and lt ANDed", "Appointment", []string{"ge2026-03-01T09:30:00+01:00", "lt2026-03-01T11:00:00+01:00"}, []string{"a-ten"}},
		{"date-only eq is the whole day", "Appointment", []string{"eq2026-03-01"}, []string{"a-nine", "a-ten", "a-late"}},
		{"date-only gt starts the next day", "Appointment", []string{"gt2026-03-01"}, []string{"a-next"}},
		{"date-only lt ends before the day", "Appointment", []string{"lt2026-03-02"}, []string{"a-nine", "a-ten", "a-late"}},
		{"date-only le includes the day", "Appointment", []string{"le2026-03-01"}, []string{"a-nine", "a-ten", "a-late"}},
		{"minutes precision", "Appointment", []string{"ge2026-03-01T10:00+01:00"}, []string{"a-ten", "a-late", "a-next"}},
		{"encounter overlapping a window", "Encounter", []string{"ge2026-03-01", "lt2026-03-02"}, []string{"e-stay"}},
		{"encounter end is inclusive at its precision", "Encounter", []string{"ge2026-03-03T11:00:00+01:00"}, []string{"e-stay", "e-open"}},
		{"encounter ended before the window", "Encounter", []string{"ge2026-03-03T11:00:01+01:00"}, []string{"e-open"}},
		{"open encounter matches ge far ahead", "Encounter", []string{"ge2030-01-01"}, []string{"e-open"}},
		{"open encounter not before its start", "Encounter", []string{"lt2026-03-05T08:00:00+01:00"}, []string{"e-day", "e-stay"}},
		{"date-only period", "Encounter", []string{"eq2026-01-20"}, []string{"e-day"}},
		{"sa starts after", "Encounter", []string{"sa2026-03-04"}, []string{"e-open"}},
		{"eb ends before", "Encounter", []string{"eb2026-02-01"}, []string{"e-day"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"patient": {"p1"}}
			if tt.typ == "Encounter" {
				v = url.Values{}
			}
			for _, d := range tt.dates {
				v.Add("date", d)
			}
			b := search(t, ts.URL+"/"+tt.typ+"?"+v.Encode())
			if got := b.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSearchDateUnencodedPlus(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	// curl users write the offset's "+" raw; it arrives as a space.
	b := search(t, ts.URL+"/Appointment?patient=p1&date=ge2026-03-01T11:00:00+01:00")
	if got, want := b.ids(), []string{"a-late", "a-next"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSearchBadRequest(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	tests := []struct{ name, query string }{
		{"month 13", "/Appointment?date=ge2026-13-01"},
		{"not a date", "/Appointment?date=tomorrow"},
		{"unknown prefix", "/Appointment?date=xx2026-01-01"},
		{"day out of range", "/Encounter?date=2026-02-30"},
		{"bad _lastUpdated", "/Patient?_lastUpdated=gt2026-01-01T25:00:00Z"},
		{"bad _count", "/Appointment?_count=many"},
		{"negative _count", "/Appointment?_count=-1"},
		{"bad _page", "/Appointment?_page=abc"},
		{"unsupported modifier", "/Patient?identifier:missing=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, ts.URL+tt.query)
			if status != http.StatusBadRequest {
				t.Fatalf("status: got %d, want 400: %s", status, body)
			}
			if got := outcomeCode(t, body); got != "invalid" {
				t.Errorf("code: got %q, want invalid", got)
			}
		})
	}
}

func TestSearchLastUpdated(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	tests := []struct {
		name, value string
		want        []string
	}{
		{"gt is exclusive", "gt2026-02-15T08:00:00Z", []string{"a-late", "a-next"}},
		{"ge is inclusive", "ge2026-02-15T08:00:00Z", []string{"a-ten", "a-late", "a-next"}},
		{"lt", "lt2026-02-15T08:00:00Z", []string{"a-nine", "b-other"}},
		{"date only", "gt2026-02-20", []string{"a-next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := search(t, ts.URL+"/Appointment?_lastUpdated="+url.QueryEscape(tt.value))
			if got := b.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	_, ts := newTestServer(t, fixture(), Options{})
	tests := []struct {
		name, query string
		count       int
		want        []string
	}{
		{"appointments by 2", "/Appointment?patient=p1&_count=2", 2, []string{"a-nine", "a-ten", "a-late", "a-next"}},
		{"all appointments by 2", "/Appointment?_count=2", 2, []string{"a-nine", "a-ten", "b-other", "a-late", "a-next"}},
		{"by 1 with a date filter", "/Appointment?patient=p1&_count=1&date=" + url.QueryEscape("ge2026-03-01T10:00:00+01:00"), 1, []string{"a-ten", "a-late", "a-next"}},
		{"default count fits", "/Patient", 50, []string{"p1", "p2", "p3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			next := ts.URL + tt.query
			for pages := 0; next != ""; pages++ {
				if pages > 10 {
					t.Fatalf("more pages than entries; last next link %s", next)
				}
				if !strings.HasPrefix(next, ts.URL+"/") {
					t.Fatalf("next link %q is not an absolute URL on the server", next)
				}
				b := search(t, next)
				if *b.Total != len(tt.want) {
					t.Errorf("total: got %d, want %d", *b.Total, len(tt.want))
				}
				if len(b.Entry) > tt.count {
					t.Errorf("page has %d entries, more than _count %d", len(b.Entry), tt.count)
				}
				if b.link("self") == "" {
					t.Errorf("no self link")
				}
				got = append(got, b.ids()...)
				next = b.link("next")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("collected %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	sim, err := New(fixture(), Options{BaseURL: "http://sim.example/fhir/gp/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		handler http.Handler
		path    string
	}{
		{"request under the base path", sim, "/fhir/gp/Appointment?patient=p1&_count=3"},
		{"mounted with StripPrefix", http.StripPrefix("/fhir/gp", sim), "/fhir/gp/Appointment?patient=p1&_count=3"},
		{"request at the root", sim, "/Appointment?patient=p1&_count=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var b bundle
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if got, want := b.Entry[0].FullURL, "http://sim.example/fhir/gp/Appointment/a-nine"; got != want {
				t.Errorf("fullUrl: got %q, want %q", got, want)
			}
			if got, want := b.link("next"), "http://sim.example/fhir/gp/Appointment?_count=3&_page=3&patient=p1"; got != want {
				t.Errorf("next: got %q, want %q", got, want)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		wantStatus int
		wantCode   string
	}{
		{"fail status 500", Options{FailStatus: 500}, 500, "exception"},
		{"fail status 401", Options{FailStatus: 401}, 401, "login"},
		{"fail status 429", Options{FailStatus: 429}, 429, "throttled"},
		{"failure rate 1", Options{FailureRate: 1, Seed: 7}, 503, "transient"},
		{"latency still answers", Options{Latency: 20 * time.Millisecond}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fixture(), tt.opts)
			for _, path := range []string{"/metadata", "/Patient/p1", "/Appointment?patient=p1"} {
				status, body := get(t, ts.URL+path)
				if status != tt.wantStatus {
					t.Fatalf("%s: status got %d, want %d", path, status, tt.wantStatus)
				}
				if tt.wantCode != "" {
					if got := outcomeCode(t, body); got != tt.wantCode {
						t.Errorf("%s: code got %q, want %q", path, got, tt.wantCode)
					}
				}
			}
		})
	}
}

func TestFailureRateIsSeeded(t *testing.T) {
	statuses := func() []int {
		_, ts := newTestServer(t, fixture(), Options{FailureRate: 0.5, Seed: 42})
		var out []int
		for range 40 {
			status, _ := get(t, ts.URL+"/Patient/p1")
			out = append(out, status)
		}
		return out
	}
	first, second := statuses(), statuses()
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different failures:\n%v\n%v", first, second)
	}
	if !slices.Contains(first, 503) || !slices.Contains(first, 200) {
		t.Errorf("failure rate 0.5 over 40 requests: got %v, want both 200 and 503", first)
	}
}

func TestSetDown(t *testing.T) {
	sim, ts := newTestServer(t, fixture(), Options{})
	steps := []struct {
		name string
		down bool
		want int
	}{
		{"up", false, 200},
		{"down", true, 503},
		{"back up", false, 200},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			sim.SetDown(st.down)
			if sim.Down() != st.down {
				t.Fatalf("Down() = %v after SetDown(%v)", sim.Down(), st.down)
			}
			status, body := get(t, ts.URL+"/Appointment?patient=p1")
			if status != st.want {
				t.Fatalf("status: got %d, want %d", status, st.want)
			}
			if st.want == 503 && outcomeCode(t, body) != "transient" {
				t.Errorf("down answer is not a transient OperationOutcome: %s", body)
			}
			if got := sim.Requests(); got != int64(i+1) {
				t.Errorf("Requests: got %d, want %d", got, i+1)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	good := fixture()
	with := func(i int, raw string) []json.RawMessage {
		rs := slices.Clone(good)
		rs[i] = json.RawMessage(raw)
		return rs
	}
	tests := []struct {
		name      string
		resources []json.RawMessage
		opts      Options
		want      string
	}{
		{"invalid JSON", with(2, `{"resourceType":`), Options{}, "resource 2"},
		{"no resourceType", with(1, `{"id":"x"}`), Options{}, "resource 1"},
		{"no id", with(3, `{"resourceType":"Appointment"}`), Options{}, "resource 3"},
		{"bad id", with(0, `{"resourceType":"Patient","id":"a b"}`), Options{}, "resource 0"},
		{"bad start", with(4, `{"resourceType":"Appointment","id":"x","start":"2026-02-30T10:00:00Z"}`), Options{}, "resource 4"},
		{"bad lastUpdated", with(5, `{"resourceType":"Patient","id":"x","meta":{"lastUpdated":"yesterday"}}`), Options{}, "resource 5"},
		{"failure rate above 1", good, Options{FailureRate: 1.5}, "failure rate"},
		{"fail status 200", good, Options{FailStatus: 200}, "fail status"},
		{"relative base URL", good, Options{BaseURL: "/fhir"}, "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.resources, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestDuplicateReplaces(t *testing.T) {
	rs := append(fixture(), json.RawMessage(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"`+cpr+`","value":"changed"}]}`))
	_, ts := newTestServer(t, rs, Options{})
	if got := search(t, ts.URL+"/Patient?identifier=changed").ids(); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("later duplicate: got %v, want [p1]", got)
	}
	if got := search(t, ts.URL+"/Patient").ids(); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("all patients: got %v, want each once", got)
	}
}

func TestLoadDirExamples(t *testing.T) {
	resources, err := LoadDir("../../../shared/fhir-examples")
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	_, ts := newTestServer(t, resources, Options{})
	tests := []struct {
		name, query string
		want        int
	}{
		// The MedCom test person "Elmer" under 13 resource ids (README.md there).
		{"Elmer by CPR", "/Patient?identifier=" + url.QueryEscape("urn:oid:1.2.208.176.1.2|2509479989"), 13},
		// Synthea refers to its patient as urn:uuid: inside a transaction Bundle.
		{"Synthea encounters by patient", "/Encounter?patient=d78af07c-9cb9-4f31-9b11-c45a28f2eec8", 3},
		{"eCPR patient", "/Patient?identifier=" + url.QueryEscape("urn:oid:1.2.208.176.1.6.1.1|0703921VJ4"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := search(t, ts.URL+tt.query)
			if *b.Total != tt.want || len(b.Entry) != tt.want {
				t.Errorf("got total %d, %d entries; want %d", *b.Total, len(b.Entry), tt.want)
			}
		})
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing folder", nil, "no such file"},
		{"not JSON", map[string]string{"a.json": "nope"}, "a.json"},
		{"no resourceType", map[string]string{"sub/b.json": `{"id":"x"}`}, "b.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir() + "/data"
			writeFiles(t, dir, tt.files)
			_, err := LoadDir(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadDirBundlesAndNesting(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.json":          `{"resourceType":"Patient","id":"one"}`,
		"notes.txt":       `not FHIR`,
		"sub/b.json":      `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"two"}},{"request":{"method":"DELETE"}},{"resource":{"resourceType":"Encounter","id":"e","subject":{"reference":"Patient/two"}}}]}`,
		"sub/deep/c.json": `{"resourceType":"Location","id":"l"}`,
	})
	got, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, raw := range got {
		var r struct{ ResourceType, ID string }
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ResourceType+"/"+r.ID)
	}
	if want := []string{"Patient/one", "Patient/two", "Encounter/e", "Location/l"}; !slices.Equal(ids, want) {
		t.Errorf("got %v, want %v", ids, want)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("zone %s: %v", name, err)
	}
	return loc
}
