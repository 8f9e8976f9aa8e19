// Package sourcetest is the conformance suite every connector runs (in the
// style of go-cloud's drivertest): a connector's test supplies a Harness that
// builds the connector against a test server and speaks the connector's wire
// format, and Run checks what the aggregator relies on: complete paging, an
// empty answer, every failure mapped to a *aggregator.SourceError of the
// right Kind (HTTP statuses as aggregator.KindForHTTPStatus says), deadlines
// and cancellation honoured, size limits enforced, and the patient's
// identifier never in an error or note.
//
// A connector's test is a few lines:
//
//	func TestConformance(t *testing.T) { sourcetest.Run(t, harness{}) }
//
//	type harness struct{}
//
//	// NewSource: the connector, against the suite's test server.
//	func (harness) NewSource(t testing.TB, name, baseURL string) aggregator.Source {
//		s, err := myconn.New(myconn.Config{Name: name, URL: baseURL, PageSize: 10, MaxBytes: 64 << 10}, nil)
//		if err != nil {
//			t.Fatal(err)
//		}
//		return s
//	}
//
//	// Serve: n good entries for p in your wire format (see Start, Title, Duration).
//	func (harness) Serve(t testing.TB, p aggregator.PatientRef, w aggregator.Window, n int) http.Handler { ... }
//
//	// Fault: the same source, broken as f says.
//	func (harness) Fault(t testing.TB, p aggregator.PatientRef, w aggregator.Window, f sourcetest.Fault) http.Handler { ... }
//
// sources/fhirsource (FHIR, served by fhirsim) and sources/ical (an
// iCalendar feed) are worked examples. HTTP status codes, hanging servers
// and cancellation need nothing from the harness: the suite serves them.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Fault is a broken answer that only the connector's wire format can express.
type Fault int

const (
	// Malformed: the body does not parse (cut-off JSON, a truncated calendar).
	Malformed Fault = iota
	// WrongContent: a well-formed body of the wrong kind (a FHIR resource
	// other than the one asked for, an HTML error page, JSON from a
	// calendar feed).
	WrongContent
	// Huge: a well-formed answer larger than the connector's size limit.
	Huge
)

