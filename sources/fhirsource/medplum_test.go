package fhirsource_test

// The connector against a FHIR server we did not write: Medplum's FHIR router
// with its in-memory repository (tools/medplum), seeded with the demo data.
// Medplum assigns its own resource ids, so the connector has to find each
// patient by identifier; the searches page with a small page size and the
// incremental refresh asks for _lastUpdated.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
)

// mpStartup bounds the wait for the Node process to say it listens.
const mpStartup = 60 * time.Second

func TestMedplum(t *testing.T) {
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	base := startMedplum(t)
	ds := testdata.Demo(time.Now(), cph)
	sectors := []struct {
		name   string
		sector aggregator.Sector
		data   []json.RawMessage
	}{
		{"hospital", aggregator.SectorHospital, ds.Hospital},
		{"municipality", aggregator.SectorMunicipality, ds.Municipality},
		{"gp", aggregator.SectorGP, ds.GP},
	}

	mid := time.Now().In(cph)
	mid = time.Date(mid.Year(), mid.Month(), mid.Day(), 0, 0, 0, 0, cph)
	full := aggregator.Window{From: mid.AddDate(0, 0, -90), To: mid.AddDate(0, 0, 180)}
	// Edges at an odd minute in the middle of a day, so no entry starts on
	// one and date-only values (which servers read in UTC and we in the
	// configured zone) fall clearly inside or outside.
	narrow := aggregator.Window{From: mid.AddDate(0, 0, -10).Add(12*time.Hour + 17*time.Minute),
		To: mid.AddDate(0, 0, 20).Add(12*time.Hour + 17*time.Minute)}

	t.Run("metadata", func(t *testing.T) {
		// What `overblik check` asks a source: the wrapper's
		// CapabilityStatement lists the searches the connector needs.
		var cs struct {
			ResourceType, FHIRVersion string
			Rest                      []struct {
				Resource []struct {
					Type        string
					SearchParam []struct{ Name string }
				}
			}
		}
		if err := json.Unmarshal(mpRequest(t, http.MethodGet, base+"/metadata-check/metadata", nil), &cs); err != nil {
			t.Fatal(err)
		}
		if cs.ResourceType != "CapabilityStatement" || cs.FHIRVersion != "4.0.1" || len(cs.Rest) != 1 {
			t.Fatalf("metadata: %s, FHIR %s, %d rest parts", cs.ResourceType, cs.FHIRVersion, len(cs.Rest))
		}
		need := map[string][]string{"Patient": {"identifier"}, "Appointment": {"patient", "date", "_lastUpdated"},
			"Encounter": {"patient", "date", "_lastUpdated"}}
		for _, r := range cs.Rest[0].Resource {
			for _, sp := range r.SearchParam {
				need[r.Type] = slices.DeleteFunc(need[r.Type], func(n string) bool { return n == sp.Name })
			}
		}
		for typ, missing := range need {
			if len(missing) > 0 {
				t.Errorf("metadata: %s lacks search parameters %v", typ, missing)
			}
		}
	})

	for _, sec := range sectors {
		t.Run(sec.name, func(t *testing.T) {
			srvBase := base + "/" + sec.name
			ids := seedMedplum(t, srvBase, sec.data) // "Type/demo id" -> Medplum's id
			checkMedplum(t, base, sec.name, sec.sector)
			back := make(map[string]string, len(ids))
			for k, v := range ids {
				typ, _, _ := strings.Cut(k, "/")
				back[typ+"/"+v] = k
			}
			sim, err := fhirsim.New(sec.data, fhirsim.Options{TimeZone: cph})
			if err != nil {
				t.Fatal(err)
			}
			simSrv := httptest.NewServer(sim)
			t.Cleanup(simSrv.Close)

			const pageSize = 4
			cfg := fhirsource.Config{Name: sec.name, Sector: sec.sector, BaseURL: srvBase, PageSize: pageSize, Location: cph}
			rec, recIncl := &recorder{}, &recorder{}
			mp := newConnector(t, cfg, rec)
			incCfg, inclCfg := cfg, cfg
			incCfg.Incremental, inclCfg.Include = true, true
			mpInc := newConnector(t, incCfg, rec)
			mpIncl := newConnector(t, inclCfg, recIncl)
			refCfg := cfg
			refCfg.BaseURL, refCfg.PageSize = simSrv.URL, 0
			ref := newConnector(t, refCfg, nil)

			// The change feed, from the beginning: every patient with
			// entries here, named by identifier from the _included Patients.
			recFeed := &recorder{}
			feed := newConnector(t, cfg, recFeed)
			var withEntries []string
			for _, p := range ds.Patients {
				if len(seededFor(t, sec.data, p).resources) > 0 {
					withEntries = append(withEntries, p.CPR)
				}
			}
			feedCursor := checkFeed(t, feed, recFeed, "1970-01-01T00:00:00Z", withEntries)

			nFull, nNarrow := 0, 0
			for _, p := range ds.Patients {
				pref := aggregator.PatientRef{Handle: "h-" + p.CPR, Identifier: aggregator.Identifier{System: p.System, Value: p.CPR}}
				want := seededFor(t, sec.data, p)
				ctx := context.Background()

				rec.reset()
				got, err := mp.Fetch(ctx, pref, full)
				if err != nil {
					t.Fatalf("patient %s: %v", p.CPR, err)
				}
				if got.Skipped != 0 {
					t.Errorf("patient %s: %d skipped: %v", p.CPR, got.Skipped, got.Notes)
				}

				// Identifier search: the Patient was found by CPR number,
				// and every search named Medplum's id for it.
				reqs := rec.take()
				checkPatientSearches(t, reqs, p, ids[want.patient])

				// Exactly what was seeded for this patient: per resource,
				// by demo id, with title and start.
				checkSeeded(t, p.CPR, got.Entries, want, back, sec.name)

				// Paging: the connector followed Medplum's next links.
				checkPaged(t, reqs, want, pageSize)

				// Normalised exactly as from our own simulator, but for
				// ids and what the server stamps itself.
				wantRef, err := ref.Fetch(ctx, pref, full)
				if err != nil {
					t.Fatalf("patient %s on fhirsim: %v", p.CPR, err)
				}
				sameEntries(t, "full window, patient "+p.CPR, got.Entries, wantRef.Entries, back, sec.name)

				// The same with the referenced resources _included in
				// each page instead of read one by one.
				gotI, err := mpIncl.Fetch(ctx, pref, full)
				if err != nil {
					t.Fatalf("patient %s with _include: %v", p.CPR, err)
				}
				sameEntries(t, "with _include, patient "+p.CPR, gotI.Entries, wantRef.Entries, back, sec.name)
				for _, u := range recIncl.take() {
					if strings.Count(strings.TrimPrefix(u.Path, "/"+sec.name+"/"), "/") > 0 {
						t.Errorf("with _include, the connector still read %s", u.Path)
					}
				}

				// Date window: what touches a narrower window, and only that.
				gotN, err := mp.Fetch(ctx, pref, narrow)
				if err != nil {
					t.Fatalf("patient %s, narrow window: %v", p.CPR, err)
				}
				wantN := inWindow(got.Entries, narrow)
				nFull, nNarrow = nFull+len(got.Entries), nNarrow+len(wantN)
				sameEntries(t, "narrow window, patient "+p.CPR, gotN.Entries, wantN, nil, sec.name)
				refN, err := ref.Fetch(ctx, pref, narrow)
				if err != nil {
					t.Fatalf("patient %s on fhirsim, narrow window: %v", p.CPR, err)
				}
				sameEntries(t, "narrow window against fhirsim, patient "+p.CPR, gotN.Entries, refN.Entries, back, sec.name)

				t.Logf("patient %s: %d entries in %d requests, %d in the narrow window",
					p.CPR, len(got.Entries), len(reqs), len(gotN.Entries))

				// _lastUpdated: a full read, a change on the server, then
				// an incremental read that asks only for what changed.
				checkIncremental(t, mpInc, rec, pref, full, got.Entries, srvBase, ids, want)
			}
			if nNarrow == 0 || nNarrow == nFull {
				t.Errorf("the narrow window holds %d of %d entries; pick one that splits them", nNarrow, nFull)
			}
			// checkIncremental cancelled one Appointment of each patient:
			// the feed names them all again, and nothing after that.
			var cprs []string
			for _, p := range ds.Patients {
				cprs = append(cprs, p.CPR)
			}
			feedCursor = checkFeed(t, feed, recFeed, feedCursor, cprs)
			checkFeed(t, feed, recFeed, feedCursor, nil)
		})
	}
}

