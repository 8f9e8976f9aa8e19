package testdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Region is a region's worth of fictitious patients for the bench at scale:
// each known to a hospital, a municipality and a GP system, with
// RegionEntries entries in each, made on demand per patient and source
// (RegionSource is a fhirsim.Population) rather than held, so a hundred
// thousand patients cost nothing until asked about. The same patient always
// gets the same entries: deterministic from its number.
type Region struct {
	n     int
	c     clock
	loc   *time.Location
	today time.Time
}

// RegionEntries is how many entries each patient has in each source.
const RegionEntries = 30

// NewRegion returns n patients (at most 2,000,000: their fictitious CPR
// numbers run out then) with entries around today.
func NewRegion(n int, today time.Time, loc *time.Location) (*Region, error) {
	if n <= 0 || n > 2_000_000 {
		return nil, fmt.Errorf("testdata: a region of %d patients; want 1 to 2,000,000", n)
	}
	c := newClock(today, loc)
	return &Region{n: n, c: c, loc: loc, today: c.midnight()}, nil
}

// CPR is patient i's CPR number. Like the demo's, every one is dated 30 or
// 31 February, so none belongs to anybody.
func (r *Region) CPR(i int) string {
	return fmt.Sprintf("%02d02%02d%04d", 30+i%2, (i/2)%100, i/200)
}

// patientOf is the inverse of CPR.
func (r *Region) patientOf(cpr string) (int, bool) {
	if len(cpr) != 10 || cpr[2:4] != "02" {
		return 0, false
	}
	day, err1 := strconv.Atoi(cpr[:2])
	year, err2 := strconv.Atoi(cpr[4:6])
	seq, err3 := strconv.Atoi(cpr[6:])
	if err1 != nil || err2 != nil || err3 != nil || (day != 30 && day != 31) {
		return 0, false
	}
	i := seq*200 + year*2 + day - 30
	return i, i < r.n
}

// Source is one sector's system of the region.
func (r *Region) Source(sector Sector) *RegionSource {
	s := &RegionSource{r: r, sector: sector}
	switch sector {
	case SectorHospital:
		s.prefix, s.units = "auh", hospitalUnits
	case SectorMunicipality:
		s.prefix, s.units = "kom", municipalUnits
	default:
		s.prefix, s.units = "lh", gpUnits()
	}
	return s
}

// RegionSource is one sector's system of a Region: a fhirsim.Population.
type RegionSource struct {
	r      *Region
	sector Sector
	prefix string
	units  []regionUnit
}

// regionUnit is a department, home-care district or practice: an
// Organization, its Location and its staff, and what it books.
type regionUnit struct {
	name, street, city string
	lon, lat           float64
	titles             []string
	staff              []string
}

