package medcom

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access/storetest"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/internal/sqldb"
)

// The three HospitalNotification message Bundles MedCom publishes with the
// IG (../shared/fhir-examples/medcom-dk, byte for byte): an admission, the
// end of a leave (with the leave period), and a second admission message
// for the same stay (same episode of care, another Encounter id).
const (
	exAdmit    = "hospitalnotification-Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json"
	exEndLeave = "hospitalnotification-Bundle-e94de8ee-bd94-475e-b454-b8fbbef8a685.json"
	exAdmit2   = "hospitalnotification-Bundle-n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json"
	exampleCPR = "2509479989"
)

var examples = []string{exAdmit, exEndLeave, exAdmit2}

func exampleDir() string {
	return filepath.Join("..", "..", "..", "shared", "fhir-examples", "medcom-dk")
}

func exampleBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir(), name))
	if err != nil {
		t.Fatalf("the MedCom examples are needed (../shared/fhir-examples): %v", err)
	}
	return b
}

// msg is a message Bundle as generic JSON, to derive variants from.
type msg map[string]any

func example(t testing.TB, name string) msg {
	t.Helper()
	var m msg
	if err := json.Unmarshal(exampleBytes(t, name), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m msg) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (m msg) entries() []any { return m["entry"].([]any) }

// resource is the first entry's resource of type typ.
func (m msg) resource(typ string) map[string]any {
	for _, e := range m.entries() {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == typ {
			return r
		}
	}
	return nil
}

func (m msg) header() map[string]any { return m.resource("MessageHeader") }

// provenance is this message's own Provenance: the one whose target is its MessageHeader.
func (m msg) provenance() map[string]any {
	id := m.header()["id"].(string)
	for _, e := range m.entries() {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "Provenance" {
			continue
		}
		for _, tg := range r["target"].([]any) {
			if strings.HasSuffix(tg.(map[string]any)["reference"].(string), "MessageHeader/"+id) {
				return r
			}
		}
	}
	return nil
}

// renew gives the message new Bundle and MessageHeader ids, as a new
// message derived from an example needs.
func (m msg) renew(bundleID, headerID string) msg {
	prov := m.provenance()
	m["id"] = bundleID
	m.header()["id"] = headerID
	m.entries()[0].(map[string]any)["fullUrl"] = "https://medcomfhir.dk/ig/hospitalnotification/MessageHeader/" + headerID
	prov["target"] = []any{map[string]any{"reference": "MessageHeader/" + headerID}}
	return m
}

// activity sets what the message says happened, at occurred.
func (m msg) activity(code string, occurred time.Time) msg {
	p := m.provenance()
	p["activity"] = map[string]any{"coding": []any{map[string]any{"system": SystemActivityCodes, "code": code}}}
	p["occurredDateTime"] = occurred.Format(time.RFC3339)
	p["recorded"] = occurred.Format(time.RFC3339)
	m["timestamp"] = occurred.Add(-time.Second).Format(time.RFC3339)
	return m
}

func (m msg) encounter() map[string]any { return m.resource("Encounter") }

// shift moves every date and time in the message by d: an example's 2022
// becomes now.
func (m msg) shift(d time.Duration) msg {
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case string:
			if t, err := time.Parse(time.RFC3339, v); err == nil && strings.Contains(v, "T") {
				return t.Add(d).Format(time.RFC3339)
			}
		}
		return v
	}
	walk(map[string]any(m))
	return m
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// backends opens a store on each SQL back end: SQLite in a temporary file
// and PostgreSQL in a schema of the test's own.
func backends(t *testing.T) map[string]func(t *testing.T) *Store {
	return map[string]func(t *testing.T) *Store{
		"sqlite": func(t *testing.T) *Store {
			return mustOpen(t, openSQLite(t, filepath.Join(t.TempDir(), "overblik.db")))
		},
		"postgres": func(t *testing.T) *Store {
			return mustOpen(t, openPostgres(t, storetest.PostgresURL(t, "medcom_")))
		},
	}
}

// openSQLite and openPostgres open a database as access's store would,
// closed when the test ends.
func openSQLite(t *testing.T, path string) sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqldb.DB{SQL: db, Dialect: sqldb.SQLite}
}

func openPostgres(t *testing.T, url string) sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenPostgres(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqldb.DB{SQL: db, Dialect: sqldb.Postgres}
}

func mustOpen(t *testing.T, db sqldb.DB) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// harness is the receiver behind an HTTP server, with a real aggregator
// building timelines from the medcom source.
type harness struct {
	store *Store
	src   *Source
	pats  *aggregator.Patients
	svc   *aggregator.Service
	rc    *Receiver
	srv   *httptest.Server
	logs  *logBuffer
	clock *clock
}

// clock is the test's time: a second passes with every message posted.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) tick() { c.mu.Lock(); c.now = c.now.Add(time.Second); c.mu.Unlock() }

const sender = "herlev"

