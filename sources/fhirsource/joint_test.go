package fhirsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
)

// TestJointMeetingAcrossServers plants a video discharge meeting booked
// both by the hospital, on our simulator, and by the municipality, on
// Medplum (a FHIR server we did not write), each in its own words. The
// timeline shows it once, with both organisations and no conflict; when
// the municipality cancels its booking, the hospital's stands.
func TestJointMeetingAcrossServers(t *testing.T) {
	const cpr = "3002410148"
	const room = "https://video.rm.dk/rum/udskrivning-4711"
	start := time.Now().Truncate(time.Hour).Add(26 * time.Hour)
	appointment := func(id, org, title string, at time.Time, status string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":%q,"meta":{"lastUpdated":"2026-01-01T00:00:00Z"},
			"status":%q,"description":%q,"start":%q,"end":%q,
			"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService",
				"extension":[{"url":"channelType","valueCoding":{"system":"http://hl7.org/fhir/virtual-service-type","code":"https://jitsi.org"}},
					{"url":"addressUrl","valueUrl":%q}]}],
			"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"},{"actor":{"reference":"Organization/%s"},"status":"accepted"}]}`,
			id, status, title, at.Format(time.RFC3339), at.Add(time.Hour).Format(time.RFC3339), room, org))
	}
	patient := json.RawMessage(`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"` + cpr + `"}]}`)
	hospital := []json.RawMessage{patient,
		json.RawMessage(`{"resourceType":"Organization","id":"auh","name":"Aarhus Universitetshospital"}`),
		appointment("udskr", "auh", "Udskrivningssamtale", start, "booked"),
	}
	// The municipality booked it two minutes later, under its own title.
	municipality := func(status string) []json.RawMessage {
		return []json.RawMessage{patient,
			json.RawMessage(`{"resourceType":"Organization","id":"ak","name":"Aarhus Kommune"}`),
			appointment("moede", "ak", "Udskrivningssamtale med kommunen", start.Add(2*time.Minute), status),
		}
	}

	sim, err := fhirsim.New(hospital, fhirsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	mp := startMedplum(t) + "/joint-municipality"
	ids := seedMedplum(t, mp, municipality("booked"))

	hosp := newConnector(t, fhirsource.Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: simSrv.URL}, nil)
	kommune := newConnector(t, fhirsource.Config{Name: "aarhus", Sector: aggregator.SectorMunicipality, BaseURL: mp}, nil)
	regs := []aggregator.Registration{{Source: hosp, Display: "AUH"}, {Source: kommune, Display: "Aarhus Kommune"}}
	p := aggregator.PatientRef{Handle: "h", Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: cpr}}
	timeline := func(rules *aggregator.MergeRules) *aggregator.Timeline {
		t.Helper()
		svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{Merge: rules})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		tl, err := svc.Refresh(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range tl.Sources {
			if !st.OK {
				t.Fatalf("source %s: %s", st.Name, st.Error)
			}
		}
		return tl
	}

	// Kept apart, the two bookings are what the issue complains of.
	apart := timeline(&aggregator.MergeRules{Meetings: aggregator.MeetingMerge{Off: true}})
	var rules []aggregator.Rule
	for _, c := range apart.Conflicts {
		rules = append(rules, c.Rule)
	}
	if len(apart.Entries) != 2 || !slices.Contains(rules, aggregator.RuleOverlap) {
		t.Fatalf("apart: %d entries, conflicts %v; want two overlapping bookings", len(apart.Entries), rules)
	}

	tl := timeline(nil)
	if len(tl.Entries) != 1 || len(tl.Conflicts) != 0 {
		t.Fatalf("joined: %d entries and conflicts %+v, want one entry and none", len(tl.Entries), tl.Conflicts)
	}
	e := tl.Entries[0]
	parts := func(e aggregator.Entry) []string {
		var out []string
		for _, pt := range e.Parts {
			out = append(out, pt.Source+": "+pt.Organization+" "+string(pt.Status))
		}
		return out
	}
	if got, want := parts(e), []string{"auh: Aarhus Universitetshospital booked", "aarhus: Aarhus Kommune booked"}; !slices.Equal(got, want) {
		t.Errorf("parts %q, want %q", got, want)
	}
	provenance := map[string]bool{}
	for _, pr := range e.Provenance {
		provenance[pr.Source+"/"+pr.ID] = true
	}
	if e.ID != "auh/Appointment/udskr" || e.Medium != aggregator.MediumVideo || e.VideoURL != room ||
		!provenance["auh/udskr"] || !provenance["aarhus/"+ids["Appointment/moede"]] {
		t.Errorf("entry %s (%s, %s), provenance %v", e.ID, e.Medium, e.VideoURL, e.Provenance)
	}

	// The municipality cancels its booking; the hospital's stands.
	var moede map[string]any
	json.Unmarshal(mpRequest(t, http.MethodGet, mp+"/Appointment/"+ids["Appointment/moede"], nil), &moede)
	moede["status"] = "cancelled"
	body, _ := json.Marshal(moede)
	mpRequest(t, http.MethodPut, mp+"/Appointment/"+ids["Appointment/moede"], body)
	tl = timeline(nil)
	if len(tl.Entries) != 1 || tl.Entries[0].Status != aggregator.StatusBooked || len(tl.Conflicts) != 0 {
		t.Fatalf("after the municipality cancelled: %d entries, status %s, conflicts %d; want the one booked entry",
			len(tl.Entries), tl.Entries[0].Status, len(tl.Conflicts))
	}
	if got, want := parts(tl.Entries[0]), []string{"auh: Aarhus Universitetshospital booked", "aarhus: Aarhus Kommune cancelled"}; !slices.Equal(got, want) {
		t.Errorf("parts %q, want %q", got, want)
	}
}
