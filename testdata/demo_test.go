package testdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests need Europe/Copenhagen wherever they run

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

type testRef struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

// res is the part of a resource the tests look at.
type res struct {
	raw          json.RawMessage
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		LastUpdated string `json:"lastUpdated"`
		Security    []struct{ Code string }
	} `json:"meta"`
	Identifier        []struct{ System, Value string } `json:"identifier"`
	Status            string                           `json:"status"`
	CancelationReason *struct {
		Text   string
		Coding []struct{ Code string }
	} `json:"cancelationReason"`
	AppointmentType *struct {
		Coding []struct{ System, Code string }
	} `json:"appointmentType"`
	Description        string `json:"description"`
	Start              string `json:"start"`
	End                string `json:"end"`
	MinutesDuration    int    `json:"minutesDuration"`
	PatientInstruction string `json:"patientInstruction"`
	Extension          []struct {
		URL            string   `json:"url"`
		ValueReference *testRef `json:"valueReference"`
	} `json:"extension"`
	Contained   []json.RawMessage `json:"contained"`
	Participant []struct {
		Actor      *testRef `json:"actor"`
		Individual *testRef `json:"individual"`
	} `json:"participant"`
	Subject     *testRef                                   `json:"subject"`
	Class       *struct{ Code string }                     `json:"class"`
	Period      *struct{ Start, End string }               `json:"period"`
	Appointment []testRef                                  `json:"appointment"`
	Type        []struct{ Coding []struct{ Code string } } `json:"type"`
}

// entry is an Appointment or Encounter tied to its patient's CPR.
type entry struct {
	sector     Sector
	r          res
	cpr        string
	start, end time.Time // end zero: open
}

type view struct {
	loc      *time.Location
	today    time.Time // local midnight
	ds       *Dataset
	bySector map[Sector][]res
	index    map[Sector]map[string]res // "Type/id"
	cprOf    map[Sector]map[string]string
	entries  []entry
}

func copenhagen(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

// todays covers both DST changes, a leap day, a month end and the real today.
func todays(t *testing.T) map[string]time.Time {
	t.Helper()
	loc := copenhagen(t)
	return map[string]time.Time{
		"spring":   time.Date(2026, 3, 20, 15, 4, 5, 0, loc),
		"autumn":   time.Date(2026, 10, 10, 8, 0, 0, 0, loc),
		"summer":   time.Date(2026, 7, 1, 12, 0, 0, 0, loc),
		"monthend": time.Date(2027, 1, 31, 23, 59, 0, 0, loc),
		"leapday":  time.Date(2028, 2, 29, 0, 0, 0, 0, loc),
		"now":      time.Now(),
	}
}

func sectors() []Sector { return []Sector{SectorHospital, SectorMunicipality, SectorGP} }

func parseTime(t *testing.T, s string, loc *time.Location, isEnd bool) time.Time {
	t.Helper()
	if len(s) == len("2006-01-02") {
		d, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			t.Fatalf("parse date %q: %v", s, err)
		}
		if isEnd {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse dateTime %q: %v", s, err)
	}
	return v
}

func newView(t *testing.T, today time.Time) *view {
	t.Helper()
	loc := copenhagen(t)
	y, m, d := today.In(loc).Date()
	v := &view{loc: loc, today: time.Date(y, m, d, 0, 0, 0, 0, loc), ds: Demo(today, loc),
		bySector: map[Sector][]res{}, index: map[Sector]map[string]res{}, cprOf: map[Sector]map[string]string{}}
	for _, sec := range sectors() {
		raws, ok := v.ds.Sector(string(sec))
		if !ok {
			t.Fatalf("Sector(%q) not found", sec)
		}
		v.index[sec] = map[string]res{}
		v.cprOf[sec] = map[string]string{}
		for i, raw := range raws {
			var r res
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("%s resource %d: %v", sec, i, err)
			}
			r.raw = raw
			key := r.ResourceType + "/" + r.ID
			if _, dup := v.index[sec][key]; dup {
				t.Fatalf("%s: duplicate %s", sec, key)
			}
			v.index[sec][key] = r
			v.bySector[sec] = append(v.bySector[sec], r)
			if r.ResourceType == "Patient" {
				for _, id := range r.Identifier {
					if id.System == CPRSystem {
						v.cprOf[sec][r.ID] = id.Value
					}
				}
			}
		}
		for _, r := range v.bySector[sec] {
			if r.ResourceType != "Appointment" && r.ResourceType != "Encounter" {
				continue
			}
			e := entry{sector: sec, r: r, cpr: v.patientCPR(t, sec, r)}
			if r.ResourceType == "Appointment" {
				e.start = parseTime(t, r.Start, loc, false)
				switch {
				case r.End != "":
					e.end = parseTime(t, r.End, loc, true)
				case r.MinutesDuration > 0:
					e.end = e.start.Add(time.Duration(r.MinutesDuration) * time.Minute)
				default:
					t.Fatalf("%s Appointment/%s has neither end nor minutesDuration", sec, r.ID)
				}
			} else {
				if r.Period == nil || r.Period.Start == "" {
					t.Fatalf("%s Encounter/%s without period.start", sec, r.ID)
				}
				e.start = parseTime(t, r.Period.Start, loc, false)
				if r.Period.End != "" {
					e.end = parseTime(t, r.Period.End, loc, true)
				}
			}
			v.entries = append(v.entries, e)
		}
	}
	return v
}

