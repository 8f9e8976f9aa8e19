package testdata

import (
	"testing"
	"time"
)

// TestDemoPlantedConflicts checks, in FHIR terms, that the demo holds the
// conflicts the aggregator's rules look for beyond the base schedules, and a
// control patient with none, whatever today is.
func TestDemoPlantedConflicts(t *testing.T) {
	appts := func(v *view, cpr string) []entry {
		var out []entry
		for _, e := range v.entries {
			if e.cpr == cpr && e.r.ResourceType == "Appointment" && active(e.r) {
				out = append(out, e)
			}
		}
		return out
	}
	tests := []struct {
		name string
		has  func(t *testing.T, v *view) bool
	}{
		{"a short gap between in-person appointments in two sources", func(t *testing.T, v *view) bool {
			for _, p := range v.ds.Patients {
				for _, a := range appts(v, p.CPR) {
					for _, b := range appts(v, p.CPR) {
						gap := b.start.Sub(a.end)
						if a.sector != b.sector && gap > 0 && gap <= 10*time.Minute && a.r.AppointmentType == nil && b.r.AppointmentType == nil {
							return true
						}
					}
				}
			}
			return false
		}},
		{"four appointments on one day", func(t *testing.T, v *view) bool {
			for _, p := range v.ds.Patients {
				perDay := map[string]int{}
				for _, a := range appts(v, p.CPR) {
					if a.start.In(v.loc).Hour() >= 8 { // home care mornings and night visits aside
						perDay[a.start.In(v.loc).Format(time.DateOnly)]++
					}
				}
				for _, n := range perDay {
					if n >= 4 {
						return true
					}
				}
			}
			return false
		}},
		{"the same service in two sources within 14 days", func(t *testing.T, v *view) bool {
			for _, p := range v.ds.Patients {
				for _, a := range appts(v, p.CPR) {
					for _, b := range appts(v, p.CPR) {
						d := b.start.Sub(a.start)
						if a.sector != b.sector && a.r.Description == b.r.Description && d > 0 && d <= 14*24*time.Hour {
							return true
						}
					}
				}
			}
			return false
		}},
		{"a control patient: one appointment a week, never admitted", func(t *testing.T, v *view) bool {
			for _, p := range v.ds.Patients {
				calm := true
				var starts []time.Time
				for _, e := range v.entries {
					if e.cpr != p.CPR {
						continue
					}
					if e.r.ResourceType == "Encounter" {
						calm = false
					}
					starts = append(starts, e.start)
				}
				for i := range starts {
					for j := range starts {
						if i != j && starts[j].Sub(starts[i]).Abs() < 6*24*time.Hour {
							calm = false
						}
					}
				}
				if calm && len(starts) >= 20 {
					return true
				}
			}
			return false
		}},
	}
	for name, today := range todays(t) {
		v := newView(t, today)
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				if !tt.has(t, v) {
					t.Errorf("no demo data shows %q", tt.name)
				}
			})
		}
	}
}