func (f Fault) String() string {
	switch f {
	case Malformed:
		return "malformed"
	case WrongContent:
		return "wrong content"
	case Huge:
		return "huge"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Harness adapts one connector to the suite. Handlers it returns are served
// by an httptest.Server the suite starts and stops.
type Harness interface {
	// NewSource builds the connector under test, named name, reading from
	// the server at baseURL (scheme://host:port, no trailing slash). A
	// connector with a configurable page size should get a small one, so
	// Serve's answer spans several pages; one that retries should not, so
	// the suite stays fast (the 429 and 503 answers carry Retry-After: 1).
	NewSource(t testing.TB, name, baseURL string) aggregator.Source

	// Serve answers as a healthy source holding n entries for p in w: entry
	// i starts at Start(w, i), lasts Duration and is titled Title(i). It also
	// holds an entry before and one after w and one of another patient, none
	// of which may come back. Where the format pages, the n entries must
	// span several pages.
	Serve(t testing.TB, p aggregator.PatientRef, w aggregator.Window, n int) http.Handler

	// Fault answers as a source whose answer for p's entries is broken as f
	// says. Anything the connector asks first (e.g. a patient look-up) may
	// be answered well.
	Fault(t testing.TB, p aggregator.PatientRef, w aggregator.Window, f Fault) http.Handler
}

// Statuses are the HTTP error statuses the suite answers with; each must
// come back as a *aggregator.SourceError of aggregator.KindForHTTPStatus's
// kind.
var Statuses = []int{
	http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusMethodNotAllowed, http.StatusRequestTimeout, http.StatusGone, http.StatusUnprocessableEntity,
	http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusNotImplemented,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// Duration is how long each entry Serve holds lasts.
const Duration = 30 * time.Minute

// Start is when Serve's entry i begins: whole hours into the window, so
// every entry is well inside it.
func Start(w aggregator.Window, i int) time.Time {
	return w.From.Add(time.Duration(i+1) * time.Hour)
}

// Title is the title of Serve's entry i.
func Title(i int) string { return fmt.Sprintf("Aftale %d", i) }

// patient is whom the suite fetches for; the value is shaped like a CPR
// number so redaction of CPR-like strings is exercised too.
var patient = aggregator.PatientRef{
	Handle:     "sourcetest-handle",
	Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "0101017777"},
}

// window is the period the suite asks for.
var window = aggregator.Window{
	From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	To:   time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
}

const name = "conformance"

// Run runs the whole suite against the connector h adapts.
func Run(t *testing.T, h Harness) {
	t.Run("entries", func(t *testing.T) {
		for _, n := range []int{0, 1, 25} {
			t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
				src := start(t, h, h.Serve(t, patient, window, n))
				b, err := src.Fetch(context.Background(), patient, window)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				checkEntries(t, src, b, n)
				checkNotes(t, b)
			})
		}
	})

	// A source that reads in two steps (aggregator.Reader) must normalise
	// to what Fetch returns, and name the same answer by the same digest and
	// another answer by another: a refresh that trusted a digest wrongly
	// would keep stale entries.
	if src := start(t, h, h.Serve(t, patient, window, 5)); isReader(src) {
		t.Run("reader", func(t *testing.T) { checkReader(t, h, src) })
	}

	t.Run("concurrent fetches", func(t *testing.T) {
		// Fetch may be called concurrently; run with -race.
		src := start(t, h, h.Serve(t, patient, window, 5))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		counts := make([]int, 4)
		for i := range errs {
			wg.Go(func() {
				b, err := src.Fetch(context.Background(), patient, window)
				errs[i], counts[i] = err, len(b.Entries)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil || counts[i] != 5 {
				t.Errorf("fetch %d: %d entries, err %v; want 5, nil", i, counts[i], err)
			}
		}
	})

	// Every connector maps a status as aggregator.KindForHTTPStatus does.
	for _, code := range Statuses {
		t.Run(fmt.Sprintf("HTTP %d", code), func(t *testing.T) {
			src := start(t, h, statusHandler(code))
			_, err := src.Fetch(context.Background(), patient, window)
			checkErr(t, err, aggregator.KindForHTTPStatus(code))
		})
	}

	for _, f := range []Fault{Malformed, WrongContent, Huge} {
		t.Run(f.String(), func(t *testing.T) {
			src := start(t, h, h.Fault(t, patient, window, f))
			_, err := src.Fetch(context.Background(), patient, window)
			checkErr(t, err, aggregator.Invalid)
		})
	}

	t.Run("deadline", func(t *testing.T) {
		src := start(t, h, hang(nil))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := fetchGuarded(t, src, ctx)
		checkErr(t, err, aggregator.Timeout)
	})

	t.Run("cancelled", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		src := start(t, h, hang(arrived))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-arrived
			cancel()
		}()
		err := fetchGuarded(t, src, ctx)
		var se *aggregator.SourceError
		if !errors.As(err, &se) {
			t.Fatalf("err = %v, want a *aggregator.SourceError", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want it to wrap context.Canceled", err)
		}
		checkPrivate(t, err.Error())
	})
}

// start serves handler and builds the connector against it.
func isReader(src aggregator.Source) bool {
	_, ok := src.(aggregator.Reader)
	return ok
}

func checkReader(t *testing.T, h Harness, src aggregator.Source) {
	rd := src.(aggregator.Reader)
	ctx := context.Background()
	first, err := rd.Read(ctx, patient, window)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	b, err := first.Normalise(ctx, nil)
	if err != nil {
		t.Fatalf("Normalise: %v", err)
	}
	checkEntries(t, src, b, 5)
	again, err := rd.Read(ctx, patient, window)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if first.Digest != again.Digest {
		t.Errorf("the same answer read twice: digests %q and %q", first.Digest, again.Digest)
	}
	if first.Digest == "" {
		return // it cannot tell: every reading is normalised
	}
	other := start(t, h, h.Serve(t, patient, window, 6))
	r, err := other.(aggregator.Reader).Read(ctx, patient, window)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if r.Digest == first.Digest {
		t.Errorf("an answer with another entry has the same digest %q", r.Digest)
	}
}

func start(t *testing.T, h Harness, handler http.Handler) aggregator.Source {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	src := h.NewSource(t, name, srv.URL)
	if src.Name() != name {
		t.Fatalf("Name() = %q, want %q", src.Name(), name)
	}
	return src
}

// fetchGuarded fails the test, rather than hanging it, when Fetch ignores ctx.
func fetchGuarded(t *testing.T, src aggregator.Source, ctx context.Context) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := src.Fetch(ctx, patient, window)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Fetch did not return long after its context ended")
		return nil
	}
}