func (v *view) patientCPR(t *testing.T, sec Sector, r res) string {
	t.Helper()
	refs := []*testRef{r.Subject}
	for _, p := range r.Participant {
		refs = append(refs, p.Actor)
	}
	for _, ref := range refs {
		if ref != nil && strings.HasPrefix(ref.Reference, "Patient/") {
			cpr, ok := v.cprOf[sec][strings.TrimPrefix(ref.Reference, "Patient/")]
			if !ok {
				t.Fatalf("%s %s/%s: patient %s has no CPR", sec, r.ResourceType, r.ID, ref.Reference)
			}
			return cpr
		}
	}
	t.Fatalf("%s %s/%s references no patient", sec, r.ResourceType, r.ID)
	return ""
}

func forEachToday(t *testing.T, f func(t *testing.T, v *view)) {
	t.Helper()
	for name, today := range todays(t) {
		t.Run(name, func(t *testing.T) { f(t, newView(t, today)) })
	}
}

func TestDemoDeterministic(t *testing.T) {
	loc := copenhagen(t)
	for name, today := range todays(t) {
		t.Run(name, func(t *testing.T) {
			y, m, d := today.In(loc).Date()
			first := Demo(today, loc)
			again := Demo(time.Date(y, m, d, 23, 59, 59, 0, loc), loc) // same day, other hour
			nextDay := Demo(today.AddDate(0, 0, 1), loc)
			for _, sec := range sectors() {
				got, _ := again.Sector(string(sec))
				want, _ := first.Sector(string(sec))
				if !bytes.Equal(join(got), join(want)) {
					t.Errorf("%s: two calls on the same day differ", sec)
				}
				other, _ := nextDay.Sector(string(sec))
				if bytes.Equal(join(other), join(want)) {
					t.Errorf("%s: the next day gives the same data; dates do not follow today", sec)
				}
			}
		})
	}
}

