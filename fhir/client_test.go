package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an httptest server whose handler the test sets, and which
// records every request's URI and Accept header.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	uris   []string
	accept []string
}

func newRecorder(t *testing.T, h func(rec *recorder, w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.uris = append(rec.uris, r.URL.RequestURI())
		rec.accept = append(rec.accept, r.Header.Get("Accept"))
		rec.mu.Unlock()
		h(rec, w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.uris)
}

// newTestClient makes a client whose retries do not wait unless opts says
// how to.
func newTestClient(t testing.TB, base string, opts Options) *Client {
	t.Helper()
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	c, err := NewClient(base, nil, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// searchset builds a search Bundle of Appointments with the given ids; next
// may be "".
func searchset(next string, ids ...string) string {
	var entries []string
	for _, id := range ids {
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"Appointment/%s","resource":{"resourceType":"Appointment","id":%q,"status":"booked","participant":[]},"search":{"mode":"match"}}`, id, id))
	}
	links := `{"relation":"self","url":"ignored"}`
	if next != "" {
		links += fmt.Sprintf(`,{"relation":"next","url":%q}`, next)
	}
	return fmt.Sprintf(`{"resourceType":"Bundle","type":"searchset","link":[%s],"entry":[%s]}`, links, strings.Join(entries, ","))
}

func ids(t *testing.T, rs []json.RawMessage) []string {
	t.Helper()
	out := []string{}
	for _, r := range rs {
		var v struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.ResourceType+"/"+v.ID)
	}
	return out
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name     string
		base     string
		opts     Options
		wantBase string
		wantErr  bool
	}{
		{name: "http", base: "http://fhir.example/r4", wantBase: "http://fhir.example/r4"},
		{name: "https with trailing slash", base: "https://fhir.example/r4/", wantBase: "https://fhir.example/r4"},
		{name: "root", base: "http://127.0.0.1:8080", wantBase: "http://127.0.0.1:8080"},
		{name: "relative", base: "/fhir", wantErr: true},
		{name: "no scheme", base: "fhir.example/r4", wantErr: true},
		{name: "ftp", base: "ftp://fhir.example/", wantErr: true},
		{name: "no host", base: "http:///fhir", wantErr: true},
		{name: "query", base: "http://fhir.example/r4?x=1", wantErr: true},
		{name: "fragment", base: "http://fhir.example/r4#x", wantErr: true},
		{name: "credentials", base: "http://u:p@fhir.example/r4", wantErr: true},
		{name: "unparsable", base: "http://[::1", wantErr: true},
		{name: "negative page size", base: "http://fhir.example", opts: Options{PageSize: -1}, wantErr: true},
		{name: "negative body limit", base: "http://fhir.example", opts: Options{MaxBodyBytes: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.base, nil, tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewClient(%q) succeeded, want error", tt.base)
				}
				if strings.Contains(tt.base, "u:p@") && strings.Contains(err.Error(), "u:p") {
					t.Errorf("error repeats credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tt.wantBase {
				t.Errorf("BaseURL = %q, want %q", got, tt.wantBase)
			}
		})
	}
}

func TestSearchPaging(t *testing.T) {
	params := url.Values{"patient": {"Patient/p1"}, "date": {"ge2026-01-01"}}
	first := "/fhir/Appointment?_count=2&date=ge2026-01-01&patient=Patient%2Fp1"
	tests := []struct {
		name  string
		next2 string // link on page 1 (may use {base} and {origin})
		uri2  string // what the server must see for page 2
		next3 string
		uri3  string
	}{
		{name: "absolute links", next2: "{base}/Appointment?page=2", uri2: "/fhir/Appointment?page=2", next3: "{base}/Appointment?page=3", uri3: "/fhir/Appointment?page=3"},
		{name: "relative to base", next2: "Appointment?page=2", uri2: "/fhir/Appointment?page=2", next3: "Appointment?page=3&x=%2F", uri3: "/fhir/Appointment?page=3&x=%2F"},
		{name: "absolute path", next2: "/fhir/Appointment?page=2", uri2: "/fhir/Appointment?page=2", next3: "/fhir/Appointment?page=3", uri3: "/fhir/Appointment?page=3"},
		{name: "opaque tokens used exactly", next2: "{base}?_getpages=a%2Fb%3D%3D&_getpagesoffset=2&_bundletype=searchset", uri2: "/fhir?_getpages=a%2Fb%3D%3D&_getpagesoffset=2&_bundletype=searchset",
			next3: "{origin}/fhir?_getpages=a%2Fb%3D%3D&_getpagesoffset=4+&z=%7C", uri3: "/fhir?_getpages=a%2Fb%3D%3D&_getpagesoffset=4+&z=%7C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var expand func(string) string
			rec := newRecorder(t, func(rec *recorder, w http.ResponseWriter, r *http.Request) {
				switch r.URL.RequestURI() {
				case first:
					fmt.Fprint(w, searchset(expand(tt.next2), "a1", "a2"))
				case tt.uri2:
					// An included Patient comes back in page order too.
					page := searchset(expand(tt.next3), "a3")
					page = strings.Replace(page, `"entry":[`, `"entry":[{"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}},`, 1)
					fmt.Fprint(w, page)
				case tt.uri3:
					fmt.Fprint(w, searchset("", "a4", "a5"))
				default:
					t.Errorf("unexpected request %s", r.URL.RequestURI())
					http.NotFound(w, r)
				}
			})
			expand = func(s string) string {
				return strings.NewReplacer("{base}", rec.srv.URL+"/fhir", "{origin}", rec.srv.URL).Replace(s)
			}
			c := newTestClient(t, rec.srv.URL+"/fhir/", Options{PageSize: 2})
			got, err := c.Search(context.Background(), "Appointment", params)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"Appointment/a1", "Appointment/a2", "Patient/p1", "Appointment/a3", "Appointment/a4", "Appointment/a5"}
			if g := ids(t, got.Resources); !slices.Equal(g, want) {
				t.Errorf("resources = %q, want %q", g, want)
			}
			if got.Pages != 3 || got.Truncated {
				t.Errorf("Pages, Truncated = %d, %v; want 3, false", got.Pages, got.Truncated)
			}
			if g, w := rec.requests(), []string{first, tt.uri2, tt.uri3}; !slices.Equal(g, w) {
				t.Errorf("requests = %q, want %q", g, w)
			}
			for i, a := range rec.accept {
				if a != "application/fhir+json" {
					t.Errorf("request %d Accept = %q", i, a)
				}
			}
		})
	}
}

