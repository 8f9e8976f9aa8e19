// Package testdata builds the synthetic FHIR R4 data overblik's demo and tests
// run against: three sources (a hospital, a municipality and a GP practice) and
// a handful of fictitious patients whose appointments, admissions and home-care
// visits cover the cases the aggregator must handle.
//
// Conventions the data uses, for connector authors:
//
//   - Patients are matched across sources by the CPR identifier (CPRSystem);
//     each source has its own resource id for the same person.
//   - Title: Appointment.description; Encounter.type[0].text.
//   - Video consultation: Appointment.appointmentType carries the v3-ActCode
//     "VR" (virtual), and the video link is Location.telecom (system "url") of
//     a contained Location (physicalType "vi") referenced as participant "#video".
//   - Home visits take place at a municipal Location of type v3-RoleCode PTRES
//     (the patient's residence) holding the patient's address.
//   - A rescheduled appointment is two Appointments: the old one cancelled
//     (cancelationReason, a comment naming the new time) and the new one carrying
//     the R5 cross-version extension Appointment.replaces (ReplacesExtension)
//     pointing at the old one.
//   - All-day entries: an Appointment from local midnight to the next local
//     midnight (a delivery "some time during the day"), and a finished Encounter
//     whose period has date-only start and end (day treatment).
//   - Some Appointments give minutesDuration instead of end; strictly R4's app-2
//     wants both start and end, but sources do send this and readers must cope.
//   - A restricted entry carries meta.security v3-Confidentiality "R".
//   - Coordination conflicts of every rule the aggregator knows are planted
//     (plantConflicts and the admissions); the last patient is the control,
//     with one appointment a week and none. Phone numbers begin with 0000,
//     which no Danish number does.
package testdata

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"time"
)

// CPRSystem is the identifier system of the Danish CPR number.
const CPRSystem = "urn:oid:1.2.208.176.1.2"

// ReplacesExtension links a rescheduled Appointment to the one it replaces.
const ReplacesExtension = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces"

// Sector names a part of the health system; the values match the sector names
// used in configuration.
type Sector string

const (
	SectorHospital     Sector = "hospital"
	SectorMunicipality Sector = "municipality"
	SectorGP           Sector = "gp"
)

// DemoPatient is one fictitious person present in every source.
type DemoPatient struct {
	Name   string
	CPR    string
	System string // CPRSystem
	Born   string // FHIR date; see demoPatients for why it differs from the CPR's date part
}

// Dataset holds each source's resources as FHIR R4 JSON.
type Dataset struct {
	Patients []DemoPatient
	// Resources per sector: Organization, Location, Practitioner,
	// HealthcareService, Patient, Appointment and Encounter, each with id and
	// meta.lastUpdated.
	Hospital, Municipality, GP []json.RawMessage
}

// Sector returns the resources of the named sector ("hospital",
// "municipality" or "gp").
func (d *Dataset) Sector(name string) ([]json.RawMessage, bool) {
	switch Sector(name) {
	case SectorHospital:
		return d.Hospital, true
	case SectorMunicipality:
		return d.Municipality, true
	case SectorGP:
		return d.GP, true
	}
	return nil, false
}

// Demo builds the three sources' resources for the demo patients, with dates
// relative to the calendar day of today in loc (nil means UTC). Only that day
// matters, so every call on the same day yields byte-identical output. All
// entries lie within 85 days before and 175 days after that day.
func Demo(today time.Time, loc *time.Location) *Dataset {
	if loc == nil {
		loc = time.UTC
	}
	c := newClock(today, loc)
	h := newHospital(c)
	m := newMunicipality(c)
	g := newGP(c)

	d := &Dataset{}
	var built []builtPatient
	for i, dp := range demoPatients() {
		d.Patients = append(d.Patients, dp.DemoPatient)
		pp := patientPlan{demoPerson: dp, index: i, shift: 2 * i}
		built = append(built, buildPatient(c, pp, h, m, g))
	}
	for _, b := range built {
		plantConflicts(c, b, h, m, g)
	}
	plantRestrictedConflict(c, built[0], h, m)
	plantJointMeeting(c, built[1], h, m)
	d.Hospital, d.Municipality, d.GP = h.out, m.out, g.out
	return d
}

// demoPerson is a DemoPatient with what the Patient resources need.
type demoPerson struct {
	DemoPatient
	given     []string
	family    string
	gender    string
	home      address
	homePos   position
	admission admissionKind
	// calm patients get a quiet schedule without any coordination conflict:
	// the demo's control patient.
	calm bool
}

type admissionKind int

const (
	admissionFinished   admissionKind = iota // in the past, home care visits inside it
	admissionInProgress                      // started two days ago, open period
	admissionPlanned                         // in the future, home care still booked
	admissionNone                            // never admitted
)