func join(rs []json.RawMessage) []byte {
	var b bytes.Buffer
	for _, r := range rs {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestDemoResourcesValid(t *testing.T) {
	forEachToday(t, func(t *testing.T, v *view) {
		for _, sec := range sectors() {
			raws, _ := v.ds.Sector(string(sec))
			if len(raws) == 0 {
				t.Fatalf("%s has no resources", sec)
			}
			for i, raw := range raws {
				if !json.Valid(raw) {
					t.Fatalf("%s resource %d is not valid JSON", sec, i)
				}
			}
			for _, r := range v.bySector[sec] {
				if r.ResourceType == "" || r.ID == "" {
					t.Errorf("%s: resource without resourceType or id: %.80s", sec, r.raw)
				}
				lu, err := time.Parse(time.RFC3339, r.Meta.LastUpdated)
				if err != nil {
					t.Errorf("%s %s/%s: meta.lastUpdated %q: %v", sec, r.ResourceType, r.ID, r.Meta.LastUpdated, err)
					continue
				}
				if !lu.Before(v.today) {
					t.Errorf("%s %s/%s: lastUpdated %s is not before today %s", sec, r.ResourceType, r.ID, lu, v.today)
				}
			}
		}
	})
}

func TestDemoPatientsEntries(t *testing.T) {
	forEachToday(t, func(t *testing.T, v *view) {
		lo, hi := v.today.AddDate(0, -3, 0), v.today.AddDate(0, 6, 0)
		if got := len(v.ds.Patients); got < 3 {
			t.Fatalf("patients: got %d, want at least 3", got)
		}
		for _, p := range v.ds.Patients {
			count := 0
			perSector := map[Sector]int{}
			for _, e := range v.entries {
				if e.cpr != p.CPR {
					continue
				}
				count++
				perSector[e.sector]++
				if e.start.Before(lo) || e.start.After(hi) || (!e.end.IsZero() && (e.end.Before(lo) || e.end.After(hi))) {
					t.Errorf("%s %s/%s: %s..%s outside [%s, %s]", e.sector, e.r.ResourceType, e.r.ID, e.start, e.end, lo, hi)
				}
			}
			if count < 20 || count > 60 {
				t.Errorf("patient %s: got %d appointments and encounters, want 20-60", p.CPR, count)
			}
			for _, sec := range sectors() {
				if perSector[sec] == 0 {
					t.Errorf("patient %s: no entries in %s", p.CPR, sec)
				}
			}
		}
	})
}

func TestDemoPatientsInEverySource(t *testing.T) {
	forEachToday(t, func(t *testing.T, v *view) {
		for _, p := range v.ds.Patients {
			if p.System != CPRSystem {
				t.Errorf("patient %s: system %q, want %q", p.CPR, p.System, CPRSystem)
			}
			ids := map[string]Sector{}
			for _, sec := range sectors() {
				var found []string
				for id, cpr := range v.cprOf[sec] {
					if cpr == p.CPR {
						found = append(found, id)
					}
				}
				if len(found) != 1 {
					t.Fatalf("patient %s in %s: got %d Patient resources, want 1", p.CPR, sec, len(found))
				}
				if other, dup := ids[found[0]]; dup {
					t.Errorf("patient %s has the same id %s in %s and %s", p.CPR, found[0], other, sec)
				}
				ids[found[0]] = sec
			}
		}
	})
}

// TestDemoCPRsImpossible proves no demo CPR can belong to a real person: its
// date part is not a calendar date.
func TestDemoCPRsImpossible(t *testing.T) {
	ds := Demo(time.Now(), copenhagen(t))
	danish := false
	for _, p := range ds.Patients {
		t.Run(p.CPR, func(t *testing.T) {
			if len(p.CPR) != 10 || strings.Trim(p.CPR, "0123456789") != "" {
				t.Fatalf("CPR %q is not 10 digits", p.CPR)
			}
			var day, month, yy int
			if _, err := fmt.Sscanf(p.CPR[:6], "%02d%02d%02d", &day, &month, &yy); err != nil {
				t.Fatalf("CPR %q: %v", p.CPR, err)
			}
			d := time.Date(1900+yy, time.Month(month), day, 0, 0, 0, 0, time.UTC)
			if d.Day() == day && int(d.Month()) == month {
				t.Errorf("CPR %s has the real date %s; it could belong to a real person", p.CPR, d.Format("2006-01-02"))
			}
			if _, err := time.Parse("2006-01-02", p.Born); err != nil {
				t.Errorf("Born %q is not a FHIR date: %v", p.Born, err)
			}
		})
		danish = danish || strings.ContainsAny(p.Name, "æøåÆØÅ")
	}
	if !danish {
		t.Errorf("no patient name uses æ, ø or å")
	}
}

func TestDemoReferencesResolve(t *testing.T) {
	forEachToday(t, func(t *testing.T, v *view) {
		for _, sec := range sectors() {
			for _, r := range v.bySector[sec] {
				var doc any
				if err := json.Unmarshal(r.raw, &doc); err != nil {
					t.Fatal(err)
				}
				contained := map[string]bool{}
				for _, c := range r.Contained {
					var cr res
					if err := json.Unmarshal(c, &cr); err != nil {
						t.Fatal(err)
					}
					contained[cr.ID] = true
				}
				for _, ref := range references(doc) {
					if local, ok := strings.CutPrefix(ref, "#"); ok {
						if !contained[local] {
							t.Errorf("%s %s/%s: %s names no contained resource", sec, r.ResourceType, r.ID, ref)
						}
						continue
					}
					if _, ok := v.index[sec][ref]; !ok {
						t.Errorf("%s %s/%s: reference %s does not resolve in %s", sec, r.ResourceType, r.ID, ref, sec)
					}
				}
			}
		}
	})
}

// references collects every Reference.reference in a decoded resource.
func references(n any) []string {
	var out []string
	switch n := n.(type) {
	case map[string]any:
		if s, ok := n["reference"].(string); ok {
			out = append(out, s)
		}
		for k, c := range n {
			if k != "contained" {
				out = append(out, references(c)...)
			}
		}
	case []any:
		for _, c := range n {
			out = append(out, references(c)...)
		}
	}
	return out
}

func active(r res) bool {
	return r.Status != "cancelled" && r.Status != "entered-in-error" && r.Status != "noshow"
}

func TestDemoScenarios(t *testing.T) {
	tests := []struct {
		name string
		has  func(t *testing.T, v *view) bool
	}{
		{"cancelled with reason", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.Status == "cancelled" && e.r.CancelationReason != nil && e.r.CancelationReason.Text != "" {
					return true
				}
			}
			return false
		}},
		{"entered-in-error", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.ResourceType == "Appointment" && e.r.Status == "entered-in-error" {
					return true
				}
			}
			return false
		}},
		{"rescheduled replaces a cancelled appointment", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				for _, x := range e.r.Extension {
					if x.URL != ReplacesExtension || x.ValueReference == nil || e.r.Status != "booked" {
						continue
					}
					old, ok := v.index[e.sector][x.ValueReference.Reference]
					if ok && old.Status == "cancelled" && old.Description == e.r.Description {
						return true
					}
				}
			}
			return false
		}},
		{"video with contained location url", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.AppointmentType == nil || len(e.r.AppointmentType.Coding) == 0 || e.r.AppointmentType.Coding[0].Code != "VR" {
					continue
				}
				for _, c := range e.r.Contained {
					var l struct {
						ResourceType string
						ID           string
						Telecom      []struct{ System, Value string }
					}
					if err := json.Unmarshal(c, &l); err != nil {
						t.Fatal(err)
					}
					for _, p := range e.r.Participant {
						if l.ResourceType == "Location" && p.Actor != nil && p.Actor.Reference == "#"+l.ID &&
							len(l.Telecom) > 0 && l.Telecom[0].System == "url" && strings.HasPrefix(l.Telecom[0].Value, "https://") {
							return true
						}
					}
				}
			}
			return false
		}},
		{"admission with municipal visits inside", func(t *testing.T, v *view) bool {
			for _, adm := range v.entries {
				if adm.r.ResourceType != "Encounter" || adm.r.Class == nil || adm.r.Class.Code != "IMP" ||
					(adm.r.Status != "finished" && adm.r.Status != "in-progress") || adm.sector != SectorHospital {
					continue
				}
				if !adm.end.IsZero() && adm.end.Sub(adm.start) < 48*time.Hour {
					continue
				}
				for _, e := range v.entries {
					if e.sector == SectorMunicipality && e.cpr == adm.cpr && e.r.Status == "booked" &&
						!e.start.Before(adm.start) && (adm.end.IsZero() || e.end.Before(adm.end)) {
						return true
					}
				}
			}
			return false
		}},
		{"two overlapping appointments", func(t *testing.T, v *view) bool {
			for i, a := range v.entries {
				for _, b := range v.entries[i+1:] {
					if a.r.ResourceType == "Appointment" && b.r.ResourceType == "Appointment" && a.cpr == b.cpr &&
						active(a.r) && active(b.r) && a.start.Before(b.end) && b.start.Before(a.end) {
						return true
					}
				}
			}
			return false
		}},
		{"early morning appointment on the DST day", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				s := e.start.In(v.loc)
				y, m, d := s.Date()
				_, before := time.Date(y, m, d, 0, 0, 0, 0, v.loc).Zone()
				_, after := time.Date(y, m, d, 23, 0, 0, 0, v.loc).Zone()
				if e.r.ResourceType != "Appointment" || before == after || s.Hour() >= 9 {
					continue
				}
				// The written offset must be the one in force at that instant.
				_, given := e.start.Zone()
				_, local := s.Zone()
				if given == local {
					return true
				}
			}
			return false
		}},
		{"encounter references an existing appointment", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				for _, a := range e.r.Appointment {
					if ap, ok := v.index[e.sector][a.Reference]; ok && ap.ResourceType == "Appointment" && e.r.Status == "finished" {
						return true
					}
				}
			}
			return false
		}},
		{"all-day appointment midnight to midnight", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				s, end := e.start.In(v.loc), e.end.In(v.loc)
				if e.r.ResourceType == "Appointment" && s.Hour() == 0 && s.Minute() == 0 && end.Hour() == 0 && end.Minute() == 0 &&
					end.Equal(time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, v.loc)) {
					return true
				}
			}
			return false
		}},
		{"date-only encounter", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.ResourceType == "Encounter" && len(e.r.Period.Start) == len("2006-01-02") {
					return true
				}
			}
			return false
		}},
		{"minutesDuration without end", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.MinutesDuration > 0 && e.r.End == "" {
					return true
				}
			}
			return false
		}},
		{"patientInstruction", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if e.r.PatientInstruction != "" {
					return true
				}
			}
			return false
		}},
		{"display-only participant", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				for _, p := range e.r.Participant {
					if p.Actor != nil && p.Actor.Reference == "" && p.Actor.Display != "" {
						return true
					}
				}
			}
			return false
		}},
		{"restricted entry", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				for _, s := range e.r.Meta.Security {
					if s.Code == "R" {
						return true
					}
				}
			}
			return false
		}},
		{"locations with address and Aarhus coordinates in every source", func(t *testing.T, v *view) bool {
			for _, sec := range sectors() {
				found := false
				for _, r := range v.bySector[sec] {
					if r.ResourceType != "Location" {
						continue
					}
					var l struct {
						Address  *struct{ City string }
						Position *struct{ Latitude, Longitude float64 }
					}
					if err := json.Unmarshal(r.raw, &l); err != nil {
						t.Fatal(err)
					}
					if l.Address != nil && l.Address.City != "" && l.Position != nil &&
						l.Position.Latitude > 56.0 && l.Position.Latitude < 56.3 && l.Position.Longitude > 9.9 && l.Position.Longitude < 10.4 {
						found = true
					}
				}
				if !found {
					t.Logf("%s has no Location with address and Aarhus coordinates", sec)
					return false
				}
			}
			return true
		}},
		{"Danish titles", func(t *testing.T, v *view) bool {
			for _, e := range v.entries {
				if strings.ContainsAny(e.r.Description, "æøå") {
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
					t.Errorf("no entry shows %q", tt.name)
				}
			})
		}
	}
}