var hospitalUnits = []regionUnit{
	{"AUH Hjertesygdomme", "Palle Juul-Jensens Boulevard 99, indgang J", "8200 Aarhus N", 10.1738, 56.1909,
		[]string{"Kontrol efter ballonudvidelse", "Ekkokardiografi", "Arbejds-EKG", "Pacemakerkontrol", "Samtale om medicin"}, []string{"Anders Bøgh", "Mette Dahl Jørgensen", "Karin Thygesen"}},
	{"AUH Ortopædkirurgi", "Palle Juul-Jensens Boulevard 99, indgang F", "8200 Aarhus N", 10.1760, 56.1887,
		[]string{"Kontrol af nyt knæ", "Røntgen af hofte", "Gipsskift", "Forundersøgelse før operation", "Sårkontrol"}, []string{"Søren Vestergård", "Pia Lund", "Omar Haddad"}},
	{"AUH Øjensygdomme", "Palle Juul-Jensens Boulevard 99, indgang J", "8200 Aarhus N", 10.1712, 56.1921,
		[]string{"Kontrol af grøn stær", "Injektion i øjet", "Synsfeltundersøgelse", "Kontrol efter operation for grå stær"}, []string{"Hanne Skøtt", "Jakob Winther"}},
	{"AUH Blodprøver", "Palle Juul-Jensens Boulevard 99, indgang C", "8200 Aarhus N", 10.1745, 56.1897,
		[]string{"Blodprøve", "Blodprøve, fastende", "Urinprøve og blodprøve"}, []string{"Bioanalytiker"}},
	{"AUH Røntgen og Skanning", "Palle Juul-Jensens Boulevard 99, indgang D", "8200 Aarhus N", 10.1729, 56.1893,
		[]string{"CT-skanning af thorax", "MR-skanning af knæ", "Ultralyd af maven", "Røntgen af lunger"}, []string{"Radiograf"}},
	{"AUH Lungesygdomme", "Palle Juul-Jensens Boulevard 99, indgang E", "8200 Aarhus N", 10.1751, 56.1915,
		[]string{"Lungefunktionsundersøgelse", "Kontrol af KOL", "Iltbehandling, opfølgning"}, []string{"Birgitte Holm", "Niels Kjær"}},
	{"AUH Diabetes og Hormonsygdomme", "Palle Juul-Jensens Boulevard 99, indgang G", "8200 Aarhus N", 10.1733, 56.1925,
		[]string{"Årskontrol for diabetes", "Fodterapi", "Samtale med diætist", "Undersøgelse af øjenbaggrund"}, []string{"Lene Bach", "Tariq Iqbal"}},
	{"Regionshospitalet Randers, Medicinsk Afdeling", "Skovlyvej 15", "8930 Randers NØ", 10.0568, 56.4462,
		[]string{"Ambulant kontrol", "Infusion i dagafsnit", "Samtale med sygeplejerske"}, []string{"Camilla Friis", "Henrik Due"}},
	{"Regionshospitalet Silkeborg, Diagnostisk Center", "Falkevej 1-3", "8600 Silkeborg", 9.5501, 56.1716,
		[]string{"Udredning", "Samtale om svar", "Ultralyd"}, []string{"Marianne Krogh", "Per Sandahl"}},
	{"Hospitalsenheden Vest, Onkologi", "Gl. Landevej 61", "7400 Herning", 8.9911, 56.1350,
		[]string{"Kemobehandling", "Kontrol efter behandling", "Samtale med læge om forløb"}, []string{"Ida Brix", "Jens Ravn"}},
}

var municipalUnits = []regionUnit{
	{"Hjemmeplejen Midtbyen", "Borgerens hjem", "", 0, 0, []string{"Hjemmepleje: personlig pleje", "Hjemmepleje: hjælp til bad", "Hjemmepleje: rengøring"}, []string{"Lise Bøje", "Anja Holt"}},
	{"Hjemmeplejen Nord", "Borgerens hjem", "", 0, 0, []string{"Hjemmepleje: personlig pleje", "Hjemmepleje: morgenhjælp", "Hjemmepleje: indkøb"}, []string{"Dorthe Vang", "Emil Rask"}},
	{"Hjemmeplejen Syd", "Borgerens hjem", "", 0, 0, []string{"Hjemmepleje: personlig pleje", "Hjemmepleje: aftenhjælp"}, []string{"Susanne Kragh", "Ali Demir"}},
	{"Hjemmesygeplejen Vest", "Borgerens hjem", "", 0, 0, []string{"Hjemmesygepleje: sårpleje", "Hjemmesygepleje: medicindosering", "Hjemmesygepleje: blodsukkermåling"}, []string{"Jens Lykke Østergaard", "Rikke Brandt"}},
	{"Genoptræningscenter Marselisborg", "P.P. Ørums Gade 11", "8000 Aarhus C", 10.2008, 56.1447, []string{"Genoptræning af knæ", "Holdtræning for hjertepatienter", "Genoptræning efter hoftebrud", "Balancetræning"}, []string{"Rasmus Friis", "Maja Storm"}},
	{"Sundhedscenter Randers", "Laksetorvet 1", "8900 Randers C", 10.0364, 56.4606, []string{"Rygestopkursus", "KOL-rehabilitering", "Samtale om kost"}, []string{"Ulla Bech", "Kim Lauritsen"}},
	{"Aktivitetscenter Silkeborg", "Vestergade 20", "8600 Silkeborg", 9.5451, 56.1697, []string{"Dagtilbud", "Træning i varmtvandsbassin"}, []string{"Hanne Mørk"}},
}