// demoPatients are fictitious. Every CPR number has the date part 30 or 31
// February: such a date does not exist, so no real person can hold the number,
// whatever its check digits. The 7th digit (0) puts the year in the 1900s and
// the last digit follows the CPR sex convention (even: female). Patient.birthDate
// must be a real date, so it is the last day of that February.
func demoPatients() []demoPerson {
	return []demoPerson{
		{
			DemoPatient: DemoPatient{Name: "Birthe Østergaard Madsen", CPR: "3002410148", System: CPRSystem, Born: "1941-02-28"},
			given:       []string{"Birthe", "Østergaard"}, family: "Madsen", gender: "female",
			home:      address{Use: "home", Line: []string{"Grøndalsvej 12"}, City: "Viby J", PostalCode: "8260", Country: "DK"},
			homePos:   position{Longitude: 10.1607, Latitude: 56.1275},
			admission: admissionFinished,
		},
		{
			DemoPatient: DemoPatient{Name: "Jørgen Bækgaard Nielsen", CPR: "3102380127", System: CPRSystem, Born: "1938-02-28"},
			given:       []string{"Jørgen", "Bækgaard"}, family: "Nielsen", gender: "male",
			home:      address{Use: "home", Line: []string{"Skovvangsvej 140"}, City: "Aarhus N", PostalCode: "8200", Country: "DK"},
			homePos:   position{Longitude: 10.1890, Latitude: 56.1752},
			admission: admissionInProgress,
		},
		{
			DemoPatient: DemoPatient{Name: "Åse Lund Kjærsgaard", CPR: "3002500246", System: CPRSystem, Born: "1950-02-28"},
			given:       []string{"Åse", "Lund"}, family: "Kjærsgaard", gender: "female",
			home:      address{Use: "home", Line: []string{"Jægergårdsgade 88"}, City: "Aarhus C", PostalCode: "8000", Country: "DK"},
			homePos:   position{Longitude: 10.2010, Latitude: 56.1503},
			admission: admissionPlanned,
		},
		{
			DemoPatient: DemoPatient{Name: "Henning Damgaard Poulsen", CPR: "3102450133", System: CPRSystem, Born: "1945-02-28"},
			given:       []string{"Henning", "Damgaard"}, family: "Poulsen", gender: "male",
			home:      address{Use: "home", Line: []string{"Vestergade 21"}, City: "Aarhus C", PostalCode: "8000", Country: "DK"},
			homePos:   position{Longitude: 10.2035, Latitude: 56.1566},
			admission: admissionNone,
			calm:      true,
		},
	}
}

// clock turns day offsets from today into wall-clock times in loc.
type clock struct {
	y   int
	m   time.Month
	d   int
	loc *time.Location
}

func newClock(today time.Time, loc *time.Location) clock {
	y, m, d := today.In(loc).Date()
	return clock{y: y, m: m, d: d, loc: loc}
}

// at is day offset day at h:min local time; time.Date normalises the day and
// picks the offset in force, which is what makes the DST entries come out right.
func (c clock) at(day, h, min int) time.Time {
	return time.Date(c.y, c.m, c.d+day, h, min, 0, 0, c.loc)
}

func (c clock) midnight() time.Time { return c.at(0, 0, 0) }

// weekday moves day forward to the next Monday-Friday, for clinics closed at
// weekends.
func (c clock) weekday(day int) int {
	for {
		switch c.at(day, 12, 0).Weekday() {
		case time.Saturday, time.Sunday:
			day++
		default:
			return day
		}
	}
}

// dstDay is the offset of the EU daylight-saving change (last Sunday of March
// or October) nearest today among those inside the demo's range; one always
// is, as the changes are at most 217 days apart and the range spans 261.
func (c clock) dstDay() int {
	ref := time.Date(c.y, c.m, c.d, 12, 0, 0, 0, time.UTC)
	best, found := 0, false
	for y := c.y - 1; y <= c.y+1; y++ {
		for _, m := range []time.Month{time.March, time.October} {
			last := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC)
			last = last.AddDate(0, 0, -int(last.Weekday()))
			off := int(last.Sub(ref).Hours() / 24)
			if off < -85 || off > 175 {
				continue
			}
			// Ties go to the upcoming change, the more useful one in a demo.
			if !found || abs(off) < abs(best) || (abs(off) == abs(best) && off > best) {
				best, found = off, true
			}
		}
	}
	return best
}

// updated derives a deterministic meta.lastUpdated before today's midnight:
// shortly after the end of past entries, some days before today for future ones.
func (c clock) updated(end time.Time, seq int) time.Time {
	mid := c.midnight()
	if end.Before(mid) {
		u := end.Add(2*time.Hour + time.Duration(seq%50)*time.Minute)
		if !u.Before(mid) {
			u = mid.Add(-time.Duration(1+seq%5) * time.Hour)
		}
		return u
	}
	return mid.Add(-time.Duration(3+(seq*11)%60)*24*time.Hour - time.Duration(1+seq%9)*time.Hour)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// ts writes a dateTime with the explicit offset of its zone.
func ts(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

// stamp writes an instant (meta.lastUpdated) in UTC, as servers do.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// danishTime writes "14. april 2026 kl. 10.30" for comments shown to patients.
func danishTime(t time.Time) string {
	months := [...]string{"januar", "februar", "marts", "april", "maj", "juni", "juli",
		"august", "september", "oktober", "november", "december"}
	return fmt.Sprintf("%d. %s %d kl. %02d.%02d", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// source accumulates one sector's resources and hands out its ids.
type source struct {
	sector Sector
	c      clock
	out    []json.RawMessage
	seq    int
	org    string // Organization id
}

// id gives the next resource id in the sector's own style, so connectors meet
// UUIDs, plain numbers and prefixed names.
func (s *source) id(resourceType string) string {
	s.seq++
	switch s.sector {
	case SectorHospital:
		return uuid(fmt.Sprintf("auh/%s/%d", resourceType, s.seq))
	case SectorMunicipality:
		return fmt.Sprintf("%d", 40000+s.seq)
	default:
		short := map[string]string{"Appointment": "apt", "Encounter": "enc", "Patient": "pt",
			"Practitioner": "pr", "Location": "loc", "Organization": "org", "HealthcareService": "hs"}[resourceType]
		return fmt.Sprintf("lh-%s-%04d", short, s.seq)
	}
}

// add appends one resource. The structs hold only strings, numbers and
// slices, so encoding cannot fail; a failure is a programming error.
func (s *source) add(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("testdata: encoding %T: %v", v, err))
	}
	s.out = append(s.out, json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")))
}

// uuid makes a stable version-5-style UUID from a name.
func uuid(name string) string {
	h := sha1.Sum([]byte(name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