// checkMedplum runs `overblik check`'s self-check against the seeded
// tenant behind a CapabilityStatement without search parameters, which is
// what Medplum's own server publishes: every search the connector makes is
// tried, with _include and _lastUpdated, and passes, as the data behind it
// would show one that Medplum ignored.
func checkMedplum(t *testing.T, base, tenant string, sector aggregator.Sector) {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Base(r.URL.Path) == "metadata" {
			w.Header().Set("Content-Type", "application/fhir+json")
			w.Write([]byte(`{"resourceType":"CapabilityStatement","status":"active","kind":"instance","fhirVersion":"4.0.1",` +
				`"rest":[{"mode":"server","resource":[{"type":"Patient"},{"type":"Appointment"},{"type":"Encounter"}]}]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := newConnector(t, fhirsource.Config{Name: tenant, Sector: sector, BaseURL: srv.URL + "/" + tenant, PageSize: 4,
		Include: true, Incremental: true}, nil)
	var tried []string
	for _, c := range s.Check(context.Background(), fhirsource.SystemCPR) {
		if !c.OK {
			t.Errorf("check %s: %s", c.Name, c.Detail)
		}
		if strings.HasPrefix(c.Name, "search ") {
			tried = append(tried, c.Name)
		}
		if c.Name == "searches declared" && !strings.HasPrefix(c.Detail, "not declared: Patient?identifier") {
			t.Errorf("searches declared: %s; want the undeclared ones named", c.Detail)
		}
	}
	if len(tried) != 5 {
		t.Errorf("tried %q, want the Patient look-up and Appointment and Encounter, by date and by _lastUpdated", tried)
	}
}

// checkFeed asks the change feed for what changed after cursor, checks that
// it named exactly the patients with the CPR numbers want, without reading
// a Patient (Medplum honours _include), and returns the next cursor.
func checkFeed(t *testing.T, s *fhirsource.Source, rec *recorder, cursor string, want []string) string {
	t.Helper()
	rec.reset()
	ids, next, err := s.Changed(context.Background(), cursor)
	if err != nil {
		t.Fatalf("change feed after %s: %v", cursor, err)
	}
	var got []string
	for _, id := range ids {
		if id.System == fhirsource.SystemCPR && !slices.Contains(got, id.Value) {
			got = append(got, id.Value)
		}
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("change feed after %s named %v, want %v", cursor, got, want)
	}
	if len(want) > 0 && !(next > cursor) || len(want) == 0 && next != cursor {
		t.Errorf("change feed cursor went from %s to %s", cursor, next)
	}
	for _, u := range rec.take() {
		if strings.Contains(u.Path, "/Patient/") {
			t.Errorf("the change feed read %s; Medplum _includes the Patients", u.Path)
		}
	}
	return next
}

// seeded is what the demo data holds for one patient in one sector.
type seeded struct {
	patient   string                     // "Patient/<demo id>"
	resources map[string]json.RawMessage // "Appointment/<demo id>" or "Encounter/<demo id>" -> resource
}

func seededFor(t *testing.T, data []json.RawMessage, p testdata.DemoPatient) seeded {
	t.Helper()
	s := seeded{resources: map[string]json.RawMessage{}}
	for _, raw := range data {
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Identifier   []struct {
				System, Value string
			} `json:"identifier"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.ResourceType == "Patient" && slices.ContainsFunc(r.Identifier, func(i struct{ System, Value string }) bool {
			return i.System == p.System && i.Value == p.CPR
		}) {
			s.patient = "Patient/" + r.ID
		}
	}
	if s.patient == "" {
		t.Fatalf("no Patient with CPR %s in the demo data", p.CPR)
	}
	for _, raw := range data {
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Subject      struct{ Reference string }
			Participant  []struct{ Actor struct{ Reference string } }
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		switch r.ResourceType {
		case "Encounter":
			if r.Subject.Reference == s.patient {
				s.resources[r.ResourceType+"/"+r.ID] = raw
			}
		case "Appointment":
			if slices.ContainsFunc(r.Participant, func(p struct{ Actor struct{ Reference string } }) bool {
				return p.Actor.Reference == s.patient
			}) {
				s.resources[r.ResourceType+"/"+r.ID] = raw
			}
		}
	}
	if len(s.resources) == 0 {
		t.Fatalf("no Appointments or Encounters for %s in the demo data", s.patient)
	}
	return s
}

func checkPatientSearches(t *testing.T, reqs []*url.URL, p testdata.DemoPatient, mpPatient string) {
	t.Helper()
	var lookups, searches int
	for _, u := range reqs {
		q := u.Query()
		switch path.Base(u.Path) {
		case "Patient":
			lookups++
			if got, want := q.Get("identifier"), p.System+"|"+p.CPR; got != want {
				t.Errorf("Patient search by identifier %q, want %q", got, want)
			}
		case "Appointment", "Encounter":
			if q.Get("_offset") != "" && q.Get("_offset") != "0" {
				continue // a next link: Medplum's own
			}
			searches++
			if got, want := q.Get("patient"), "Patient/"+mpPatient; got != want {
				t.Errorf("%s search for patient %q, want %q", path.Base(u.Path), got, want)
			}
		}
	}
	if lookups != 1 || searches != 2 {
		t.Errorf("%d Patient look-ups and %d first search pages, want 1 and 2: %v", lookups, searches, reqs)
	}
}

func checkSeeded(t *testing.T, cpr string, entries []aggregator.Entry, want seeded, back map[string]string, source string) {
	t.Helper()
	got := map[string]aggregator.Entry{}
	for _, e := range entries {
		key := back[strings.TrimPrefix(e.ID, source+"/")]
		if key == "" {
			t.Errorf("patient %s: entry %s is not one seeded", cpr, e.ID)
			continue
		}
		if _, dup := got[key]; dup {
			t.Errorf("patient %s: %s twice", cpr, key)
		}
		got[key] = e
	}
	count := func(m map[string]aggregator.Entry, typ string) (n int) {
		for k := range m {
			if strings.HasPrefix(k, typ+"/") {
				n++
			}
		}
		return n
	}
	wantN := map[string]int{}
	for k := range want.resources {
		typ, _, _ := strings.Cut(k, "/")
		wantN[typ]++
	}
	for _, typ := range []string{"Appointment", "Encounter"} {
		if count(got, typ) != wantN[typ] {
			t.Errorf("patient %s: %d %ss, want %d", cpr, count(got, typ), typ, wantN[typ])
		}
	}
	for key, raw := range want.resources {
		e, ok := got[key]
		if !ok {
			t.Errorf("patient %s: seeded %s is missing", cpr, key)
			continue
		}
		var r struct {
			Description string
			Start       string
			Type        []struct{ Text string }
			Period      struct{ Start string }
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		title, start := r.Description, r.Start
		if strings.HasPrefix(key, "Encounter/") {
			title, start = "", r.Period.Start
			if len(r.Type) > 0 {
				title = r.Type[0].Text
			}
		}
		if title != "" && e.Title != title {
			t.Errorf("patient %s, %s: title %q, want %q", cpr, key, e.Title, title)
		}
		if len(start) > len("2006-01-02") { // a dateTime; dates are whole days in the zone
			ts, err := time.Parse(time.RFC3339, start)
			if err != nil {
				t.Fatalf("%s: start %q: %v", key, start, err)
			}
			if !e.Start.Equal(ts) {
				t.Errorf("patient %s, %s: start %v, want %v", cpr, key, e.Start, ts)
			}
		}
	}
}

// checkPaged checks that a search with more matches than a page was read
// through Medplum's next links.
func checkPaged(t *testing.T, reqs []*url.URL, want seeded, pageSize int) {
	t.Helper()
	for _, typ := range []string{"Appointment", "Encounter"} {
		n := 0
		for k := range want.resources {
			if strings.HasPrefix(k, typ+"/") {
				n++
			}
		}
		var pages []string
		for _, u := range reqs {
			if path.Base(u.Path) == typ {
				pages = append(pages, u.Query().Get("_offset"))
				if got := u.Query().Get("_count"); got != strconv.Itoa(pageSize) {
					t.Errorf("%s page with _count=%s, want %d", typ, got, pageSize)
				}
			}
		}
		// One page per pageSize matches; a last page that is exactly full
		// has no next link, as Medplum's total tells there is no more.
		wantPages := max(1, (n+pageSize-1)/pageSize)
		if len(pages) != wantPages {
			t.Errorf("%d %s matches read in %d pages (offsets %q), want %d", n, typ, len(pages), pages, wantPages)
		}
		for i, off := range pages {
			if i > 0 && off != strconv.Itoa(i*pageSize) {
				t.Errorf("%s page %d at _offset=%s, want %d", typ, i, off, i*pageSize)
			}
		}
	}
}

// checkIncremental reads everything, changes one Appointment on the server
// and reads again: the second read must ask with _lastUpdated and no date,
// and must return the change.
func checkIncremental(t *testing.T, s *fhirsource.Source, rec *recorder, p aggregator.PatientRef, w aggregator.Window,
	full []aggregator.Entry, base string, ids map[string]string, want seeded) {
	t.Helper()
	ctx := context.Background()
	first, err := s.Fetch(ctx, p, w)
	if err != nil {
		t.Fatalf("incremental, first read: %v", err)
	}
	if len(first.Entries) != len(full) {
		t.Fatalf("incremental, first read: %d entries, want %d", len(first.Entries), len(full))
	}
	var target string // a booked Appointment of the patient's, by demo id
	for _, k := range slices.Sorted(maps.Keys(want.resources)) {
		var r struct{ Status string }
		if json.Unmarshal(want.resources[k], &r) == nil && strings.HasPrefix(k, "Appointment/") && r.Status == "booked" {
			target = k
			break
		}
	}
	if target == "" {
		t.Fatalf("patient %s has no booked Appointment to cancel", p.Identifier.Value)
	}
	mpID := ids[target]
	res := mpRequest(t, http.MethodGet, base+"/Appointment/"+mpID, nil)
	var appt map[string]any
	if err := json.Unmarshal(res, &appt); err != nil {
		t.Fatal(err)
	}
	// The newest lastUpdated read so far; Medplum stamps them in
	// milliseconds: let some pass, so the change is strictly newer.
	var newest time.Time
	for _, e := range first.Entries {
		if e.Updated.After(newest) {
			newest = e.Updated
		}
	}
	// In milliseconds, as Medplum stamps: "…:09Z" would be a whole second
	// to _lastUpdated=gt, after a change within it.
	before := newest.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	time.Sleep(5 * time.Millisecond)
	appt["status"] = "cancelled"
	body, _ := json.Marshal(appt)
	res = mpRequest(t, http.MethodPut, base+"/Appointment/"+mpID, body)
	var updated struct {
		Meta struct{ LastUpdated string }
	}
	if err := json.Unmarshal(res, &updated); err != nil {
		t.Fatal(err)
	}
	if at, err := time.Parse(time.RFC3339Nano, updated.Meta.LastUpdated); err != nil || !at.After(newest) {
		t.Fatalf("Medplum's lastUpdated %s is not after %s (%v)", updated.Meta.LastUpdated, before, err)
	}

	// The server itself: only the change is newer than what was seeded.
	var changed struct {
		Entry []struct{ Resource struct{ ID string } }
	}
	q := url.Values{"patient": {"Patient/" + ids[want.patient]}, "_lastUpdated": {"gt" + before}}
	if err := json.Unmarshal(mpRequest(t, http.MethodGet, base+"/Appointment?"+q.Encode(), nil), &changed); err != nil {
		t.Fatal(err)
	}
	if len(changed.Entry) != 1 || changed.Entry[0].Resource.ID != mpID {
		t.Errorf("Appointment?_lastUpdated=gt%s: %+v, want only %s", before, changed.Entry, mpID)
	}

	rec.reset()
	second, err := s.Fetch(ctx, p, w)
	if err != nil {
		t.Fatalf("incremental, second read: %v", err)
	}
	for _, u := range rec.take() {
		typ := path.Base(u.Path)
		if typ != "Appointment" && typ != "Encounter" {
			continue
		}
		q := u.Query()
		if !strings.HasPrefix(q.Get("_lastUpdated"), "ge") || q.Has("date") {
			t.Errorf("incremental read searched %s with _lastUpdated=%q date=%q, want _lastUpdated=ge... and no date",
				typ, q.Get("_lastUpdated"), q["date"])
		}
	}
	if len(second.Entries) != len(full) {
		t.Errorf("incremental, second read: %d entries, want %d", len(second.Entries), len(full))
	}
	wantID := s.Name() + "/Appointment/" + mpID
	found := false
	for _, e := range second.Entries {
		if e.ID == wantID {
			found = true
			if e.Status != aggregator.StatusCancelled || e.FHIRStatus != "cancelled" {
				t.Errorf("incremental read: %s has status %s (%s), want cancelled", target, e.Status, e.FHIRStatus)
			}
		}
	}
	if !found {
		t.Errorf("incremental read lost %s", target)
	}
}

// inWindow keeps the entries a FHIR date search for w finds: an
// Appointment's date is its start; an Encounter's its period.
func inWindow(entries []aggregator.Entry, w aggregator.Window) []aggregator.Entry {
	var out []aggregator.Entry
	for _, e := range entries {
		if !e.Start.Before(w.To) {
			continue
		}
		if e.Kind == aggregator.KindAppointment {
			if e.Start.Before(w.From) {
				continue
			}
		} else if !e.End.IsZero() && e.End.Before(w.From) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// sameEntries compares two lists of entries by content, after turning
// Medplum's ids in got into the demo's (when back is given) and leaving out
// what each server stamps itself: meta.lastUpdated and versionId.
func sameEntries(t *testing.T, what string, got, want []aggregator.Entry, back map[string]string, source string) {
	t.Helper()
	canon := func(es []aggregator.Entry, back map[string]string) map[string]string {
		out := map[string]string{}
		for _, e := range es {
			e.ID = demoID(e.ID, back, source)
			for i := range e.PartOf {
				e.PartOf[i] = demoID(e.PartOf[i], back, source)
			}
			e.Replaces = slices.Clone(e.Replaces)
			for i := range e.Replaces {
				e.Replaces[i] = demoID(e.Replaces[i], back, source)
			}
			prov := slices.Clone(e.Provenance)
			for i := range prov {
				if back != nil {
					if k, ok := back[prov[i].Type+"/"+prov[i].ID]; ok {
						_, prov[i].ID, _ = strings.Cut(k, "/")
					}
				}
				// What the server stamps itself, and the digest of the
				// bytes it wrote, differ from server to server.
				prov[i].Version, prov[i].Digest = "", ""
			}
			e.Provenance = prov
			e.Updated, e.FetchedAt = time.Time{}, time.Time{}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out[e.ID] = string(b)
		}
		return out
	}
	g, w := canon(got, back), canon(want, nil)
	for _, id := range slices.Sorted(maps.Keys(w)) {
		switch gv, ok := g[id]; {
		case !ok:
			t.Errorf("%s: missing %s", what, id)
		case gv != w[id]:
			t.Errorf("%s: %s differs\n got %s\nwant %s", what, id, gv, w[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(g)) {
		if _, ok := w[id]; !ok {
			t.Errorf("%s: unexpected %s", what, id)
		}
	}
}

// demoID maps "source/Type/medplumID" (or a bare "Type/medplumID") to the
// demo's id for the same resource.
func demoID(id string, back map[string]string, source string) string {
	if back == nil {
		return id
	}
	rest, hasSource := strings.CutPrefix(id, source+"/")
	if k, ok := back[rest]; ok {
		if hasSource {
			return source + "/" + k
		}
		return k
	}
	return id
}

// newConnector returns the connector for cfg, with its requests passing
// through rec when given.
func newConnector(t *testing.T, cfg fhirsource.Config, rec *recorder) *fhirsource.Source {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	if rec != nil {
		hc.Transport = rec
	}
	s, err := fhirsource.New(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recorder notes the URLs of the requests that pass through it to the
// network.
type recorder struct {
	mu   sync.Mutex
	urls []*url.URL
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	u := *req.URL
	r.urls = append(r.urls, &u)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) reset() { r.take() }

func (r *recorder) take() []*url.URL {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.urls
	r.urls = nil
	return out
}

// seedMedplum posts the sector's resources to Medplum as one transaction.
// Each resource gets a urn:uuid fullUrl and the references between them are
// rewritten to those, so Medplum assigns its own ids and links them up. It
// returns the id Medplum gave each "Type/demo id".
func seedMedplum(t *testing.T, base string, data []json.RawMessage) map[string]string {
	t.Helper()
	urns := map[string]string{}
	var keys []string
	var res []map[string]any
	for _, raw := range data {
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s/%s", r["resourceType"], r["id"])
		h := sha1.Sum([]byte(key))
		h[6] = h[6]&0x0f | 0x50
		h[8] = h[8]&0x3f | 0x80
		urns[key] = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
		keys = append(keys, key)
		res = append(res, r)
	}
	var rewrite func(v any) any
	rewrite = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "reference" {
					if urn, ok := urns[s]; ok {
						v[k] = urn
					}
					continue
				}
				v[k] = rewrite(x)
			}
		case []any:
			for i := range v {
				v[i] = rewrite(v[i])
			}
		}
		return v
	}
	var entries []map[string]any
	for i, r := range res {
		rewrite(r)
		delete(r, "id")
		entries = append(entries, map[string]any{
			"fullUrl":  urns[keys[i]],
			"resource": r,
			"request":  map[string]any{"method": "POST", "url": r["resourceType"]},
		})
	}
	body, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		ResourceType string
		Type         string
		Entry        []struct {
			Response struct{ Status, Location string }
		}
	}
	if err := json.Unmarshal(mpRequest(t, http.MethodPost, base, body), &out); err != nil {
		t.Fatal(err)
	}
	if out.Type != "transaction-response" || len(out.Entry) != len(keys) {
		t.Fatalf("transaction answered a %s %s with %d entries, want a transaction-response with %d",
			out.ResourceType, out.Type, len(out.Entry), len(keys))
	}
	ids := make(map[string]string, len(keys))
	for i, e := range out.Entry {
		typ, _, _ := strings.Cut(keys[i], "/")
		// Location: "Type/id" or "Type/id/_history/vid", maybe absolute.
		loc := e.Response.Location
		if j := strings.Index(loc, typ+"/"); j >= 0 {
			loc = loc[j+len(typ)+1:]
		}
		id, _, _ := strings.Cut(loc, "/")
		if !strings.HasPrefix(e.Response.Status, "201") || id == "" {
			t.Fatalf("transaction entry %d (%s): status %q, location %q", i, keys[i], e.Response.Status, e.Response.Location)
		}
		ids[keys[i]] = id
	}
	return ids
}

func mpRequest(t *testing.T, method, u string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, u, res.Status, b)
	}
	return b
}

// startMedplum starts tools/medplum/server.mjs on a free loopback port and
// returns its address; the process ends with the test. Node.js and the
// packages `npm ci --prefix tools/medplum` installs are required: without
// them the test fails, on CI and off it alike.
func startMedplum(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools", "medplum"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@medplum", "fhir-router", "package.json")); err != nil {
		t.Fatalf("Medplum's FHIR router is not installed: run `npm ci --prefix tools/medplum` from the repository root (make test does): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("Node.js (20 or later) is needed to run tools/medplum/server.mjs: %v", err)
	}
	ver, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(ver)), ".", 2)[0], "v"))
	if major < 20 {
		t.Fatalf("Node.js %s is too old for Medplum's FHIR router: 20 or later is needed", bytes.TrimSpace(ver))
	}
	args := []string{"server.mjs", "--port", "0", "--exit-with-stdin"}
	if major < 22 {
		args = append([]string{"--experimental-websocket"}, args...) // built in from Node 22
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // the server exits when this closes, even if the test is killed
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the Medplum server: %v", err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	stop := func() error {
		_ = stdin.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			return <-done
		}
	}
	var addr string
	select {
	case line, ok := <-lines:
		addr, _ = strings.CutPrefix(line, "listening on ")
		if !ok || !strings.HasPrefix(addr, "http://") {
			err := stop()
			t.Fatalf("the Medplum server did not start (%v; first line %q): %s", err, line, stderr.String())
		}
	case <-time.After(mpStartup):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the Medplum server did not say it listens within %v: %s", mpStartup, stderr.String())
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("the Medplum server ended with %v: %s", err, stderr.String())
		}
	})
	return addr
}
