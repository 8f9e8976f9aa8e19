package testdata_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/testdata"
)

// TestRegionThroughTheConnector reads region patients the way the product
// does: three simulated sources made on demand, the FHIR connector, a
// build. Every source gives each patient RegionEntries entries, the same
// ones every time; some patients have conflicts across sources; a change at
// a source moves one entry and is named by the change feed.
func TestRegionThroughTheConnector(t *testing.T) {
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	r, err := testdata.NewRegion(100_000, time.Now(), loc)
	if err != nil {
		t.Fatal(err)
	}
	var regs []aggregator.Registration
	var sims []*fhirsim.Server
	var feeds []*fhirsource.Source
	for _, sector := range []testdata.Sector{testdata.SectorHospital, testdata.SectorMunicipality, testdata.SectorGP} {
		sim, err := fhirsim.NewPopulation(r.Source(sector), fhirsim.Options{TimeZone: loc, Include: true})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		sec, _ := aggregator.ParseSector(string(sector))
		src, err := fhirsource.New(fhirsource.Config{Name: string(sector), Sector: sec, BaseURL: srv.URL, Location: loc, Include: true}, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, aggregator.Registration{Source: src})
		sims = append(sims, sim)
		feeds = append(feeds, src)
	}
	svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	build := func(t *testing.T, i int) *aggregator.Timeline {
		t.Helper()
		tl, err := svc.Refresh(ctx, aggregator.PatientRef{Handle: r.CPR(i), Identifier: aggregator.Identifier{System: testdata.CPRSystem, Value: r.CPR(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if tl.Stale() {
			t.Fatalf("patient %d: a source failed: %+v", i, tl.Sources)
		}
		return tl
	}
	conflicted := 0
	for _, i := range []int{0, 1, 9, 18, 54_321, 99_999} {
		tl := build(t, i)
		for _, st := range tl.Sources {
			if st.Entries != testdata.RegionEntries || st.Skipped+st.Warnings > 0 {
				t.Errorf("patient %d, %s: %d entries, %d skipped, %d warnings; want %d, none", i, st.Name, st.Entries, st.Skipped, st.Warnings, testdata.RegionEntries)
			}
		}
		for _, e := range tl.Entries {
			if e.Organization == "" || e.Title == "" || (e.Place.Name == "" && e.Medium != aggregator.MediumHomeVisit) {
				t.Errorf("patient %d: entry %s lacks organisation, title or place: %+v", i, e.ID, e)
				break
			}
		}
		if len(tl.Conflicts) > 0 {
			conflicted++
		}
		if again := build(t, i); !reflect.DeepEqual(entriesOf(again), entriesOf(tl)) {
			t.Errorf("patient %d: a second build gave other entries", i)
		}
	}
	if conflicted < 3 {
		t.Errorf("%d of 6 patients have conflicts; the planted ones (every ninth) at least should", conflicted)
	}

	// A change at the hospital: one entry moves a day, and the feed names
	// the patient.
	_, cur, err := feeds[0].Changed(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	before := build(t, 54_321)
	if _, err := sims[0].Change(54_321); err != nil {
		t.Fatal(err)
	}
	ids, _, err := feeds[0].Changed(ctx, cur)
	if err != nil || len(ids) != 1 || ids[0].Value != r.CPR(54_321) {
		t.Errorf("the feed named %v, %v; want the changed patient", ids, err)
	}
	after := build(t, 54_321)
	moved := 0
	for _, a := range before.Entries {
		for _, b := range after.Entries {
			if a.ID == b.ID && !a.Start.Equal(b.Start) {
				moved++
				if b.Start.Sub(a.Start) < 23*time.Hour || b.Start.Sub(a.Start) > 25*time.Hour {
					t.Errorf("%s moved by %s, want a day", a.ID, b.Start.Sub(a.Start))
				}
			}
		}
	}
	if moved != 1 {
		t.Errorf("%d entries moved, want 1", moved)
	}
}

func entriesOf(t *aggregator.Timeline) []aggregator.Entry {
	out := make([]aggregator.Entry, len(t.Entries))
	for i, e := range t.Entries {
		e.FetchedAt = time.Time{}
		out[i] = e
	}
	return out
}