// gpUnits are the region's practices: a patient has one. The region has
// some 800 practices; 60 of them are enough for variety.
func gpUnits() []regionUnit {
	towns := []struct {
		city     string
		lon, lat float64
	}{{"8000 Aarhus C", 10.2039, 56.1629}, {"8200 Aarhus N", 10.2093, 56.1712}, {"8900 Randers C", 10.0364, 56.4606},
		{"8600 Silkeborg", 9.5451, 56.1697}, {"7400 Herning", 8.9733, 56.1393}, {"8700 Horsens", 9.8500, 55.8607}}
	names := []string{"Lægehuset", "Lægerne", "Lægeklinikken", "Lægecentret", "Lægehuset ved Torvet", "Lægerne i Parken",
		"Lægehuset Åen", "Lægeklinikken Bakken", "Lægerne på Hjørnet", "Lægehuset Søndergade"}
	first := []string{"Kirsten", "Peter", "Sanne", "Morten", "Louise", "Thomas", "Hanne", "Mads", "Sofie", "Lars"}
	last := []string{"Ødegaard", "Brøndum", "Holm", "Nørgaard", "Vinther", "Lauridsen", "Bjerre", "Kjeldsen"}
	var out []regionUnit
	for i := range 60 {
		t := towns[i%len(towns)]
		out = append(out, regionUnit{name: fmt.Sprintf("%s %s", names[i%len(names)], strings.Fields(t.city)[1]) + fmt.Sprintf(" %d", i/len(names)+1),
			street: fmt.Sprintf("Hovedgaden %d", 3+i*7%90), city: t.city, lon: t.lon + float64(i%7)*0.004, lat: t.lat + float64(i%5)*0.003,
			titles: []string{"Konsultation", "Årskontrol", "Blodtryksmåling", "Telefonkonsultation", "Vaccination", "Samtale om prøvesvar", "Kontrol af blodprøver", "Videokonsultation"},
			staff:  []string{first[i%len(first)] + " " + last[i%len(last)], first[(i+3)%len(first)] + " " + last[(i+5)%len(last)]}})
	}
	return out
}

func (s *RegionSource) Len() int           { return s.r.n }
func (s *RegionSource) Created() time.Time { return s.r.today.AddDate(0, 0, -200) }

func (s *RegionSource) Find(system, value string) (int, bool) {
	if system != "" && system != CPRSystem {
		return 0, false
	}
	return s.r.patientOf(value)
}

// Ids: "<prefix>-p<i>" for the Patient, "<prefix>-a<i>-<j>" for entry j.
func (s *RegionSource) Owner(resourceType, id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, s.prefix+"-")
	if !ok || len(rest) < 2 {
		return 0, false
	}
	switch {
	case resourceType == "Patient" && rest[0] == 'p':
	case (resourceType == "Appointment" && rest[0] == 'a') || (resourceType == "Encounter" && rest[0] == 'e'):
		rest, _, _ = strings.Cut(rest, "-")
	default:
		return 0, false
	}
	i, err := strconv.Atoi(rest[1:])
	return i, err == nil && i >= 0 && i < s.r.n
}

// Shared are each unit's Organization, Location and Practitioners.
func (s *RegionSource) Shared() []json.RawMessage {
	var out []json.RawMessage
	old := &meta{LastUpdated: stamp(s.Created().Add(-24 * time.Hour))}
	for u, unit := range s.units {
		out = append(out, encodeJSON(organization{ResourceType: "Organization", ID: fmt.Sprintf("%s-org%d", s.prefix, u), Meta: old, Active: true,
			Name: unit.name, Telecom: phone(fmt.Sprintf("0000 %d%03d", 4+len(s.prefix), u))}))
		if unit.lat != 0 {
			out = append(out, encodeJSON(location{ResourceType: "Location", ID: fmt.Sprintf("%s-loc%d", s.prefix, u), Meta: old, Status: "active",
				Name: unit.name, Address: &address{Use: "work", Line: []string{unit.street}, City: unit.city, Country: "DK"},
				Position: &position{Longitude: unit.lon, Latitude: unit.lat}, PhysicalType: physType("bu", "Building")}))
		}
		for k, name := range unit.staff {
			given, family, _ := strings.Cut(name, " ")
			out = append(out, encodeJSON(practitioner{ResourceType: "Practitioner", ID: fmt.Sprintf("%s-pr%d-%d", s.prefix, u, k), Meta: old, Active: true,
				Name: []humanName{{Use: "official", Text: name, Given: []string{given}, Family: family}}}))
		}
	}
	return out
}

