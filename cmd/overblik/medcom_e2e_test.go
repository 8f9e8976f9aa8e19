package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/overblik/overblik/access/storetest"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/web"
)

// TestHospitalNotificationEndToEnd runs `overblik serve` with a municipal
// FHIR server, on which the patient of MedCom's examples has home care
// booked, and a medcom-hospitalnotification source. The hospital posts
// MedCom's three example messages with their dates moved to now; within
// five seconds the clinician's timeline shows the admission, its leave and
// the home-care visit during it. A resend and a malformed message change
// nothing.
func TestHospitalNotificationEndToEnd(t *testing.T) {
	fx := newMedcomFixture(t)
	cpr := fx.cpr
	cfg := `listen: 127.0.0.1:0
api_keys:
  - {name: journal, key_sha256: ` + keySum("clinician-key") + `, role: clinician}
  - {name: herlev, key_sha256: ` + keySum("hospital-key") + `, role: source}
database_path: ` + filepath.Join(t.TempDir(), "overblik.db") + `
sources:
  - {name: kommune, display: Herlev Kommune, sector: municipality, kind: fhir, base_url: ` + fx.municipal + `}
  - {name: herlev, display: Herlev og Gentofte Hospital, sector: hospital, kind: medcom-hospitalnotification}
`
	path := filepath.Join(t.TempDir(), "overblik.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvHandleSecret: "a handle secret of at least thirty-two bytes"}
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", path}, stdoutW, stderr, func(k string) string { return env[k] })
		stdoutW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("serve ended with %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
		if strings.Contains(stderr.String(), cpr) {
			t.Errorf("the log holds the CPR number:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdoutR)
	base := strings.TrimSpace(line[strings.Index(line, "http://"):])

	do := func(key, method, url, ctype string, body []byte) (int, []byte) {
		t.Helper()
		return apiDo(t, key, method, url, ctype, body)
	}
	_, b := do("clinician-key", http.MethodPost, base+"/api/v1/patients/lookup", "application/json",
		[]byte(`{"identifier":"`+cpr+`","reason":"hjemmeplejen planlægger"}`))
	var h struct{ Handle string }
	if err := json.Unmarshal(b, &h); err != nil || h.Handle == "" {
		t.Fatalf("lookup: %s", b)
	}
	type timeline struct {
		Version int64 `json:"version"`
		Entries []struct {
			ID, Source, Kind, Status, Start string
		} `json:"entries"`
		Conflicts []struct {
			Rule    string   `json:"rule"`
			Entries []string `json:"entries"`
		} `json:"conflicts"`
	}
	read := func() timeline {
		t.Helper()
		code, b := do("clinician-key", http.MethodGet, base+"/api/v1/patients/"+h.Handle+"/timeline", "", nil)
		var tl timeline
		if code != http.StatusOK || json.Unmarshal(b, &tl) != nil {
			t.Fatalf("timeline: %d %s", code, b)
		}
		return tl
	}
	if tl := read(); len(tl.Entries) != 2 || len(tl.Conflicts) != 0 {
		t.Fatalf("before any message: %+v, want the two home-care visits and no conflict", tl)
	}

	post := func(body []byte) (int, string, []byte) {
		t.Helper()
		code, b := do("hospital-key", http.MethodPost, base+"/fhir/$process-message", "application/fhir+json", body)
		var ack struct {
			Entry []struct {
				Resource struct {
					Response struct{ Code string } `json:"response"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &ack); err != nil || len(ack.Entry) == 0 {
			t.Fatalf("no acknowledgement: %d %s", code, b)
		}
		return code, ack.Entry[0].Resource.Response.Code, b
	}
	var firstAck []byte
	var posted time.Time
	for i, body := range fx.messages {
		code, ackCode, ack := post(body)
		if code != http.StatusOK || ackCode != "ok" {
			t.Fatalf("message %d: %d %s: %s", i, code, ackCode, ack)
		}
		if i == 0 {
			firstAck = ack
		}
		posted = time.Now()
	}
	admit := fx.messages[0]

	// Within five seconds: the stay, its leave, and the visit during it.
	wantKinds := []string{"herlev admission in-progress", "herlev admission on-leave", "kommune appointment booked", "kommune appointment booked"}
	var tl timeline
	var kinds []string
	for {
		tl = read()
		kinds = kinds[:0]
		for _, e := range tl.Entries {
			kinds = append(kinds, e.Source+" "+e.Kind+" "+e.Status)
		}
		slices.Sort(kinds)
		if slices.Equal(kinds, wantKinds) && len(tl.Conflicts) > 0 || time.Since(posted) > 5*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("entries %q, want %q", kinds, wantKinds)
	}
	if len(tl.Conflicts) != 1 || tl.Conflicts[0].Rule != "during-admission" || !slices.Contains(tl.Conflicts[0].Entries, "kommune/Appointment/during-stay") {
		t.Fatalf("conflicts %+v, want the visit during the stay and not the one during the leave", tl.Conflicts)
	}
	t.Logf("shown %v after the last message", time.Since(posted).Round(time.Millisecond))

	// A resend: the same acknowledgement, the same timeline, once the
	// rebuilds the messages started are done.
	before := read()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := read()
		if now.Version == before.Version {
			break
		}
		before = now
	}
	code, ackCode, ack := post(admit)
	if code != http.StatusOK || ackCode != "ok" || !bytes.Equal(ack, firstAck) {
		t.Errorf("resend: %d %s, want the first acknowledgement again", code, ackCode)
	}
	// A malformed message: an error acknowledgement, nothing changes.
	var bad map[string]any
	json.Unmarshal(admit, &bad)
	bad["id"] = "another-bundle"
	for _, e := range bad["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		switch r["resourceType"] {
		case "MessageHeader":
			r["id"] = "another-header"
		case "Patient":
			delete(r, "identifier")
		}
	}
	malformed, _ := json.Marshal(bad)
	if code, ackCode, ack := post(malformed); code != http.StatusUnprocessableEntity || ackCode != "fatal-error" || !strings.Contains(string(ack), "no CPR number") {
		t.Errorf("malformed: %d %s %s, want 422 fatal-error saying the CPR number is missing", code, ackCode, ack)
	}
	time.Sleep(300 * time.Millisecond) // what a rebuild would take
	if after := read(); after.Version != before.Version || len(after.Entries) != len(before.Entries) {
		t.Errorf("timeline changed from version %d (%d entries) to %d (%d entries)", before.Version, len(before.Entries), after.Version, len(after.Entries))
	}
	// The hospital's key posts, and reads nothing.
	if code, _ := do("hospital-key", http.MethodGet, base+"/api/v1/patients/"+h.Handle+"/timeline", "", nil); code != http.StatusNotFound {
		t.Errorf("the source's key read a timeline: %d", code)
	}
}

// medcomFixture is a municipal FHIR server on which the MedCom examples'
// test person has home care booked during the stay and during its leave,
// and MedCom's three example messages with their dates moved to now.
type medcomFixture struct {
	cpr       string
	delta     time.Duration
	municipal string   // the FHIR server's base URL
	messages  [][]byte // admitted, back from leave, admitted told again
}

func newMedcomFixture(t *testing.T) medcomFixture {
	t.Helper()
	fx := medcomFixture{cpr: "2509479989"}
	now := time.Now().Truncate(time.Second)
	// The examples' end of leave becomes an hour ago: the stay began a week ago.
	fx.delta = now.Add(-time.Hour).Sub(mustTime(t, "2022-12-14T15:30:02+02:00"))
	leaveStart := mustTime(t, "2022-12-13T14:00:10+02:00").Add(fx.delta)
	visit := func(id string, at time.Time) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":%q,"meta":{"lastUpdated":"2026-01-01T00:00:00Z"},
			"status":"booked","description":"Hjemmepleje: morgenbesøg","start":%q,"end":%q,
			"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Organization/hp"},"status":"accepted"}]}`,
			id, at.Format(time.RFC3339), at.Add(30*time.Minute).Format(time.RFC3339)))
	}
	sim, err := fhirsim.New([]json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"` + fx.cpr + `"}]}`),
		json.RawMessage(`{"resourceType":"Organization","id":"hp","name":"Herlev Kommune, hjemmeplejen"}`),
		visit("during-stay", now.Add(3*time.Hour)),
		visit("during-leave", leaveStart.Add(2*time.Hour)),
	}, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	fx.municipal = srv.URL
	dir := filepath.Join("..", "..", "..", "shared", "fhir-examples", "medcom-dk")
	for _, name := range []string{
		"hospitalnotification-Bundle-a5e5b880-c087-4055-b9ec-99108695f81d.json",
		"hospitalnotification-Bundle-e94de8ee-bd94-475e-b454-b8fbbef8a685.json",
		"hospitalnotification-Bundle-n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json",
	} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the MedCom examples are needed: %v", err)
		}
		fx.messages = append(fx.messages, shiftDates(t, raw, fx.delta))
	}
	return fx
}

func keySum(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }

// apiDo sends one request with an API key (and a clinician's reason).
func apiDo(t *testing.T, key, method, url, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(web.ReasonHeader, "hjemmeplejen planlægger")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// shiftDates moves every date and time in a JSON document by d.
func shiftDates(t *testing.T, raw []byte, d time.Duration) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
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
			if tm, err := time.Parse(time.RFC3339, v); err == nil {
				return tm.Add(d).Format(time.RFC3339)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHospitalNotificationOnEveryReplica: two replicas on one Redis and one
// PostgreSQL. The hospital posts to one; the other, which a clinician is
// reading, shows the admission within five seconds.
func TestHospitalNotificationOnEveryReplica(t *testing.T) {
	fx := newMedcomFixture(t)
	var b [6]byte
	rand.Read(b[:])
	prefix := "overblik-test-medcom-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer rdb.Close()
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	cfg := mustParseConfig(t, `api_keys:
  - {name: journal, key_sha256: `+keySum("clinician-key")+`, role: clinician}
  - {name: herlev, key_sha256: `+keySum("hospital-key")+`, role: source}
database_url: `+storetest.PostgresURL(t, "medcom_replicas_")+`
cache: {redis_url: "redis://127.0.0.1:6379/0", redis_prefix: "`+prefix+`"}
refresh: {enabled: false}
sources:
  - {name: kommune, display: Herlev Kommune, sector: municipality, kind: fhir, base_url: `+fx.municipal+`}
  - {name: herlev, display: Herlev og Gentofte Hospital, sector: hospital, kind: medcom-hospitalnotification}
`, func(k string) string {
		if k == config.EnvHandleSecret {
			return "a handle secret of at least thirty-two bytes"
		}
		return ""
	})
	var urls []string
	for range 2 {
		a, err := newApp(t.Context(), cfg, demoExtras{}, slogDiscard(), nil)
		if err != nil {
			t.Fatalf("replica (are Redis and PostgreSQL running?): %v", err)
		}
		srv := httptest.NewServer(a.handler)
		t.Cleanup(func() { srv.Close(); a.Close() })
		urls = append(urls, srv.URL)
	}
	_, body := apiDo(t, "clinician-key", http.MethodPost, urls[1]+"/api/v1/patients/lookup", "application/json",
		[]byte(`{"identifier":"`+fx.cpr+`","reason":"plan"}`))
	var h struct{ Handle string }
	if err := json.Unmarshal(body, &h); err != nil || h.Handle == "" {
		t.Fatalf("lookup: %s", body)
	}
	admissions := func() int {
		t.Helper()
		code, body := apiDo(t, "clinician-key", http.MethodGet, urls[1]+"/api/v1/patients/"+h.Handle+"/timeline", "", nil)
		var tl struct{ Entries []struct{ Kind string } }
		if code != http.StatusOK || json.Unmarshal(body, &tl) != nil {
			t.Fatalf("timeline on the second replica: %d %s", code, body)
		}
		n := 0
		for _, e := range tl.Entries {
			if e.Kind == "admission" {
				n++
			}
		}
		return n
	}
	if n := admissions(); n != 0 {
		t.Fatalf("%d admissions before any message", n)
	}
	for i, m := range fx.messages {
		if code, body := apiDo(t, "hospital-key", http.MethodPost, urls[0]+"/fhir/$process-message", "application/fhir+json", m); code != http.StatusOK {
			t.Fatalf("message %d to the first replica: %d %s", i, code, body)
		}
	}
	posted := time.Now()
	for admissions() != 2 { // the stay and its leave
		if time.Since(posted) > 5*time.Second {
			t.Fatal("the second replica does not show the admission 5 seconds after the message")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHospitalNotificationJoinsTheHospitalsStay: the hospital's own FHIR
// server holds the stay the messages tell of (its own Encounter, the same
// department, a minute apart): the timeline has it once, with both parts.
func TestHospitalNotificationJoinsTheHospitalsStay(t *testing.T) {
	fx := newMedcomFixture(t)
	admitted := mustTime(t, "2022-12-07T12:00:00+02:00").Add(fx.delta)
	sim, err := fhirsim.New([]json.RawMessage{
		json.RawMessage(`{"resourceType":"Patient","id":"hp1","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"` + fx.cpr + `"}]}`),
		json.RawMessage(`{"resourceType":"Organization","id":"hj","name":"Hjerteafdelingen på Herlev og Gentofte hospital"}`),
		json.RawMessage(`{"resourceType":"Encounter","id":"stay","meta":{"lastUpdated":"` + admitted.Add(time.Hour).Format(time.RFC3339) + `"},
			"status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
			"subject":{"reference":"Patient/hp1"},"period":{"start":"` + admitted.Add(time.Minute).Format(time.RFC3339) + `"},
			"serviceProvider":{"reference":"Organization/hj"}}`),
	}, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hospital := httptest.NewServer(sim)
	t.Cleanup(hospital.Close)
	cfg := mustParseConfig(t, `api_keys:
  - {name: journal, key_sha256: `+keySum("clinician-key")+`, role: clinician}
  - {name: herlev, key_sha256: `+keySum("hospital-key")+`, role: source}
database_path: `+filepath.Join(t.TempDir(), "overblik.db")+`
refresh: {enabled: false}
sources:
  - {name: herlev-fhir, display: Herlev og Gentofte Hospital, sector: hospital, kind: fhir, base_url: `+hospital.URL+`}
  - {name: kommune, display: Herlev Kommune, sector: municipality, kind: fhir, base_url: `+fx.municipal+`}
  - {name: herlev, display: Herlev og Gentofte Hospital (advis), sector: hospital, kind: medcom-hospitalnotification}
`, func(k string) string {
		if k == config.EnvHandleSecret {
			return "a handle secret of at least thirty-two bytes"
		}
		return ""
	})
	a, err := newApp(t.Context(), cfg, demoExtras{}, slogDiscard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	for i, m := range fx.messages {
		if code, body := apiDo(t, "hospital-key", http.MethodPost, srv.URL+"/fhir/$process-message", "application/fhir+json", m); code != http.StatusOK {
			t.Fatalf("message %d: %d %s", i, code, body)
		}
	}
	_, body := apiDo(t, "clinician-key", http.MethodPost, srv.URL+"/api/v1/patients/lookup", "application/json",
		[]byte(`{"identifier":"`+fx.cpr+`","reason":"plan"}`))
	var h struct{ Handle string }
	json.Unmarshal(body, &h)
	// The messages rebuild her timeline in the background, and a build that
	// read the store before the last of them is followed by one more: what
	// the clinician reads settles within moments, as the first test allows.
	want := []string{"herlev-fhir/Encounter/stay: herlev-fhir in-progress, herlev in-progress"}
	var stays, rules []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body := apiDo(t, "clinician-key", http.MethodGet, srv.URL+"/api/v1/patients/"+h.Handle+"/timeline", "", nil)
		var tl struct {
			Entries []struct {
				ID, Kind, Status string
				Parts            []struct{ Source, Status string }
			}
			Conflicts []struct{ Rule string }
		}
		if code != http.StatusOK || json.Unmarshal(body, &tl) != nil {
			t.Fatalf("timeline: %d %s", code, body)
		}
		stays, rules = nil, nil
		for _, e := range tl.Entries {
			if e.Kind == "admission" && e.Status != "on-leave" {
				var parts []string
				for _, p := range e.Parts {
					parts = append(parts, p.Source+" "+p.Status)
				}
				stays = append(stays, e.ID+": "+strings.Join(parts, ", "))
			}
		}
		for _, c := range tl.Conflicts {
			rules = append(rules, c.Rule)
		}
		if slices.Equal(stays, want) && slices.Equal(rules, []string{"during-admission"}) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(stays, want) {
		t.Errorf("stays %q, want %q", stays, want)
	}
	if !slices.Equal(rules, []string{"during-admission"}) {
		t.Errorf("conflicts %q, want the one visit during the stay, once", rules)
	}
}