func newHarness(t *testing.T, store *Store, now time.Time) *harness {
	t.Helper()
	h := &harness{store: store, logs: &logBuffer{}, clock: &clock{now: now}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if h.src, err = NewSource(sender, store); err != nil {
		t.Fatal(err)
	}
	if h.pats, err = aggregator.NewPatients([]byte("a test secret of at least 16 bytes"), memcache.NewDirectory()); err != nil {
		t.Fatal(err)
	}
	h.svc, err = aggregator.New([]aggregator.Registration{{Source: h.src, Display: "Herlev og Gentofte Hospital"}},
		memcache.NewBackend(0), aggregator.Options{Now: h.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h.rc, err = NewReceiver(ReceiverConfig{Store: store, Senders: []string{sender}, Patients: h.pats, Timelines: h.svc,
		Logger: log, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.rc.ServeMessage(w, r, r.Header.Get("X-Test-Sender"))
	}))
	t.Cleanup(func() { h.srv.Close(); h.rc.Close(); h.svc.Close() })
	return h
}

// ack is what a test reads of an acknowledgement.
type ack struct {
	status     int
	raw        []byte
	code       string // MessageHeader.response.code
	identifier string // MessageHeader.response.identifier
	absent     bool   // the identifier is data-absent
	issues     []ackIssue
	bundle     map[string]any
}

type ackIssue struct {
	Code       string
	Detail     string
	Expression string
	Text       string
}

func (h *harness) post(t *testing.T, body []byte) ack {
	t.Helper()
	return h.postAs(t, sender, "application/fhir+json", body)
}

func (h *harness) postAs(t *testing.T, from, ctype string, body []byte) ack {
	t.Helper()
	h.clock.tick()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/fhir/$process-message", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-Test-Sender", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("answer is %s: %s", ct, raw)
	}
	a := ack{status: resp.StatusCode, raw: raw}
	a.bundle = readAck(t, raw)
	hdr := a.bundle["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	rsp := hdr["response"].(map[string]any)
	a.code, _ = rsp["code"].(string)
	a.identifier, _ = rsp["identifier"].(string)
	_, a.absent = rsp["_identifier"]
	for _, e := range a.bundle["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] != "OperationOutcome" {
			continue
		}
		for _, x := range r["issue"].([]any) {
			is := x.(map[string]any)
			d := is["details"].(map[string]any)
			var ai ackIssue
			ai.Code, _ = is["code"].(string)
			ai.Text, _ = d["text"].(string)
			if cs, ok := d["coding"].([]any); ok {
				ai.Detail = cs[0].(map[string]any)["code"].(string)
			}
			if ex, ok := is["expression"].([]any); ok {
				ai.Expression = ex[0].(string)
			}
			a.issues = append(a.issues, ai)
		}
	}
	return a
}

// readAck checks the structure every acknowledgement must have and
// returns it: a message Bundle whose first entry is a MessageHeader with
// the acknowledgement event, every reference resolving within it, and an
// OperationOutcome exactly when the code is not ok.
func readAck(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("acknowledgement is not JSON: %v: %s", err, raw)
	}
	if b["resourceType"] != "Bundle" || b["type"] != "message" || b["id"] == "" {
		t.Fatalf("acknowledgement is not a message Bundle: %s", raw)
	}
	entries := b["entry"].([]any)
	have := map[string]bool{}
	for _, e := range entries {
		r := e.(map[string]any)["resource"].(map[string]any)
		have[r["resourceType"].(string)+"/"+r["id"].(string)] = true
	}
	hdr := entries[0].(map[string]any)["resource"].(map[string]any)
	ev := hdr["eventCoding"].(map[string]any)
	if hdr["resourceType"] != "MessageHeader" || ev["system"] != SystemEventCodes || ev["code"] != EventAcknowledgment {
		t.Fatalf("acknowledgement does not begin with its MessageHeader: %s", raw)
	}
	rsp := hdr["response"].(map[string]any)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["reference"].(string); ok {
				refs = append(refs, r)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(hdr)
	for _, r := range refs {
		if !have[r] {
			t.Errorf("acknowledgement's MessageHeader refers to %s, which it does not hold", r)
		}
	}
	_, details := rsp["details"]
	outcome := false
	for k := range have {
		outcome = outcome || strings.HasPrefix(k, "OperationOutcome/")
	}
	if isErr := rsp["code"] != AckOK; details != isErr || outcome != isErr {
		t.Errorf("response %v: details %v, OperationOutcome %v; want both exactly for an error", rsp["code"], details, outcome)
	}
	return b
}

// state is the source's entries for the example patient in a window around
// then, one line each.
func (h *harness) state(t *testing.T, cpr string, then time.Time) []string {
	t.Helper()
	p := aggregator.PatientRef{Handle: h.pats.Handle(aggregator.Identifier{System: SystemCPR, Value: cpr})}
	b, err := h.src.Fetch(context.Background(), p, aggregator.Window{From: then.AddDate(0, -2, 0), To: then.AddDate(0, 2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return lines(b.Entries)
}

func lines(es []aggregator.Entry) []string {
	var out []string
	for _, e := range es {
		end := "open"
		if !e.End.IsZero() {
			end = e.End.UTC().Format(time.RFC3339)
		}
		s := e.Status
		l := strings.TrimPrefix(e.ID, sender+"/Encounter/")
		if i := strings.Index(l, "-leave-"); i >= 0 {
			l = "leave" + l[i+len("-leave"):]
		} else {
			l = "stay"
		}
		if e.Died {
			s += " died"
		}
		out = append(out, l+" "+string(s)+" "+e.Start.UTC().Format(time.RFC3339)+" "+end)
	}
	return out
}

// rows counts the messages kept.
func rows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM medcom_messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