func TestSearchCount(t *testing.T) {
	tests := []struct {
		name     string
		pageSize int
		params   url.Values
		want     string
	}{
		{name: "no page size sends no _count", params: url.Values{"patient": {"p1"}}, want: "/Appointment?patient=p1"},
		{name: "page size sent", pageSize: 100, params: url.Values{"patient": {"p1"}}, want: "/Appointment?_count=100&patient=p1"},
		{name: "page size overrides a caller _count", pageSize: 7, params: url.Values{"_count": {"1000"}}, want: "/Appointment?_count=7"},
		{name: "no params", want: "/Appointment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, searchset(""))
			})
			c := newTestClient(t, rec.srv.URL, Options{PageSize: tt.pageSize})
			before := tt.params.Encode()
			if _, err := c.Search(context.Background(), "Appointment", tt.params); err != nil {
				t.Fatal(err)
			}
			if got := rec.requests(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("requests = %q, want [%q]", got, tt.want)
			}
			if after := tt.params.Encode(); after != before {
				t.Errorf("caller's params changed: %q -> %q", before, after)
			}
		})
	}
}

func TestSearchLoop(t *testing.T) {
	tests := []struct {
		name  string
		pages map[string]string // request URI -> next link
	}{
		{name: "page links to itself", pages: map[string]string{"/Appointment": "/Appointment"}},
		{name: "third page links to the second", pages: map[string]string{
			"/Appointment": "/Appointment?p=2", "/Appointment?p=2": "/Appointment?p=3", "/Appointment?p=3": "/Appointment?p=2"}},
		{name: "relative and absolute spellings of one page", pages: map[string]string{
			"/Appointment": "Appointment?p=2", "/Appointment?p=2": "{origin}/Appointment?p=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(rec *recorder, w http.ResponseWriter, r *http.Request) {
				next, ok := tt.pages[r.URL.RequestURI()]
				if !ok {
					t.Errorf("unexpected request %s", r.URL.RequestURI())
				}
				fmt.Fprint(w, searchset(strings.ReplaceAll(next, "{origin}", rec.srv.URL), "x"))
			})
			c := newTestClient(t, rec.srv.URL, Options{})
			_, err := c.Search(context.Background(), "Appointment", nil)
			if !errors.Is(err, ErrLoop) {
				t.Fatalf("err = %v, want ErrLoop", err)
			}
			if got := len(rec.requests()); got != len(tt.pages) {
				t.Errorf("%d requests, want %d (each page once)", got, len(tt.pages))
			}
		})
	}
}

