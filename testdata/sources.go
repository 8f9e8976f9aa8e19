package testdata

import "time"

const (
	actCodeSystem      = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	partTypeSystem     = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	cancelReasonSystem = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
	physTypeSystem     = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	roleCodeSystem     = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
	confidentiality    = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

func ref(resourceType, id string) reference { return reference{Reference: resourceType + "/" + id} }

func physType(code, display string) *concept {
	return &concept{Coding: []coding{{System: physTypeSystem, Code: code, Display: display}}}
}

// staticMeta dates the directory resources (organisations, places, staff)
// months back, so they are older than every entry.
func (s *source) staticMeta() *meta {
	return &meta{LastUpdated: stamp(s.c.midnight().Add(-time.Duration(200+s.seq)*24*time.Hour - 7*time.Hour))}
}

// phone is a contact point for a demo telephone number. Danish numbers never
// begin with 0, so the demo's numbers (0000 xxxx) reach no one.
func phone(number string) []contactPoint {
	return []contactPoint{{System: "phone", Value: number, Use: "work"}}
}

func (s *source) organization(name string, addr address, tel string) {
	s.org = s.id("Organization")
	s.add(organization{ResourceType: "Organization", ID: s.org, Meta: s.staticMeta(), Active: true,
		Type: []concept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/organization-type", Code: "prov", Display: "Healthcare Provider"}}}},
		Name: name, Telecom: phone(tel), Address: []address{addr}})
}

// location adds a place; tel, when given, is its phone number.
func (s *source) location(name string, phys *concept, addr address, pos position, tel ...string) string {
	id := s.id("Location")
	l := location{ResourceType: "Location", ID: id, Meta: s.staticMeta(), Status: "active", Name: name, Mode: "instance",
		Address: &addr, PhysicalType: phys, Position: &pos, ManagingOrganization: &reference{Reference: "Organization/" + s.org}}
	if len(tel) > 0 {
		l.Telecom = phone(tel[0])
	}
	s.add(l)
	return id
}

func (s *source) practitioner(given, family string) string {
	id := s.id("Practitioner")
	s.add(practitioner{ResourceType: "Practitioner", ID: id, Meta: s.staticMeta(), Active: true,
		Name: []humanName{{Use: "official", Text: given + " " + family, Family: family, Given: []string{given}}}})
	return id
}

func (s *source) service(name string, loc string, tel string) string {
	id := s.id("HealthcareService")
	hs := healthcareService{ResourceType: "HealthcareService", ID: id, Meta: s.staticMeta(), Active: true,
		ProvidedBy: &reference{Reference: "Organization/" + s.org}, Type: []concept{{Text: name}}, Name: name, Telecom: phone(tel)}
	if loc != "" {
		hs.Location = []reference{ref("Location", loc)}
	}
	s.add(hs)
	return id
}

func (s *source) patient(p demoPerson, gp []reference) string {
	id := s.id("Patient")
	s.add(patient{ResourceType: "Patient", ID: id, Meta: s.staticMeta(),
		Identifier: []identifier{{System: CPRSystem, Value: p.CPR}}, Active: true,
		Name:   []humanName{{Use: "official", Text: p.Name, Family: p.family, Given: p.given}},
		Gender: p.gender, BirthDate: p.Born, Address: []address{p.home},
		GeneralPractitioner: gp, ManagingOrganization: &reference{Reference: "Organization/" + s.org}})
	return id
}

type hospital struct {
	*source
	eyeClinic, bloodLab, heartWard, orthoClinic, orthoWard, imaging, psych, dayUnit string // Location ids
	eyeDoc, heartDoc, orthoDoc, nurse, psychologist                                 string // Practitioner ids
}

func newHospital(c clock) *hospital {
	h := &hospital{source: &source{sector: SectorHospital, c: c}}
	addr := func(line string) address {
		return address{Use: "work", Line: []string{line}, City: "Aarhus N", PostalCode: "8200", Country: "DK"}
	}
	h.organization("Aarhus Universitetshospital", addr("Palle Juul-Jensens Boulevard 99"), "0000 1000")
	ward, room := physType("wa", "Ward"), physType("ro", "Room")
	h.eyeClinic = h.location("Øjensygdomme, ambulatorium (indgang J)", room, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1712, Latitude: 56.1921}, "0000 1001")
	h.bloodLab = h.location("Blodprøvetagning, indgang C", room, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1745, Latitude: 56.1897}, "0000 1002")
	h.heartWard = h.location("Hjertesygdomme, sengeafsnit", ward, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1738, Latitude: 56.1909}, "0000 1003")
	h.orthoClinic = h.location("Ortopædkirurgi, ambulatorium", room, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1760, Latitude: 56.1887}, "0000 1004")
	h.orthoWard = h.location("Ortopædkirurgi, sengeafsnit", ward, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1764, Latitude: 56.1882}, "0000 1005")
	h.imaging = h.location("Røntgen og Skanning", room, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1729, Latitude: 56.1893}, "0000 1006")
	h.psych = h.location("Psykiatrisk ambulatorium", room, addr("Palle Juul-Jensens Boulevard 175"), position{Longitude: 10.1801, Latitude: 56.1934})
	h.dayUnit = h.location("Medicinsk dagafsnit", room, addr("Palle Juul-Jensens Boulevard 99"), position{Longitude: 10.1741, Latitude: 56.1902}, "0000 1007")
	h.eyeDoc = h.practitioner("Hanne", "Skøtt")
	h.heartDoc = h.practitioner("Anders", "Bøgh")
	h.orthoDoc = h.practitioner("Søren", "Vestergård")
	h.nurse = h.practitioner("Mette", "Dahl Jørgensen")
	h.psychologist = h.practitioner("Line", "Kirkegaard")
	return h
}

