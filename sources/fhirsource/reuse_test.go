package fhirsource

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/testdata"
)

// kept marks entries as from an earlier read, so a test sees which of a
// read's entries were kept rather than made anew.
func kept(es []aggregator.Entry) []aggregator.Entry {
	out := slices.Clone(es)
	for i := range out {
		out[i].Title = "kept: " + out[i].Title
	}
	return out
}

func keptIDs(b aggregator.Batch) []string {
	var out []string
	for _, e := range b.Entries {
		if strings.HasPrefix(e.Title, "kept: ") {
			out = append(out, e.ID)
		}
	}
	slices.Sort(out)
	return out
}

// An Appointment read the same again keeps its entry; one that changed,
// an Encounter, an entry merged from more than one resource, and every
// Appointment once a party they may name changed, are made anew.
func TestUnchangedAppointmentKeepsItsEntry(t *testing.T) {
	ctx := context.Background()
	sim, err := fhirsim.New(rawAll(fixture), fhirsim.Options{TimeZone: cph})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(includingClinic(sim))
	t.Cleanup(srv.Close)
	s, err := New(Config{Name: "auh", Sector: aggregator.SectorHospital, BaseURL: srv.URL, Location: cph, Include: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	normalise := func(last []aggregator.Entry) aggregator.Batch {
		t.Helper()
		r, err := s.Read(ctx, anna, window)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Normalise(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := normalise(nil)
	var appts []string
	for _, e := range first.Entries {
		p := e.Provenance[0]
		if (p.Type == "Appointment") != (p.Digest != "") {
			t.Errorf("%s: digest %q; want one on Appointments only", e.ID, p.Digest)
		}
		if p.Type == "Appointment" {
			appts = append(appts, e.ID)
		}
	}
	slices.Sort(appts)
	if len(appts) < 2 {
		t.Fatalf("fixture gave appointments %v, want several", appts)
	}

	if got := keptIDs(normalise(kept(first.Entries))); !slices.Equal(got, appts) {
		t.Errorf("nothing changed: kept %v, want every Appointment %v", got, appts)
	}

	// a1 moves: the others stay.
	if err := sim.Put(json.RawMessage(`{"resourceType":"Appointment","id":"a1","status":"booked","serviceType":[{"text":"Øjenkontrol"}],"start":"2026-12-02T10:00:00+01:00","end":"2026-12-02T10:30:00+01:00",
	  "participant":[{"actor":{"reference":"Patient/pat-1"},"status":"accepted"},{"actor":{"reference":"Location/clinic"},"status":"accepted"}]}`)); err != nil {
		t.Fatal(err)
	}
	second := normalise(kept(first.Entries))
	want := slices.DeleteFunc(slices.Clone(appts), func(id string) bool { return id == "auh/Appointment/a1" })
	if got := keptIDs(second); !slices.Equal(got, want) {
		t.Errorf("a1 moved: kept %v, want %v", got, want)
	}
	for _, e := range second.Entries {
		if e.ID == "auh/Appointment/a1" && !e.Start.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, cph)) {
			t.Errorf("a1 starts %v, want the new time", e.Start)
		}
	}

	// An entry that merging made of two resources is not the resource's own.
	merged := kept(second.Entries)
	for i := range merged {
		merged[i].Provenance = append(slices.Clone(merged[i].Provenance), aggregator.Provenance{Source: "auh", Type: "Encounter", ID: "e9"})
	}
	if got := keptIDs(normalise(merged)); len(got) != 0 {
		t.Errorf("entries of two resources: kept %v, want none", got)
	}

	// The clinic, a party the Appointments may name, moved: none is kept.
	if err := sim.Put(json.RawMessage(`{"resourceType":"Location","id":"clinic","name":"Øjenklinikken","address":{"line":["Hedeager 1"],"postalCode":"8200","city":"Aarhus N"}}`)); err != nil {
		t.Fatal(err)
	}
	if got := keptIDs(normalise(kept(second.Entries))); len(got) != 0 {
		t.Errorf("an included party changed: kept %v, want none", got)
	}
}

// Over rounds of changes at random sources, timelines built keeping what
// read the same are what a service that keeps nothing builds.
func TestKeptEntriesAreWhatANewReadGives(t *testing.T) {
	ctx := context.Background()
	const n = 30
	base := time.Date(2026, 12, 2, 12, 0, 0, 0, cph)
	region, err := testdata.NewRegion(n, base, cph)
	if err != nil {
		t.Fatal(err)
	}
	var sims []*fhirsim.Server
	var urls []string
	for _, sec := range []testdata.Sector{testdata.SectorHospital, testdata.SectorMunicipality, testdata.SectorGP} {
		sim, err := fhirsim.NewPopulation(region.Source(sec), fhirsim.Options{TimeZone: cph})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		sims, urls = append(sims, sim), append(urls, srv.URL)
	}
	clock := base
	now := func() time.Time { return clock }
	service := func() *aggregator.Service {
		var regs []aggregator.Registration
		for i, u := range urls {
			src, err := New(Config{Name: fmt.Sprintf("s%d", i), Sector: aggregator.SectorHospital, BaseURL: u, Location: cph, Include: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			regs = append(regs, aggregator.Registration{Source: src})
		}
		svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{Now: now, Location: cph})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		return svc
	}
	keeping := service()
	patient := func(i int) aggregator.PatientRef {
		return aggregator.PatientRef{Handle: fmt.Sprintf("h%d", i), Identifier: aggregator.Identifier{System: testdata.CPRSystem, Value: region.CPR(i)}}
	}
	canon := func(tl *aggregator.Timeline) string {
		es := slices.Clone(tl.Entries)
		for i := range es {
			es[i].FetchedAt = time.Time{}
		}
		b, err := json.Marshal(struct {
			E []aggregator.Entry
			C []aggregator.Conflict
		}{es, tl.Conflicts})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		if round > 0 {
			for range n / 2 {
				if _, err := sims[rng.IntN(len(sims))].Change(rng.IntN(n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock = clock.Add(5 * time.Minute)
		fresh := service()
		for i := range n {
			got, err := keeping.Refresh(ctx, patient(i))
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Refresh(ctx, patient(i))
			if err != nil {
				t.Fatal(err)
			}
			if canon(got) != canon(want) {
				t.Fatalf("round %d, patient %d: kept entries differ from a new read:\n got %s\nwant %s", round, i, canon(got), canon(want))
			}
		}
	}
}