func TestSearchPageCap(t *testing.T) {
	tests := []struct {
		name          string
		maxPages      int
		serverPages   int // 0 = endless
		wantPages     int
		wantTruncated bool
	}{
		{name: "endless server, cap 3", maxPages: 3, wantPages: 3, wantTruncated: true},
		{name: "endless server, default cap", maxPages: 0, wantPages: DefaultMaxPages, wantTruncated: true},
		{name: "exactly the cap is complete", maxPages: 3, serverPages: 3, wantPages: 3},
		{name: "cap 1 with more", maxPages: 1, serverPages: 2, wantPages: 1, wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
				n := 1
				fmt.Sscan(r.URL.Query().Get("page"), &n)
				next := fmt.Sprintf("Appointment?page=%d", n+1)
				if tt.serverPages > 0 && n >= tt.serverPages {
					next = ""
				}
				fmt.Fprint(w, searchset(next, fmt.Sprint(n)))
			})
			c := newTestClient(t, rec.srv.URL, Options{MaxPages: tt.maxPages})
			got, err := c.Search(context.Background(), "Appointment", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pages != tt.wantPages || got.Truncated != tt.wantTruncated || len(got.Resources) != tt.wantPages {
				t.Errorf("Pages, Truncated, resources = %d, %v, %d; want %d, %v, %d",
					got.Pages, got.Truncated, len(got.Resources), tt.wantPages, tt.wantTruncated, tt.wantPages)
			}
			if n := len(rec.requests()); n != tt.wantPages {
				t.Errorf("%d requests, want %d", n, tt.wantPages)
			}
		})
	}
}

func operationOutcome(diagnostics, detailsText string) string {
	issue := map[string]any{"severity": "error", "code": "not-found"}
	if diagnostics != "" {
		issue["diagnostics"] = diagnostics
	}
	if detailsText != "" {
		issue["details"] = map[string]any{"text": detailsText}
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{issue}})
	return string(b)
}