type municipality struct {
	*source
	center                       string // Location id of the training centre
	homeCare, homeNursing, rehab string // HealthcareService ids
	helper, physio, homeNurse    string // Practitioner ids
}

func newMunicipality(c clock) *municipality {
	m := &municipality{source: &source{sector: SectorMunicipality, c: c}}
	m.organization("Aarhus Kommune", address{Use: "work", Line: []string{"Rådhuspladsen 2"}, City: "Aarhus C", PostalCode: "8000", Country: "DK"}, "0000 2000")
	m.center = m.location("Genoptræningscenter Marselisborg", physType("bu", "Building"),
		address{Use: "work", Line: []string{"P.P. Ørums Gade 11"}, City: "Aarhus C", PostalCode: "8000", Country: "DK"},
		position{Longitude: 10.2008, Latitude: 56.1447})
	m.homeCare = m.service("Hjemmeplejen Midtbyen", "", "0000 2001")
	m.homeNursing = m.service("Hjemmesygeplejen", "", "0000 2002")
	m.rehab = m.service("Genoptræning og rehabilitering", m.center, "0000 2003")
	m.helper = m.practitioner("Lise", "Bøje")
	m.physio = m.practitioner("Rasmus", "Friis")
	m.homeNurse = m.practitioner("Jens", "Lykke Østergaard")
	return m
}

// home adds the Location of a patient's residence, where home visits happen.
func (m *municipality) home(p demoPerson) string {
	id := m.id("Location")
	addr := p.home
	pos := p.homePos
	m.add(location{ResourceType: "Location", ID: id, Meta: m.staticMeta(), Status: "active", Name: "Borgerens hjem",
		Mode: "instance", Type: []concept{{Coding: []coding{{System: roleCodeSystem, Code: "PTRES", Display: "patient's residence"}}}},
		Address: &addr, PhysicalType: physType("ho", "House"), Position: &pos})
	return id
}

type gp struct {
	*source
	clinic                string // Location id
	kirsten, peter, sanne string // Practitioner ids
}

func newGP(c clock) *gp {
	g := &gp{source: &source{sector: SectorGP, c: c}}
	addr := address{Use: "work", Line: []string{"Tordenskjoldsgade 46"}, City: "Aarhus N", PostalCode: "8200", Country: "DK"}
	g.organization("Lægehuset Trøjborg", addr, "0000 3000")
	g.clinic = g.location("Lægehuset Trøjborg", physType("bu", "Building"), addr, position{Longitude: 10.2093, Latitude: 56.1712}, "0000 3000")
	g.kirsten = g.practitioner("Kirsten", "Ødegaard")
	g.peter = g.practitioner("Peter", "Brøndum")
	g.sanne = g.practitioner("Sanne", "Holm")
	return g
}
