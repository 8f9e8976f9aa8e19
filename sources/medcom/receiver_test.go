package medcom

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
)

// tnow is "now" in these tests.
var tnow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// moved are the examples and messages derived from them with their dates
// moved so the leave ended an hour ago: the admission is a week old.
type moved struct {
	delta                               time.Duration
	admitted, leaveStart, leaveEnd      time.Time
	discharged                          time.Time
	admit, admit2, endLeave             func() msg
	startLeave, discharge, cancelAdmit  func() msg
	cancelStartLeave, died, wrongPeriod func() msg
}

func movedExamples(t *testing.T) moved {
	var m moved
	m.delta = tnow.Add(-time.Hour).Sub(ts("2022-12-14T15:30:02+02:00"))
	m.admitted = ts("2022-12-07T12:00:00+02:00").Add(m.delta)
	m.leaveStart = ts("2022-12-13T14:00:10+02:00").Add(m.delta)
	m.leaveEnd = ts("2022-12-14T15:30:00+02:00").Add(m.delta)
	m.discharged = tnow.Add(-10 * time.Minute)
	m.admit = func() msg { return example(t, exAdmit).shift(m.delta) }
	m.admit2 = func() msg { return example(t, exAdmit2).shift(m.delta) }
	m.endLeave = func() msg { return example(t, exEndLeave).shift(m.delta) }
	m.startLeave = func() msg {
		x := m.endLeave().renew("b-start-leave", "h-start-leave").activity("start-leave-inpatient", m.leaveStart.Add(2*time.Second))
		enc := x.encounter()
		enc["status"] = "onleave"
		delete(enc["extension"].([]any)[0].(map[string]any)["valuePeriod"].(map[string]any), "end")
		return x
	}
	m.discharge = func() msg {
		x := m.endLeave().renew("b-discharge", "h-discharge").activity("discharge-inpatient-home", m.discharged.Add(2*time.Second))
		enc := x.encounter()
		enc["status"] = "finished"
		enc["period"].(map[string]any)["end"] = m.discharged.Format(time.RFC3339)
		return x
	}
	m.cancelAdmit = func() msg {
		x := m.admit().renew("b-cancel", "h-cancel").activity("cancel-admit-inpatient", tnow.Add(-5*time.Minute))
		x.encounter()["status"] = "entered-in-error"
		return x
	}
	m.cancelStartLeave = func() msg {
		x := m.startLeave().renew("b-cancel-leave", "h-cancel-leave").activity("cancel-start-leave-inpatient", m.leaveStart.Add(time.Hour))
		x.encounter()["status"] = "in-progress"
		return x
	}
	m.died = func() msg {
		x := m.admit().renew("b-mors", "h-mors").activity("admit-inpatient", tnow.Add(-30*time.Minute))
		x.encounter()["status"] = "finished"
		x.encounter()["period"].(map[string]any)["end"] = tnow.Add(-30 * time.Minute).Format(time.RFC3339)
		x.resource("Patient")["deceasedBoolean"] = true
		return x
	}
	return m
}

func (m moved) stay(status string, end time.Time) string {
	e := "open"
	if !end.IsZero() {
		e = end.UTC().Format(time.RFC3339)
	}
	return "stay " + status + " " + m.admitted.UTC().Format(time.RFC3339) + " " + e
}

func (m moved) leave() string {
	return "leave-1 on-leave " + m.leaveStart.UTC().Format(time.RFC3339) + " " + m.leaveEnd.UTC().Format(time.RFC3339)
}

