package fhirsource

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
	"github.com/overblik/overblik/fhir/fhirsim"
)

// TestUntitledEncountersGetATitle reads real MedCom encounters that carry
// no type, service or reason, only a class (an emergency stay, an
// admission), and a home-health variant of one: each gets a title from its
// class, so no page, calendar or notice shows an empty heading.
func TestUntitledEncountersGetATitle(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "fhir-examples", "medcom-dk")
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the shared FHIR examples are required: %v", err)
		}
		return string(b)
	}
	emergency := read("hospitalnotification-Encounter-h2cb16ce-af8c-46f3-be9e-89406ef3e7b5.json")
	for _, field := range []string{`"type"`, `"serviceType"`, `"reasonCode"`} {
		if strings.Contains(emergency, field) {
			t.Fatalf("the example has %s: it no longer tests an untitled encounter", field)
		}
	}
	// Derived in code, as the examples' README asks: the same encounter
	// as a home-health visit of another id.
	var v map[string]any
	if err := json.Unmarshal([]byte(emergency), &v); err != nil {
		t.Fatal(err)
	}
	v["id"] = "home-visit"
	v["class"].(map[string]any)["code"] = "HH"
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	home := string(b)
	_, base := startSim(t, []string{
		read("hospitalnotification-Patient-fdc1fc66-81d0-11ed-a1eb-0242ac120002.json"), emergency, home,
	}, fhirsim.Options{TimeZone: cph})
	elmer := aggregator.PatientRef{Handle: "elmer", Identifier: aggregator.Identifier{System: cpr, Value: "2509479989"}}
	w := aggregator.Window{From: time.Date(2022, 11, 1, 0, 0, 0, 0, cph), To: time.Date(2023, 1, 1, 0, 0, 0, 0, cph)}
	batch, err := newSource(t, base, 10).Fetch(context.Background(), elmer, w)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]aggregator.Entry{}
	for _, e := range batch.Entries {
		got[e.ID] = e
	}
	for id, want := range map[string]string{
		"auh/Encounter/h2cb16ce-af8c-46f3-be9e-89406ef3e7b5": "Akut behandling",
		"auh/Encounter/home-visit":                           "Hjemmebesøg",
	} {
		e, ok := got[id]
		if !ok {
			t.Fatalf("no entry %s among %d", id, len(batch.Entries))
		}
		check(t, id+" title", e.Title, want)
	}
	check(t, "home visit medium", got["auh/Encounter/home-visit"].Medium, aggregator.MediumHomeVisit)
}

func TestClassTitle(t *testing.T) {
	tests := []struct {
		json string
		want string
	}{
		{`{"resourceType":"Encounter","id":"c1","status":"in-progress","class":{"code":"IMP"},"period":{"start":"2026-11-24T09:00:00+01:00"}}`, "Indlæggelse"},
		{`{"resourceType":"Encounter","id":"c2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"period":{"start":"2026-11-24T09:00:00+01:00"}}`, "Ambulant besøg"},
		// Another system's code means nothing to us: its display is the title.
		{`{"resourceType":"Encounter","id":"c3","status":"finished","class":{"system":"urn:example:classes","code":"AMB","display":"Sengeafsnit"},"period":{"start":"2026-11-24T09:00:00+01:00"}}`, "Sengeafsnit"},
		// A type says more than the class.
		{`{"resourceType":"Encounter","id":"c4","status":"finished","class":{"code":"AMB"},"type":[{"text":"Kontrol"}],"period":{"start":"2026-11-24T09:00:00+01:00"}}`, "Kontrol"},
	}
	n := normaliser{src: testSource(t), loc: cph}
	for _, tc := range tests {
		enc, err := fhir.DecodeEncounter([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		e, err := n.encounter(enc)
		if err != nil {
			t.Fatal(err)
		}
		check(t, e.ID+" title", e.Title, tc.want)
	}
}