func TestDemoDecodesWithSamply(t *testing.T) {
	forEachToday(t, func(t *testing.T, v *view) {
		for _, sec := range sectors() {
			for _, r := range v.bySector[sec] {
				var id *string
				var err error
				switch r.ResourceType {
				case "Appointment":
					var a r4.Appointment
					a, err = r4.UnmarshalAppointment(r.raw)
					id = a.Id
					if err == nil && a.Status.Code() != r.Status {
						t.Errorf("%s Appointment/%s: samply status %q, raw %q", sec, r.ID, a.Status.Code(), r.Status)
					}
				case "Encounter":
					var e r4.Encounter
					e, err = r4.UnmarshalEncounter(r.raw)
					id = e.Id
				case "Patient":
					var p r4.Patient
					p, err = r4.UnmarshalPatient(r.raw)
					id = p.Id
				case "Location":
					var l r4.Location
					l, err = r4.UnmarshalLocation(r.raw)
					id = l.Id
				case "Practitioner":
					var p r4.Practitioner
					p, err = r4.UnmarshalPractitioner(r.raw)
					id = p.Id
				case "Organization":
					var o r4.Organization
					o, err = r4.UnmarshalOrganization(r.raw)
					id = o.Id
				case "HealthcareService":
					var h r4.HealthcareService
					h, err = r4.UnmarshalHealthcareService(r.raw)
					id = h.Id
				default:
					t.Errorf("%s: unexpected resource type %s", sec, r.ResourceType)
					continue
				}
				if err != nil {
					t.Errorf("%s %s/%s: samply: %v", sec, r.ResourceType, r.ID, err)
					continue
				}
				if id == nil || *id != r.ID {
					t.Errorf("%s %s/%s: samply id %v", sec, r.ResourceType, r.ID, id)
				}
			}
		}
	})
}

func TestDatasetSector(t *testing.T) {
	ds := Demo(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), nil)
	tests := []struct {
		name   string
		want   []json.RawMessage
		wantOK bool
	}{
		{"hospital", ds.Hospital, true},
		{"municipality", ds.Municipality, true},
		{"gp", ds.GP, true},
		{"pharmacy", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ds.Sector(tt.name)
			if ok != tt.wantOK || !bytes.Equal(join(got), join(tt.want)) || (ok && len(got) == 0) {
				t.Errorf("Sector(%q): got %d resources, %v; want %d, %v", tt.name, len(got), ok, len(tt.want), tt.wantOK)
			}
		})
	}
}