func TestReceiver(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("every example as published", func(t *testing.T) {
				h := newHarness(t, open(t), tnow)
				for _, ex := range examples {
					a := h.post(t, exampleBytes(t, ex))
					want := example(t, ex).header()["id"]
					if a.status != http.StatusOK || a.code != AckOK || a.identifier != want {
						t.Fatalf("%s: %d %s for %q, want 200 ok for %q: %+v", ex, a.status, a.code, a.identifier, want, a.issues)
					}
				}
				got := h.state(t, exampleCPR, ts("2022-12-10T00:00:00Z"))
				want := []string{"stay in-progress 2022-12-07T10:00:00Z open", "leave-1 on-leave 2022-12-13T12:00:10Z 2022-12-14T13:30:00Z"}
				if !slices.Equal(got, want) {
					t.Errorf("stays\n got %q\nwant %q", got, want)
				}
				if n := rows(t, h.store); n != 3 {
					t.Errorf("%d messages kept, want 3", n)
				}
				checkNoCPR(t, h, exampleCPR)
			})

			t.Run("dates moved to now: the timeline shows the stay and its leave", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				for _, x := range []msg{m.admit(), m.endLeave(), m.admit2()} {
					if a := h.post(t, x.bytes(t)); a.status != http.StatusOK || a.code != AckOK {
						t.Fatalf("%d %s: %+v", a.status, a.code, a.issues)
					}
				}
				h.rc.Close() // the rebuilds are done
				p := aggregator.PatientRef{Handle: h.pats.Handle(aggregator.Identifier{System: SystemCPR, Value: exampleCPR})}
				tl, err := h.svc.Timeline(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := lines(tl.Entries), []string{m.stay("in-progress", time.Time{}), m.leave()}; !slices.Equal(got, want) {
					t.Fatalf("timeline\n got %q\nwant %q", got, want)
				}
				e := tl.Entries[0]
				if e.Kind != aggregator.KindAdmission || e.Organization != "Hjerteafdelingen på Herlev og Gentofte hospital" || len(e.Provenance) != 3 {
					t.Errorf("stay: kind %s, organisation %q, provenance %v", e.Kind, e.Organization, e.Provenance)
				}
			})

			t.Run("a resend is acknowledged again and applied once", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				body := m.admit().bytes(t)
				first := h.post(t, body)
				// The sender lost our answer and sends again, several times at once.
				var wg sync.WaitGroup
				again := make([]ack, 8)
				for i := range again {
					wg.Add(1)
					go func() { defer wg.Done(); again[i] = h.post(t, body) }()
				}
				wg.Wait()
				for i, a := range again {
					if a.status != http.StatusOK || !bytes.Equal(a.raw, first.raw) {
						t.Errorf("resend %d: %d, acknowledgement %s, want 200 and the first one again", i, a.status, a.raw)
					}
				}
				// In a new envelope (Bundle id), still the same message.
				x := m.admit()
				x["id"] = "another-bundle"
				if a := h.post(t, x.bytes(t)); a.status != http.StatusOK || !bytes.Equal(a.raw, first.raw) {
					t.Errorf("resend in a new Bundle: %d %s, want the first acknowledgement again", a.status, a.raw)
				}
				if n := rows(t, h.store); n != 1 {
					t.Errorf("%d messages kept, want 1", n)
				}
				if got, want := h.state(t, exampleCPR, tnow), []string{m.stay("in-progress", time.Time{})}; !slices.Equal(got, want) {
					t.Errorf("stays %q, want %q", got, want)
				}
				// A new message may not reuse a Bundle id.
				a := h.post(t, m.endLeave().renew(first.bundleID(t, body), "h-new").bytes(t))
				if a.status != http.StatusConflict || a.code != AckFatalError || len(a.issues) != 1 || a.issues[0].Expression != "Bundle.id" {
					t.Errorf("reused Bundle id: %d %s %+v, want 409 fatal-error on Bundle.id", a.status, a.code, a.issues)
				}
				if n := rows(t, h.store); n != 1 {
					t.Errorf("%d messages kept after the refusal, want 1", n)
				}
			})

			t.Run("out of order: applied by their times, not their arrival", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				want := []string{m.stay("completed", m.discharged), m.leave()}
				msgs := []func() msg{m.admit, m.startLeave, m.endLeave, m.discharge}
				for i, order := range permutations(len(msgs)) {
					// Each order for a patient of its own, in messages of its own.
					cpr := fmt.Sprintf("01019%05d", i)
					for _, k := range order {
						x := msgs[k]()
						x.resource("Patient")["identifier"] = []any{map[string]any{"system": SystemCPR, "value": cpr}}
						x.renew(fmt.Sprintf("b%d-%d", i, k), fmt.Sprintf("h%d-%d", i, k))
						if a := h.post(t, x.bytes(t)); a.status != http.StatusOK {
							t.Fatalf("order %v: %d %+v", order, a.status, a.issues)
						}
					}
					if got := h.state(t, cpr, tnow); !slices.Equal(got, want) {
						t.Errorf("order %v (0 admit, 1 start leave, 2 end leave, 3 discharge)\n got %q\nwant %q", order, got, want)
					}
				}
			})

			t.Run("a cancellation", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				for _, x := range []msg{m.admit(), m.startLeave(), m.cancelStartLeave()} {
					if a := h.post(t, x.bytes(t)); a.status != http.StatusOK {
						t.Fatalf("%d %+v", a.status, a.issues)
					}
				}
				if got, want := h.state(t, exampleCPR, tnow), []string{m.stay("in-progress", time.Time{})}; !slices.Equal(got, want) {
					t.Errorf("leave cancelled: stays %q, want %q", got, want)
				}
				if a := h.post(t, m.cancelAdmit().bytes(t)); a.status != http.StatusOK {
					t.Fatalf("%d %+v", a.status, a.issues)
				}
				if got := h.state(t, exampleCPR, tnow); len(got) != 0 {
					t.Errorf("admission cancelled: stays %q, want none", got)
				}
			})

			t.Run("a death ends the stay", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				for _, x := range []msg{m.admit(), m.died()} {
					if a := h.post(t, x.bytes(t)); a.status != http.StatusOK {
						t.Fatalf("%d %+v", a.status, a.issues)
					}
				}
				if got, want := h.state(t, exampleCPR, tnow), []string{m.stay("completed died", tnow.Add(-30*time.Minute))}; !slices.Equal(got, want) {
					t.Errorf("stays %q, want %q", got, want)
				}
			})

			t.Run("refused: an error acknowledgement, nothing stored", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				if a := h.post(t, m.admit().bytes(t)); a.status != http.StatusOK {
					t.Fatalf("%d %+v", a.status, a.issues)
				}
				before := h.state(t, exampleCPR, tnow)
				variant := func(f func(x msg)) []byte {
					x := m.endLeave()
					f(x)
					return x.bytes(t)
				}
				tests := []struct {
					name   string
					body   []byte
					status int
					detail string
					expr   string
					says   string
				}{
					{name: "a body that is not JSON", body: []byte("<Bundle xmlns=\"http://hl7.org/fhir\"/>"), status: 400,
						detail: "MSG_JSON_OBJECT", says: "not a JSON object"},
					{name: "an empty body", body: nil, status: 400, detail: "MSG_JSON_OBJECT", says: "empty"},
					{name: "JSON cut short", body: m.endLeave().bytes(t)[:500], status: 400, detail: "MSG_JSON_OBJECT", says: "invalid JSON"},
					{name: "a resource that is no Bundle", body: exampleBytes(t, "hospitalnotification-Patient-519d5170-81ca-11ed-a1eb-0242ac120002.json"),
						status: 422, detail: "MSG_RESOURCE_TYPE_MISMATCH", expr: "Bundle.resourceType"},
					{name: "a Bundle of the wrong type", body: variant(func(x msg) { x["type"] = "collection" }), status: 422,
						detail: "MSG_VALUESET_VALUE_UNKNOWN", expr: "Bundle.type", says: "collection"},
					{name: "a wrong event code", body: variant(func(x msg) {
						x.header()["eventCoding"].(map[string]any)["code"] = "care-communication-message"
					}), status: 422, detail: "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE", expr: "Bundle.entry[0].resource.eventCoding.code"},
					{name: "a Patient without CPR", body: variant(func(x msg) { delete(x.resource("Patient"), "identifier") }), status: 422,
						detail: "MSG_RESOURCE_REQUIRED", expr: "Bundle.entry[1].resource.identifier", says: "no CPR number"},
					{name: "a CPR number that is not one", body: variant(func(x msg) {
						x.resource("Patient")["identifier"] = []any{map[string]any{"system": SystemCPR, "value": "25094799"}}
					}), status: 422, detail: "MSG_BAD_FORMAT", expr: "Bundle.entry[1].resource.identifier"},
					{name: "the MessageHeader not first", body: variant(func(x msg) {
						es := x.entries()
						es[0], es[1] = es[1], es[0]
					}), status: 422, detail: "MSG_RESOURCE_TYPE_MISMATCH", expr: "Bundle.entry[0].resource"},
					{name: "an activity the IG does not have", body: variant(func(x msg) {
						x.provenance()["activity"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = "deceased-inpatient"
					}), status: 422, detail: "MSG_VALUESET_VALUE_UNKNOWN", says: "deceased-inpatient"},
					{name: "a discharge of a stay in progress", body: variant(func(x msg) { x.activity("discharge-inpatient-home", tnow) }),
						status: 422, detail: "MSG_VALUESET_VALUE_UNKNOWN", says: "want finished"},
					{name: "on leave without a leave period", body: variant(func(x msg) {
						x.activity("start-leave-inpatient", tnow)
						x.encounter()["status"] = "onleave"
						delete(x.encounter(), "extension")
					}), status: 422, detail: "MSG_RESOURCE_REQUIRED", says: "medcom-hospitalNotification-6"},
					{name: "an Encounter without a start", body: variant(func(x msg) { delete(x.encounter(), "period") }),
						status: 422, detail: "MSG_RESOURCE_REQUIRED", expr: "Bundle.entry[2].resource.period.start"},
					{name: "a time without a zone", body: variant(func(x msg) {
						x.encounter()["period"].(map[string]any)["start"] = "2022-12-07T12:00:00"
					}), status: 422, detail: "MSG_DATE_FORMAT", expr: "Bundle.entry[2].resource.period.start"},
					{name: "an unknown Encounter status", body: variant(func(x msg) { x.encounter()["status"] = "arrived" }),
						status: 422, detail: "MSG_VALUESET_VALUE_UNKNOWN", expr: "Bundle.entry[2].resource.status"},
					{name: "no Provenance for this message", body: variant(func(x msg) { x.provenance()["target"] = []any{} }),
						status: 422, detail: "MSG_RESOURCE_REQUIRED", says: "nothing says what happened"},
				}
				for _, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						a := h.post(t, tc.body)
						if a.status != tc.status || a.code != AckFatalError {
							t.Fatalf("%d %s, want %d fatal-error: %s", a.status, a.code, tc.status, a.raw)
						}
						if tc.status == 400 && !a.absent {
							t.Errorf("no message to name: the response identifier should be data-absent")
						}
						if tc.status == 422 && tc.expr != "Bundle.resourceType" && tc.expr != "Bundle.entry[0].resource" && a.identifier != "f47254da-f170-46f0-b624-4778a9c92b1f" {
							t.Errorf("response identifier %q, want the refused message's MessageHeader id", a.identifier)
						}
						found := false
						for _, is := range a.issues {
							if is.Detail == tc.detail && (tc.expr == "" || is.Expression == tc.expr) && strings.Contains(is.Text, tc.says) {
								found = true
							}
						}
						if !found {
							t.Errorf("no issue %s at %q saying %q among %+v", tc.detail, tc.expr, tc.says, a.issues)
						}
						if n := rows(t, h.store); n != 1 {
							t.Errorf("%d messages kept, want the 1 from before", n)
						}
						if got := h.state(t, exampleCPR, tnow); !slices.Equal(got, before) {
							t.Errorf("stays changed to %q", got)
						}
						if bytes.Contains(a.raw, []byte(exampleCPR)) || bytes.Contains(a.raw, []byte("25094799")) {
							t.Errorf("the acknowledgement quotes the CPR number: %s", a.raw)
						}
					})
				}
				checkNoCPR(t, h, exampleCPR)
			})

			t.Run("only a configured sender, only FHIR JSON", func(t *testing.T) {
				m := movedExamples(t)
				h := newHarness(t, open(t), tnow)
				if a := h.postAs(t, "another-hospital", "application/fhir+json", m.admit().bytes(t)); a.status != http.StatusForbidden || a.code != AckFatalError {
					t.Errorf("unknown sender: %d %s, want 403 fatal-error", a.status, a.code)
				}
				if a := h.postAs(t, sender, "application/xml", m.admit().bytes(t)); a.status != http.StatusUnsupportedMediaType || a.code != AckFatalError {
					t.Errorf("XML: %d %s, want 415 fatal-error", a.status, a.code)
				}
				if n := rows(t, h.store); n != 0 {
					t.Errorf("%d messages kept, want none", n)
				}
			})
		})
	}
}