func checkEntries(t *testing.T, src aggregator.Source, b aggregator.Batch, n int) {
	t.Helper()
	if len(b.Entries) != n {
		t.Errorf("got %d entries, want %d (skipped %d: %v)", len(b.Entries), n, b.Skipped, b.Notes)
	}
	if b.Skipped != 0 {
		t.Errorf("skipped = %d (%v), want 0", b.Skipped, b.Notes)
	}
	want := make(map[string]time.Time, n)
	for i := range n {
		want[Title(i)] = Start(window, i)
	}
	ids := map[string]bool{}
	for _, e := range b.Entries {
		if ids[e.ID] {
			t.Errorf("entry id %q twice", e.ID)
		}
		ids[e.ID] = true
		if !strings.HasPrefix(e.ID, name+"/") || e.Source != name || e.Sector != src.Sector() {
			t.Errorf("entry %q: source %q, sector %q; want id prefixed %q, source %q, sector %q",
				e.ID, e.Source, e.Sector, name+"/", name, src.Sector())
		}
		start, ok := want[e.Title]
		if !ok {
			t.Errorf("unexpected entry %q titled %q at %v (outside the window, another patient's, or twice)", e.ID, e.Title, e.Start)
			continue
		}
		delete(want, e.Title)
		if !e.Start.Equal(start) || !e.End.Equal(start.Add(Duration)) {
			t.Errorf("entry %q: %v..%v, want %v..%v", e.Title, e.Start, e.End, start, start.Add(Duration))
		}
		if e.Status == "" || e.Kind == "" || e.Medium == "" || e.Sensitivity == "" {
			t.Errorf("entry %q: status %q, kind %q, medium %q, sensitivity %q: all must be set", e.Title, e.Status, e.Kind, e.Medium, e.Sensitivity)
		}
		if len(e.Provenance) == 0 {
			t.Errorf("entry %q has no provenance", e.Title)
		}
	}
	for title := range want {
		t.Errorf("missing entry %q", title)
	}
}

func checkNotes(t *testing.T, b aggregator.Batch) {
	t.Helper()
	for _, n := range b.Notes {
		checkPrivate(t, n)
	}
}

func checkErr(t *testing.T, err error, want aggregator.ErrorKind) {
	t.Helper()
	var se *aggregator.SourceError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *aggregator.SourceError", err)
	}
	if se.Kind != want || se.Source != name {
		t.Errorf("kind %q from %q, want %q from %q (%v)", se.Kind, se.Source, want, name, err)
	}
	checkPrivate(t, err.Error())
}

// checkPrivate fails when s holds the patient's identifier.
func checkPrivate(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, patient.Identifier.Value) {
		t.Errorf("%q contains the patient's identifier", s)
	}
}

// statusHandler answers every request with code and a body that echoes the
// identifier from the request, as careless servers do.
func statusHandler(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "request %s failed for patient %s", r.URL.RequestURI(), patient.Identifier.Value)
	})
}

// hang never answers; it returns when the client gives up. arrived, when not
// nil, is told about the first request.
func hang(arrived chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		<-r.Context().Done()
	})
}
