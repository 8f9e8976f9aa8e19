package fhirsim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/testdata"
)

// TestServesDemo runs the demo sources through the simulator the way a
// connector would: find the patient by CPR, then page through their
// appointments and encounters.
func TestServesDemo(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	ds := testdata.Demo(time.Now(), loc)
	for _, sector := range []string{"hospital", "municipality", "gp"} {
		resources, _ := ds.Sector(sector)
		sim, err := fhirsim.New(resources, fhirsim.Options{TimeZone: loc})
		if err != nil {
			t.Fatalf("%s: New: %v", sector, err)
		}
		ts := httptest.NewServer(sim)
		t.Cleanup(ts.Close)
		for _, p := range ds.Patients {
			t.Run(sector+"/"+p.CPR, func(t *testing.T) {
				ids := collect(t, ts.URL+"/Patient?identifier="+url.QueryEscape(p.System+"|"+p.CPR))
				if len(ids) != 1 {
					t.Fatalf("patients with CPR: got %d, want 1", len(ids))
				}
				seen := map[string]bool{}
				total := 0
				for _, typ := range []string{"Appointment", "Encounter"} {
					window := url.Values{"patient": {ids[0]}, "_count": {"7"},
						"date": {"ge" + time.Now().AddDate(0, -3, -1).Format(time.RFC3339), "lt" + time.Now().AddDate(0, 6, 1).Format(time.RFC3339)}}
					for _, id := range collect(t, ts.URL+"/"+typ+"?"+window.Encode()) {
						if seen[typ+id] {
							t.Errorf("%s/%s returned twice", typ, id)
						}
						seen[typ+id] = true
						total++
					}
				}
				if total < 5 {
					t.Errorf("got %d appointments and encounters, want at least 5 in every sector", total)
				}
			})
		}
	}
}

// collect follows next links and returns the entries' ids.
func collect(t *testing.T, u string) []string {
	t.Helper()
	var ids []string
	for pages := 0; u != ""; pages++ {
		if pages > 100 {
			t.Fatal("too many pages")
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Link  []struct{ Relation, URL string }
			Entry []struct {
				Resource struct{ ID string }
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		for _, e := range b.Entry {
			ids = append(ids, e.Resource.ID)
		}
		u = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				u = l.URL
			}
		}
	}
	return ids
}