// bundleID is the Bundle id of the message body.
func (a ack) bundleID(t *testing.T, body []byte) string {
	m, _ := Parse(body)
	return m.BundleID
}

// checkNoCPR fails when the CPR number shows in what the receiver logged.
func checkNoCPR(t *testing.T, h *harness, cpr string) {
	t.Helper()
	if logs := h.logs.String(); strings.Contains(logs, cpr) || logs == "" {
		t.Errorf("the log is empty or holds the CPR number:\n%s", logs)
	}
}

// permutations of 0..n-1.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(slices.Clone(p[:i]), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// refresher is a Timelines whose builds the test holds and dates.
type refresher struct {
	mu      sync.Mutex
	calls   int
	started chan struct{} // a build began
	release chan struct{} // let it finish
	stamp   func(call int) time.Time
}

func (r *refresher) Refresh(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	r.mu.Lock()
	r.calls++
	n := r.calls
	r.mu.Unlock()
	r.started <- struct{}{}
	<-r.release
	return &aggregator.Timeline{Patient: p.Handle, GeneratedAt: r.stamp(n)}, nil
}

// TestRebuildAfterTheMessage: the rebuild a message starts must have begun
// after the message was kept. A build that began before it (another
// replica's, shared) is followed by one more, and so is a build a second
// message arrives during.
func TestRebuildAfterTheMessage(t *testing.T) {
	m := movedExamples(t)
	newReceiver := func(t *testing.T, r *refresher) (*Receiver, *clock) {
		clk := &clock{now: tnow}
		rc, err := NewReceiver(ReceiverConfig{Store: backends(t)["sqlite"](t), Senders: []string{sender},
			Patients: mustPatients(t), Timelines: r, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return rc, clk
	}
	post := func(t *testing.T, rc *Receiver, clk *clock, x msg) {
		clk.tick()
		req := httptest.NewRequest(http.MethodPost, "/fhir/$process-message", bytes.NewReader(x.bytes(t)))
		req.Header.Set("Content-Type", "application/fhir+json")
		w := httptest.NewRecorder()
		rc.ServeMessage(w, req, sender)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	t.Run("a build that began before the message", func(t *testing.T) {
		r := &refresher{started: make(chan struct{}, 10), release: make(chan struct{}, 10)}
		rc, clk := newReceiver(t, r)
		r.stamp = func(n int) time.Time {
			if n == 1 {
				return clk.Now().Add(-time.Second)
			}
			return clk.Now()
		}
		r.release <- struct{}{}
		r.release <- struct{}{}
		post(t, rc, clk, m.admit())
		rc.Close()
		if r.calls != 2 {
			t.Errorf("%d builds, want 2: the first began before the message", r.calls)
		}
	})
	t.Run("a message during the build", func(t *testing.T) {
		r := &refresher{started: make(chan struct{}, 10), release: make(chan struct{}, 10)}
		rc, clk := newReceiver(t, r)
		r.stamp = func(int) time.Time { return clk.Now() }
		post(t, rc, clk, m.admit())
		<-r.started // the first build runs
		post(t, rc, clk, m.endLeave())
		r.release <- struct{}{}
		<-r.started // and one more follows
		r.release <- struct{}{}
		rc.Close()
		if r.calls != 2 {
			t.Errorf("%d builds, want 2", r.calls)
		}
	})
}

func mustPatients(t *testing.T) *aggregator.Patients {
	p, err := aggregator.NewPatients([]byte("a test secret of at least 16 bytes"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