func TestSearchHTTPErrors(t *testing.T) {
	long := strings.Repeat("å", 1000)
	tests := []struct {
		name        string
		status      int
		body        string
		wantOutcome string
	}{
		{name: "404 with diagnostics", status: 404, body: operationOutcome("Unknown resource type", ""), wantOutcome: "Unknown resource type"},
		{name: "500 with details text", status: 500, body: operationOutcome("", "Database down"), wantOutcome: "Database down"},
		{name: "two issues joined", status: 400, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"bad date"},{"severity":"error","code":"invalid","details":{"text":"bad patient"},"diagnostics":"x"}]}`,
			wantOutcome: "bad date; x; bad patient"},
		{name: "unknown issue codes are fine", status: 422, body: `{"resourceType":"OperationOutcome","issue":[{"severity":"fatal-ish","code":"new-code","diagnostics":"still readable"}]}`, wantOutcome: "still readable"},
		{name: "503 without body", status: 503, wantOutcome: ""},
		{name: "html error page", status: 502, body: "<html>Bad gateway</html>", wantOutcome: ""},
		{name: "echoed identifier is redacted", status: 404, body: operationOutcome("No Patient with identifier urn:oid:1.2.208.176.1.2|0101001234", ""), wantOutcome: "No Patient with identifier ***"},
		{name: "long outcome truncated", status: 500, body: operationOutcome(long, ""), wantOutcome: strings.Repeat("å", maxOutcomeRunes) + "…"},
		{name: "304 is not success", status: 304, wantOutcome: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			c := newTestClient(t, rec.srv.URL, Options{})
			params := url.Values{"identifier": {"urn:oid:1.2.208.176.1.2|0101001234"}}
			_, err := c.Search(context.Background(), "Patient", params)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if fe.Op != "GET Patient" || fe.StatusCode != tt.status || fe.Outcome != tt.wantOutcome {
				t.Errorf("got Op %q, status %d, outcome %q; want %q, %d, %q", fe.Op, fe.StatusCode, fe.Outcome, "GET Patient", tt.status, tt.wantOutcome)
			}
			if want := fmt.Sprintf("GET Patient: HTTP %d", tt.status); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
			}
		})
	}
}

func TestSearchInvalidAnswers(t *testing.T) {
	big := searchset("", strings.Repeat("x", 900))
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		limit   int64
		wantErr error
	}{
		{name: "malformed JSON", handler: func(w http.ResponseWriter) { fmt.Fprint(w, `{"resourceType":"Bundle","entry":[`) }, wantErr: ErrInvalid},
		{name: "not JSON", handler: func(w http.ResponseWriter) { fmt.Fprint(w, `<html>hi</html>`) }, wantErr: ErrInvalid},
		{name: "a Patient, not a Bundle", handler: func(w http.ResponseWriter) { fmt.Fprint(w, `{"resourceType":"Patient","id":"p"}`) }, wantErr: ErrInvalid},
		{name: "OperationOutcome with 200", handler: func(w http.ResponseWriter) { fmt.Fprint(w, operationOutcome("x", "")) }, wantErr: ErrInvalid},
		{name: "no resourceType", handler: func(w http.ResponseWriter) { fmt.Fprint(w, `{"entry":[]}`) }, wantErr: ErrInvalid},
		{name: "entry not an array", handler: func(w http.ResponseWriter) { fmt.Fprint(w, `{"resourceType":"Bundle","entry":{}}`) }, wantErr: ErrInvalid},
		{name: "next link to another server", handler: func(w http.ResponseWriter) {
			fmt.Fprint(w, searchset("http://elsewhere.invalid/fhir/Appointment?page=2", "a"))
		}, wantErr: ErrInvalid},
		{name: "over the limit with Content-Length", limit: 1000, handler: func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			fmt.Fprint(w, big)
		}, wantErr: ErrTooLarge},
		{name: "over the limit chunked", limit: 1000, handler: func(w http.ResponseWriter) {
			fmt.Fprint(w, big[:500])
			w.(http.Flusher).Flush()
			fmt.Fprint(w, big[500:])
		}, wantErr: ErrTooLarge},
		{name: "exactly the limit is fine", limit: int64(len(big)), handler: func(w http.ResponseWriter) {
			fmt.Fprint(w, big[:500])
			w.(http.Flusher).Flush()
			fmt.Fprint(w, big[500:])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) { tt.handler(w) })
			c := newTestClient(t, rec.srv.URL, Options{MaxBodyBytes: tt.limit})
			_, err := c.Search(context.Background(), "Appointment", nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "GET Appointment") {
				t.Errorf("error does not name the op: %v", err)
			}
		})
	}
}

// TestErrorsHideQuery runs every failure a search can meet with a CPR and a
// name in the query and checks neither reaches the error text.
func TestErrorsHideQuery(t *testing.T) {
	const cpr = "0101001234"
	params := url.Values{"identifier": {"urn:oid:1.2.208.176.1.2|" + cpr}, "name": {"Jensen"}}
	echo := "no match for identifier=urn:oid:1.2.208.176.1.2|" + cpr + "&name=Jensen"
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		closed  bool // stop the server before the search
		limit   int64
	}{
		{name: "404 echoing the query", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, operationOutcome(echo, "Jensen "+cpr))
		}},
		{name: "500 on page 2 echoing", handler: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				fmt.Fprint(w, searchset("Patient?page=2&identifier="+url.QueryEscape(params.Get("identifier"))))
				return
			}
			w.WriteHeader(500)
			fmt.Fprint(w, operationOutcome(echo, ""))
		}},
		{name: "malformed JSON", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"resourceType":`) }},
		{name: "number where a string belongs", handler: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"resourceType":"Bundle","link":[{"relation":"next","url":`+cpr+`}]}`)
		}},
		{name: "not a Bundle", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"resourceType":"Patient"}`) }},
		{name: "too large", limit: 10, handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, searchset("")) }},
		{name: "loop", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, searchset(r.URL.RequestURI())) }},
		{name: "next link to another server", handler: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, searchset("http://elsewhere.invalid/Patient?identifier="+cpr))
		}},
		{name: "connection refused", closed: true},
		{name: "bad redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1/Patient?identifier="+cpr+"&name=Jensen")
			w.WriteHeader(302)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) { tt.handler(w, r) })
			c := newTestClient(t, rec.srv.URL, Options{MaxBodyBytes: tt.limit})
			if tt.closed {
				rec.srv.Close()
			}
			_, err := c.Search(context.Background(), "Patient", params)
			if err == nil {
				t.Fatal("search succeeded, want an error")
			}
			msg := err.Error()
			// Servers' own words ("identifier=***") may stay; the values may not.
			for _, secret := range []string{cpr, "Jensen", "urn:oid"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error text contains %q: %s", secret, msg)
				}
			}
			if !strings.HasPrefix(msg, "GET Patient") {
				t.Errorf("error does not name the op: %s", msg)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		read    bool
	}{
		{name: "search waiting for headers", handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "search during the body", handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"resourceType":"Bundle","entry":[`)
			w.(http.Flusher).Flush()
		}},
		{name: "read waiting for headers", read: true, handler: func(w http.ResponseWriter, r *http.Request) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
				tt.handler(w, r)
				select { // block until the client gives up
				case <-r.Context().Done():
				case <-release:
				}
			})
			t.Cleanup(func() { close(release) }) // runs before the server closes
			c := newTestClient(t, rec.srv.URL, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			var err error
			if tt.read {
				_, err = c.Read(ctx, "Patient", "p1")
			} else {
				_, err = c.Search(ctx, "Appointment", url.Values{"identifier": {"0101001234"}})
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if strings.Contains(err.Error(), "0101001234") {
				t.Errorf("error text contains the query: %v", err)
			}
		})
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		id         string
		status     int
		body       string
		wantURI    string // "" = no request expected
		wantErr    error
		wantStatus int // *Error expected when non-zero
	}{
		{name: "ok", id: "p1", status: 200, body: `{"resourceType":"Patient","id":"p1"}`, wantURI: "/fhir/Patient/p1"},
		{name: "resourceType not first", id: "p.1-x", status: 200, body: `{"id":"p.1-x","resourceType":"Patient"}`, wantURI: "/fhir/Patient/p.1-x"},
		{name: "404", id: "p1", status: 404, body: operationOutcome("gone", ""), wantURI: "/fhir/Patient/p1", wantStatus: 404},
		{name: "wrong type", id: "p1", status: 200, body: `{"resourceType":"Practitioner","id":"p1"}`, wantURI: "/fhir/Patient/p1", wantErr: ErrInvalid},
		{name: "malformed after the type", id: "p1", status: 200, body: `{"resourceType":"Patient","id":`, wantURI: "/fhir/Patient/p1", wantErr: ErrInvalid},
		{name: "id with a slash is refused", id: "p1/_history", wantErr: errAny},
		{name: "empty id is refused", id: "", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			c := newTestClient(t, rec.srv.URL+"/fhir", Options{})
			got, err := c.Read(context.Background(), "Patient", tt.id)
			switch {
			case tt.wantStatus != 0:
				var fe *Error
				if !errors.As(err, &fe) || fe.StatusCode != tt.wantStatus || fe.Op != "GET Patient/{id}" {
					t.Fatalf("err = %#v, want *Error %d", err, tt.wantStatus)
				}
			case tt.wantErr == errAny:
				if err == nil {
					t.Fatal("Read succeeded, want an error")
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.body {
					t.Errorf("got %s, want %s", got, tt.body)
				}
			}
			var want []string
			if tt.wantURI != "" {
				want = []string{tt.wantURI}
			}
			if got := rec.requests(); !slices.Equal(got, want) {
				t.Errorf("requests = %q, want %q", got, want)
			}
			for i, a := range rec.accept {
				if a != "application/fhir+json" {
					t.Errorf("request %d Accept = %q", i, a)
				}
			}
		})
	}
}

// errAny marks a test case that only needs some error.
var errAny = errors.New("any error")

func TestInvalidResourceType(t *testing.T) {
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, searchset("")) })
	c := newTestClient(t, rec.srv.URL, Options{})
	for _, rt := range []string{"", "appointment", "Appointment/x", "Appointment?x=1", "../Patient"} {
		if _, err := c.Search(context.Background(), rt, nil); err == nil {
			t.Errorf("Search(%q) succeeded, want error", rt)
		}
		if _, err := c.Read(context.Background(), rt, "x"); err == nil {
			t.Errorf("Read(%q) succeeded, want error", rt)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid types", n)
	}
}

func TestSearchConcurrent(t *testing.T) {
	rec := newRecorder(t, func(_ *recorder, w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "" {
			fmt.Fprint(w, searchset("Appointment?page=2&patient="+r.URL.Query().Get("patient"), "a"))
			return
		}
		fmt.Fprint(w, searchset("", r.URL.Query().Get("patient")))
	})
	c := newTestClient(t, rec.srv.URL, Options{PageSize: 1})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			p := fmt.Sprint("p", i)
			got, err := c.Search(context.Background(), "Appointment", url.Values{"patient": {p}})
			if err != nil {
				t.Error(err)
				return
			}
			if g, w := ids(t, got.Resources), []string{"Appointment/a", "Appointment/" + p}; !slices.Equal(g, w) {
				t.Errorf("got %q, want %q", g, w)
			}
		})
	}
	wg.Wait()
}

func BenchmarkSearch200(b *testing.B) {
	var entries []string
	for i := range 200 {
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"http://h/fhir/Appointment/a%d","resource":{"resourceType":"Appointment","id":"a%d",`+
			`"meta":{"lastUpdated":"2026-01-02T10:00:00+01:00"},"status":"booked",`+
			`"serviceType":[{"coding":[{"system":"urn:sks","code":"BZFD","display":"Kontrol"}]}],`+
			`"description":"Kontrol i ambulatoriet","start":"2026-03-%02dT09:00:00+01:00","end":"2026-03-%02dT09:30:00+01:00",`+
			`"patientInstruction":"Mød fastende","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},`+
			`{"actor":{"reference":"Location/l1","display":"Ambulatorium 3"},"status":"accepted"}]},"search":{"mode":"match"}}`, i, i, i%28+1, i%28+1))
	}
	body := []byte(`{"resourceType":"Bundle","type":"searchset","total":200,"entry":[` + strings.Join(entries, ",") + `]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write(body)
	}))
	defer srv.Close()
	c := newTestClient(b, srv.URL, Options{PageSize: 200})
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Search(ctx, "Appointment", url.Values{"patient": {"p1"}})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Resources {
			if _, err := DecodeAppointment(r); err != nil {
				b.Fatal(err)
			}
		}
		if len(res.Resources) != 200 {
			b.Fatalf("got %d resources", len(res.Resources))
		}
	}
}