// Resources are patient i's Patient and RegionEntries entries. A change
// (the k-th, oldest first) moves entry 7k mod RegionEntries a day later;
// that entry's lastUpdated is the change's time.
func (s *RegionSource) Resources(i int, changes []time.Time) []json.RawMessage {
	rng := rand.New(rand.NewPCG(uint64(i), 0))
	pid := fmt.Sprintf("%s-p%d", s.prefix, i)
	given := []string{"Birthe", "Jørgen", "Åse", "Karen", "Poul", "Inge", "Svend", "Ellen", "Bent", "Grethe", "Mohammed", "Fatima"}
	family := []string{"Madsen", "Nielsen", "Kjærsgaard", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen"}
	g, f := given[rng.IntN(len(given))], family[rng.IntN(len(family))]
	street := fmt.Sprintf("%s %d", []string{"Skovvejen", "Nørregade", "Vestergade", "Møllevej", "Kirkebakken", "Engvej"}[rng.IntN(6)], 1+rng.IntN(120))
	home := address{Use: "home", Line: []string{street}, City: []string{"8000 Aarhus C", "8200 Aarhus N", "8900 Randers C", "8600 Silkeborg"}[rng.IntN(4)], Country: "DK"}
	out := []json.RawMessage{encodeJSON(patient{ResourceType: "Patient", ID: pid, Meta: &meta{LastUpdated: stamp(s.Created().Add(-48 * time.Hour))},
		Identifier: []identifier{{System: CPRSystem, Value: s.r.CPR(i)}}, Active: true,
		Name:   []humanName{{Use: "official", Text: g + " " + f, Given: []string{g}, Family: f}},
		Gender: []string{"female", "male"}[i%2], BirthDate: fmt.Sprintf("19%02d-02-28", 30+(i/2)%60), Address: []address{home}})}
	moved := map[int]time.Time{}
	later := map[int]int{}
	for k, at := range changes {
		j := (7 * k) % RegionEntries
		moved[j] = at
		later[j]++
	}
	for j := range RegionEntries {
		sl := s.r.slot(s, i, j)
		if s.sector == SectorMunicipality && i%9 == 0 && j%5 == 0 {
			// Some visits are booked at the time of the patient's hospital
			// appointment: a coordination conflict.
			h := s.r.slot(s.r.Source(SectorHospital), i, j)
			sl.day, sl.hour, sl.minute = h.day, h.hour, h.minute
		}
		unit := s.units[sl.unit]
		start := s.r.c.at(sl.day+later[j], sl.hour, sl.minute)
		end := start.Add(time.Duration(sl.minutes) * time.Minute)
		updated := s.Created().Add(-time.Duration(1+sl.age) * time.Hour)
		if at, ok := moved[j]; ok {
			updated = at
		}
		staff := sl.staff % len(unit.staff)
		title := unit.titles[sl.title%len(unit.titles)]
		if s.sector == SectorHospital && j%10 == 9 {
			// A past visit known as an Encounter only, as from an
			// emergency department.
			start = s.r.c.at(s.r.c.weekday(-80+j*2)+later[j], sl.hour, sl.minute)
			out = append(out, encodeJSON(s.encounterOf(i, j, pid, title, start, start.Add(3*time.Hour), updated, sl.unit, staff)))
			continue
		}
		a := appointment{ResourceType: "Appointment", ID: fmt.Sprintf("%s-a%d-%d", s.prefix, i, j),
			Meta: &meta{LastUpdated: updated.UTC().Format(time.RFC3339Nano)}, Status: "booked", Description: title,
			ServiceType: []concept{{Text: unit.name}}, Start: ts(start), End: ts(end)}
		if start.Before(s.r.today) {
			a.Status = "fulfilled"
		}
		if sl.note >= 0 {
			a.PatientInstruction = instructions[sl.note]
		}
		a.Participant = append(a.Participant, apptParticipant{Actor: ref("Patient", pid), Required: "required", Status: "accepted"})
		actors := []reference{
			{Reference: fmt.Sprintf("Organization/%s-org%d", s.prefix, sl.unit), Display: unit.name},
			{Reference: fmt.Sprintf("Practitioner/%s-pr%d-%d", s.prefix, sl.unit, staff), Display: unit.staff[staff]},
		}
		if unit.lat != 0 {
			actors = append(actors, reference{Reference: fmt.Sprintf("Location/%s-loc%d", s.prefix, sl.unit), Display: unit.name})
		} else {
			// A visit in the patient's home, which is no shared place.
			a.Contained = []any{location{ResourceType: "Location", ID: "home", Status: "active", Name: "Borgerens hjem", Mode: "instance",
				Type:    []concept{{Coding: []coding{{System: roleCodeSystem, Code: "PTRES", Display: "patient's residence"}}}},
				Address: &home, PhysicalType: physType("ho", "House")}}
			actors = append(actors, reference{Reference: "#home"})
		}
		for _, r := range actors {
			a.Participant = append(a.Participant, apptParticipant{Actor: r, Required: "required", Status: "accepted"})
		}
		out = append(out, encodeJSON(a))
	}
	return out
}

var instructions = []string{"Mød fastende.", "Medbring din medicinliste.", "Husk briller og høreapparat.",
	"Ring på 0000 4000, hvis du er forhindret.", "Tag en pårørende med, hvis du kan."}

// slot is when and where entry j of patient i is, from a generator of its
// own, so another source can book at the same time on purpose.
type slot struct {
	unit, day, hour, minute, minutes, staff, title, age, note int
}

func (r *Region) slot(s *RegionSource, i, j int) slot {
	salt := map[Sector]uint64{SectorHospital: 1, SectorMunicipality: 2, SectorGP: 3}[s.sector]
	rng := rand.New(rand.NewPCG(uint64(i)<<8|uint64(j), salt))
	// A patient sees one unit mostly and one other now and then (in the
	// municipality a place they go to, not a second home-care district);
	// the GP is always the patient's own practice.
	// Each stays near home: the town of their practice (i mod 6, as
	// gpUnits cycles through the towns) picks their hospital and centre.
	own, other := i%len(s.units), i%len(s.units)
	prng := rand.New(rand.NewPCG(uint64(i), salt))
	town := i % 6 // Aarhus C, Aarhus N, Randers, Silkeborg, Herning, Horsens
	switch s.sector {
	case SectorHospital:
		own, other = prng.IntN(7), prng.IntN(7) // Aarhus Universitetshospital's departments
		switch town {
		case 2, 3, 4: // the regional hospital of the town
			own = 5 + town
		}
	case SectorMunicipality:
		own = prng.IntN(4) // a home-care district
		other = []int{4, 4, 5, 6, 6, 4}[town]
		if prng.IntN(3) == 0 {
			own = other // no home care: the centre only
		}
	}
	sl := slot{unit: own, staff: rng.IntN(4), title: rng.IntN(8), age: rng.IntN(500), note: -1}
	if rng.IntN(3) == 0 {
		sl.unit = other
	}
	// Anywhere in the window, from some weeks back to half a year ahead,
	// on weekdays in opening hours; home care in the morning.
	sl.day = r.c.weekday(-85 + rng.IntN(255))
	sl.hour, sl.minute, sl.minutes = 8+rng.IntN(8), 15*rng.IntN(4), []int{15, 20, 30, 45, 60}[rng.IntN(5)]
	if s.units[sl.unit].lat == 0 {
		sl.hour, sl.minutes = 7+rng.IntN(3), 30
	}
	if rng.IntN(4) == 0 {
		sl.note = rng.IntN(len(instructions))
	}
	return sl
}

func (s *RegionSource) encounterOf(i, j int, pid, title string, start, end, updated time.Time, u, staff int) encounter {
	return encounter{ResourceType: "Encounter", ID: fmt.Sprintf("%s-e%d-%d", s.prefix, i, j),
		Meta: &meta{LastUpdated: updated.UTC().Format(time.RFC3339Nano)}, Status: "finished",
		Class: class("EMER", "emergency"), Type: []concept{{Text: "Akut: " + title}}, Subject: ref("Patient", pid),
		Participant:     attender(fmt.Sprintf("%s-pr%d-%d", s.prefix, u, staff)),
		Period:          period{Start: ts(start), End: ts(end)},
		Location:        []encLocation{{Location: reference{Reference: fmt.Sprintf("Location/%s-loc%d", s.prefix, u)}, Status: "completed"}},
		ServiceProvider: &reference{Reference: fmt.Sprintf("Organization/%s-org%d", s.prefix, u)}}
}

// encodeJSON writes v as the demo does (no HTML escaping).
func encodeJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("testdata: encoding %T: %v", v, err))
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}
