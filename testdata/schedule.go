package testdata

import (
	"time"
)

// patientPlan is one demo patient and how far their schedule is shifted, so
// the patients' entries do not all fall on the same days.
type patientPlan struct {
	demoPerson
	index int
	shift int
}

// visit describes one Appointment before it becomes JSON.
type visit struct {
	title       string
	service     string
	start, end  time.Time
	minutes     int    // when set, written as minutesDuration instead of end
	status      string // empty: fulfilled when before today, else booked
	cancel      *concept
	comment     string
	instruction string
	actors      []reference // participants besides the patient
	contained   []any
	apptType    *concept
	ext         []extension
	security    []coding
	updated     time.Time // zero: derived from the clock
}

func (s *source) appointment(patientID string, v visit) string {
	id := s.id("Appointment")
	status := v.status
	if status == "" {
		status = "booked"
		if v.start.Before(s.c.midnight()) {
			status = "fulfilled"
		}
	}
	a := appointment{ResourceType: "Appointment", ID: id, Contained: v.contained, Extension: v.ext,
		Status: status, CancelationReason: v.cancel, AppointmentType: v.apptType, Description: v.title,
		Start: ts(v.start), Comment: v.comment, PatientInstruction: v.instruction}
	if v.service != "" {
		a.ServiceType = []concept{{Text: v.service}}
	}
	end := v.end
	if v.minutes > 0 {
		a.MinutesDuration = v.minutes
		end = v.start.Add(time.Duration(v.minutes) * time.Minute)
	} else {
		a.End = ts(v.end)
	}
	updated := v.updated
	if updated.IsZero() {
		updated = s.c.updated(end, s.seq)
	}
	a.Meta = &meta{LastUpdated: stamp(updated), Security: v.security}
	a.Participant = append(a.Participant, apptParticipant{Actor: ref("Patient", patientID), Required: "required", Status: "accepted"})
	for _, actor := range v.actors {
		a.Participant = append(a.Participant, apptParticipant{Actor: actor, Required: "required", Status: "accepted"})
	}
	s.add(a)
	return id
}

// encounter adds e with a fresh id and a lastUpdated derived from end (zero:
// still going on, so updated recently).
func (s *source) encounter(e encounter, end time.Time) string {
	e.ResourceType = "Encounter"
	e.ID = s.id("Encounter")
	u := s.c.midnight().Add(-time.Duration(2+s.seq%5) * time.Hour)
	if !end.IsZero() {
		u = s.c.updated(end, s.seq)
	}
	e.Meta = &meta{LastUpdated: stamp(u)}
	if e.ServiceProvider == nil {
		e.ServiceProvider = &reference{Reference: "Organization/" + s.org}
	}
	s.add(e)
	return e.ID
}

func attender(practitionerID string) []encParticipant {
	return []encParticipant{{
		Type:       []concept{{Coding: []coding{{System: partTypeSystem, Code: "ATND", Display: "attender"}}}},
		Individual: ref("Practitioner", practitionerID),
	}}
}

func class(code, display string) coding {
	return coding{System: actCodeSystem, Code: code, Display: display}
}

func cancelled(code, display, text string) *concept {
	return &concept{Coding: []coding{{System: cancelReasonSystem, Code: code, Display: display}}, Text: text}
}

func buildPatient(c clock, p patientPlan, h *hospital, m *municipality, g *gp) builtPatient {
	hp := h.patient(p.demoPerson, nil)
	home := m.home(p.demoPerson)
	mp := m.patient(p.demoPerson, nil)
	gpp := g.patient(p.demoPerson, []reference{{Reference: "Organization/" + g.org, Display: "Lægehuset Trøjborg"}})
	b := builtPatient{plan: p, hp: hp, mp: mp, gpp: gpp, home: home}
	if p.calm {
		buildCalm(c, b, h, m, g)
		return b
	}

	buildHospital(c, p, h, hp)
	buildMunicipality(c, p, m, mp, home)
	buildGP(c, p, g, gpp)
	buildAdmission(c, p, h, hp, m, mp, home)
	return b
}

func buildHospital(c clock, p patientPlan, h *hospital, pid string) {
	s := p.shift

	// A past outpatient visit: the Appointment and the Encounter that
	// documents it, which the aggregator folds into one entry.
	d := c.weekday(-62 + s)
	eye := h.appointment(pid, visit{title: "Kontrol hos øjenlæge", service: "Øjensygdomme",
		start: c.at(d, 10, 0), end: c.at(d, 10, 30),
		actors: []reference{ref("Practitioner", h.eyeDoc), ref("Location", h.eyeClinic)}})
	h.encounter(encounter{Status: "finished", Class: class("AMB", "ambulatory"),
		Type: []concept{{Text: "Kontrol hos øjenlæge"}}, ServiceType: &concept{Text: "Øjensygdomme"},
		Subject: ref("Patient", pid), Participant: attender(h.eyeDoc), Appointment: []reference{ref("Appointment", eye)},
		Period:   period{Start: ts(c.at(d, 10, 5)), End: ts(c.at(d, 10, 35))},
		Location: []encLocation{{Location: ref("Location", h.eyeClinic), Status: "completed"}}}, c.at(d, 10, 35))

	d = c.weekday(-47 + s)
	h.appointment(pid, visit{title: "Blodprøvetagning", service: "Klinisk biokemi",
		start: c.at(d, 8, 15), minutes: 15,
		instruction: "Mød fastende fra kl. 22 aftenen før. Du må gerne drikke vand.",
		actors:      []reference{{Display: "Bioanalytiker"}, ref("Location", h.bloodLab)}})

	// All day: a date-only period is valid on Encounter (dateTime), unlike on
	// Appointment (instant).
	d = c.weekday(-40 + s)
	day := c.at(d, 0, 0).Format("2006-01-02")
	h.encounter(encounter{Status: "finished", Class: class("AMB", "ambulatory"),
		Type: []concept{{Text: "Dagbehandling: blodtransfusion"}}, Subject: ref("Patient", pid),
		Participant: attender(h.nurse), Period: period{Start: day, End: day},
		Location: []encLocation{{Location: ref("Location", h.dayUnit), Status: "completed"}}}, c.at(d+1, 0, 0))

	if p.index == 0 {
		d = c.weekday(-15)
		h.appointment(pid, visit{title: "Samtale i psykiatrisk ambulatorium", service: "Psykiatri",
			start: c.at(d, 13, 0), end: c.at(d, 14, 0),
			security: []coding{{System: confidentiality, Code: "R", Display: "restricted"}},
			actors:   []reference{ref("Practitioner", h.psychologist), ref("Location", h.psych)}})
	}

	d = c.weekday(4 + s)
	video := &location{ResourceType: "Location", ID: "video", Status: "active", Name: "Videokonsultation", Mode: "instance",
		Telecom:      []contactPoint{{System: "url", Value: "https://video.example.org/auh/rum/" + uuid(pid + "/video")[:13]}},
		PhysicalType: physType("vi", "Virtual")}
	h.appointment(pid, visit{title: "Videokonsultation: svar på blodprøver", service: "Hjertesygdomme",
		start: c.at(d, 13, 0), end: c.at(d, 13, 20),
		apptType:    &concept{Coding: []coding{{System: actCodeSystem, Code: "VR", Display: "virtual"}}, Text: "Videokonsultation"},
		contained:   []any{video},
		instruction: "Klik på linket 5 minutter før. Du skal bruge MitID.",
		actors:      []reference{ref("Practitioner", h.heartDoc), {Reference: "#video", Display: "Videokonsultation"}}})

	d = c.weekday(9 + s)
	h.appointment(pid, visit{title: "Røntgen af knæ", service: "Røntgen og Skanning",
		start: c.at(d, 11, 0), end: c.at(d, 11, 15), status: "cancelled",
		cancel:  cancelled("prov-pers", "Provider: Personal", "Aflyst af afdelingen. Du får en ny tid med posten."),
		updated: c.midnight().Add(-2*24*time.Hour - 3*time.Hour),
		actors:  []reference{ref("Location", h.imaging)}})

	d = c.weekday(14 + s)
	h.appointment(pid, visit{title: "Blodprøvetagning", service: "Klinisk biokemi",
		start: c.at(d, 8, 0), end: c.at(d, 8, 10), status: "entered-in-error",
		comment: "Oprettet ved en fejl (dobbeltbooking).",
		actors:  []reference{ref("Location", h.bloodLab)}})

	// Rescheduled: the old time cancelled, the new one pointing back at it.
	old, moved := c.weekday(20+s), c.weekday(27+s)
	recent := c.midnight().Add(-5 * time.Hour)
	oldID := h.appointment(pid, visit{title: "Kontrol i ortopædkirurgisk ambulatorium", service: "Ortopædkirurgi",
		start: c.at(old, 9, 0), end: c.at(old, 9, 30), status: "cancelled",
		cancel:  cancelled("pat", "Patient", "Flyttet efter ønske fra patienten"),
		comment: "Flyttet til " + danishTime(c.at(moved, 13, 30)) + ".", updated: recent,
		actors: []reference{ref("Practitioner", h.orthoDoc), ref("Location", h.orthoClinic)}})
	h.appointment(pid, visit{title: "Kontrol i ortopædkirurgisk ambulatorium", service: "Ortopædkirurgi",
		start: c.at(moved, 13, 30), end: c.at(moved, 14, 0),
		comment: "Erstatter aftalen " + danishTime(c.at(old, 9, 0)) + ".", updated: recent,
		ext:    []extension{{URL: ReplacesExtension, ValueReference: &reference{Reference: "Appointment/" + oldID}}},
		actors: []reference{ref("Practitioner", h.orthoDoc), ref("Location", h.orthoClinic)}})

	d = c.weekday(60 + s)
	h.appointment(pid, visit{title: "MR-skanning af knæ", service: "Røntgen og Skanning",
		start: c.at(d, 15, 0), end: c.at(d, 15, 45),
		instruction: "Fjern smykker og andet metal. Mød 15 minutter før.",
		actors:      []reference{ref("Location", h.imaging)}})

	d = c.weekday(120 + s)
	h.appointment(pid, visit{title: "Ambulant kontrol, hjertesygdomme", service: "Hjertesygdomme",
		start: c.at(d, 9, 0), minutes: 30,
		actors: []reference{{Display: "Læge (tildeles senere)"}, {Display: "Hjertesygdomme, ambulatorium"}}})

	d = c.weekday(165 + s)
	h.appointment(pid, visit{title: "Kontrol hos øjenlæge", service: "Øjensygdomme",
		start: c.at(d, 10, 0), end: c.at(d, 10, 30),
		instruction: "Du får dryppet øjnene og må ikke køre bil bagefter.",
		actors:      []reference{ref("Practitioner", h.eyeDoc), ref("Location", h.eyeClinic)}})
}

// morning is a home-care morning visit at the patient's home.
func morning(start time.Time, home string, m *municipality) visit {
	return visit{title: "Hjemmepleje: morgenhjælp", service: "Personlig pleje",
		start: start, end: start.Add(30 * time.Minute),
		actors: []reference{ref("HealthcareService", m.homeCare), ref("Location", home),
			{Display: "Social- og sundhedshjælper, Hjemmeplejen Midtbyen"}}}
}

func buildMunicipality(c clock, p patientPlan, m *municipality, pid, home string) {
	s := p.shift

	// Weekly training; one session overlaps the GP's annual check.
	for k := range 6 {
		d := c.weekday(5 + 7*k + s)
		v := visit{title: "Genoptræning: styrke og balance", service: "Genoptræning efter sundhedsloven § 140",
			start: c.at(d, 9, 45), end: c.at(d, 10, 45),
			actors: []reference{ref("HealthcareService", m.rehab), ref("Practitioner", m.physio), ref("Location", m.center)}}
		if k == 0 {
			v.instruction = "Medbring behageligt tøj og indendørssko."
		}
		m.appointment(pid, v)
	}

	for _, d := range []int{-70 + s, -56 + s, 45 + s, 90 + s} {
		v := visit{title: "Hjemmesygepleje: sårpleje", service: "Sygepleje",
			start: c.at(d, 11, 0), end: c.at(d, 11, 30),
			actors: []reference{ref("HealthcareService", m.homeNursing), ref("Practitioner", m.homeNurse), ref("Location", home)}}
		if d == 90+s {
			v.end, v.minutes = time.Time{}, 30
		}
		m.appointment(pid, v)
	}

	d := -20 + s
	m.appointment(pid, visit{title: "Hjemmesygepleje: medicindosering", service: "Sygepleje",
		start: c.at(d, 9, 0), end: c.at(d, 9, 15), status: "cancelled",
		cancel: cancelled("pat", "Patient", "Aflyst af borgeren (på besøg hos familie)"),
		actors: []reference{ref("HealthcareService", m.homeNursing), ref("Location", home)}})

	// All day: a delivery some time during the day, midnight to midnight.
	d = c.weekday(15 + s)
	m.appointment(pid, visit{title: "Levering af hjælpemiddel: rollator", service: "Hjælpemidler",
		start: c.at(d, 0, 0), end: c.at(d+1, 0, 0),
		comment: "Leveres i løbet af dagen. Chaufføren ringer ca. 30 minutter før.",
		actors:  []reference{{Display: "Hjælpemiddelcentralen, Aarhus Kommune"}, ref("Location", home)}})

	d = c.weekday(150 + s)
	m.appointment(pid, visit{title: "Visitationsbesøg: vurdering af hjælpebehov", service: "Visitation",
		start: c.at(d, 13, 0), end: c.at(d, 14, 0),
		instruction: "Du må gerne have en pårørende med.",
		actors:      []reference{{Display: "Visitator, Aarhus Kommune"}, ref("Location", home)}})

	// The daylight-saving day: a night visit across the change (its wall
	// clock hours differ from its real length) and an early morning visit.
	dst := c.dstDay()
	m.appointment(pid, visit{title: "Hjemmepleje: nattilsyn", service: "Personlig pleje",
		start: c.at(dst, 1, 30), end: c.at(dst, 3, 30),
		actors: []reference{ref("HealthcareService", m.homeCare), ref("Practitioner", m.helper), ref("Location", home)}})
	m.appointment(pid, morning(c.at(dst, 7, 0), home, m))

	for d := 1; d <= 3; d++ {
		if d == dst {
			continue
		}
		m.appointment(pid, morning(c.at(d, 7, 30), home, m))
	}
}

func buildGP(c clock, p patientPlan, g *gp, pid string) {
	s := p.shift
	clinic := ref("Location", g.clinic)

	d := c.weekday(-75 + s)
	consult := g.appointment(pid, visit{title: "Konsultation hos egen læge", service: "Almen praksis",
		start: c.at(d, 9, 0), end: c.at(d, 9, 15),
		actors: []reference{ref("Practitioner", g.kirsten), clinic}})
	g.encounter(encounter{Status: "finished", Class: class("AMB", "ambulatory"),
		Type: []concept{{Text: "Konsultation hos egen læge"}}, Subject: ref("Patient", pid),
		Participant: attender(g.kirsten), Appointment: []reference{ref("Appointment", consult)},
		Period:   period{Start: ts(c.at(d, 9, 5)), End: ts(c.at(d, 9, 20))},
		Location: []encLocation{{Location: clinic, Status: "completed"}}}, c.at(d, 9, 20))

	d = c.weekday(-21 + s)
	g.appointment(pid, visit{title: "Blodprøvetagning hos praksissygeplejersken", service: "Almen praksis",
		start: c.at(d, 8, 30), minutes: 10,
		instruction: "Mød fastende. Du må gerne drikke vand.",
		actors:      []reference{ref("Practitioner", g.sanne), clinic}})

	d = c.weekday(-5 + s)
	g.appointment(pid, visit{title: "Telefonkonsultation", service: "Almen praksis",
		start: c.at(d, 8, 0), end: c.at(d, 8, 10),
		comment: "Lægen ringer dig op.",
		actors:  []reference{ref("Practitioner", g.peter)}})

	d = c.weekday(8 + s)
	g.appointment(pid, visit{title: "Kontrol: KOL", service: "Almen praksis",
		start: c.at(d, 10, 0), end: c.at(d, 10, 20), status: "cancelled",
		cancel:  cancelled("pat-cpp", "Patient: Canceled via Patient Portal", "Aflyst af patienten via app"),
		updated: c.midnight().Add(-26 * time.Hour),
		actors:  []reference{ref("Practitioner", g.kirsten), clinic}})

	// Overlaps the municipal training session on the same day.
	d = c.weekday(33 + s)
	g.appointment(pid, visit{title: "Årlig kontrol: KOL", service: "Almen praksis",
		start: c.at(d, 10, 0), end: c.at(d, 10, 20),
		instruction: "Medbring din inhalator.",
		actors:      []reference{ref("Practitioner", g.kirsten), clinic}})

	d = c.weekday(50 + s)
	g.appointment(pid, visit{title: "Influenzavaccination", service: "Vaccination",
		start: c.at(d, 14, 0), minutes: 5,
		actors: []reference{{Display: "Praksissygeplejerske"}, clinic}})

	d = c.weekday(100 + s)
	locum := &practitioner{ResourceType: "Practitioner", ID: "vikar", Active: true,
		Name: []humanName{{Use: "official", Text: "Mikkel Ågård Holst", Family: "Holst", Given: []string{"Mikkel", "Ågård"}}}}
	g.appointment(pid, visit{title: "Konsultation hos vikarierende læge", service: "Almen praksis",
		start: c.at(d, 11, 0), end: c.at(d, 11, 15), contained: []any{locum},
		actors: []reference{{Reference: "#vikar"}, clinic}})

	d = c.weekday(140 + s)
	g.appointment(pid, visit{title: "Kontrol af blodtryk", service: "Almen praksis",
		start: c.at(d, 8, 40), end: c.at(d, 8, 55),
		instruction: "Mål dit blodtryk hjemme de tre dage op til besøget.",
		actors:      []reference{ref("Practitioner", g.sanne), clinic}})
}

// buildAdmission adds the patient's inpatient stay and the municipal home-care
// visits booked during it: the coordination conflict the product detects.
func buildAdmission(c clock, p patientPlan, h *hospital, hp string, m *municipality, mp, home string) {
	adm := encounter{Class: class("IMP", "inpatient encounter"), Subject: ref("Patient", hp)}
	switch p.admission {
	case admissionFinished:
		a := -35 + p.shift
		adm.Status = "finished"
		adm.Type = []concept{{Text: "Indlæggelse, Hjertesygdomme"}}
		adm.ReasonCode = []concept{{Text: "Hjertesvigt"}}
		adm.Participant = attender(h.heartDoc)
		adm.Period = period{Start: ts(c.at(a, 14, 20)), End: ts(c.at(a+5, 11, 0))}
		adm.Location = []encLocation{{Location: ref("Location", h.heartWard), Status: "completed"}}
		h.encounter(adm, c.at(a+5, 11, 0))

		m.appointment(mp, morning(c.at(a+1, 7, 30), home, m))
		v := morning(c.at(a+2, 7, 30), home, m)
		v.status, v.comment = "noshow", "Borgeren var ikke hjemme."
		m.appointment(mp, v)
		// Past visits nobody closed stay booked, as they do in real systems.
		v = morning(c.at(a+3, 7, 30), home, m)
		v.status, v.updated = "booked", c.at(a-20, 10, 0)
		m.appointment(mp, v)
		v = morning(c.at(a+4, 7, 30), home, m)
		v.status = "cancelled"
		v.cancel = cancelled("other", "Other", "Borgeren er indlagt")
		m.appointment(mp, v)
	case admissionInProgress:
		adm.Status = "in-progress"
		adm.Type = []concept{{Text: "Indlæggelse, Hjertesygdomme"}}
		adm.ReasonCode = []concept{{Text: "Lungebetændelse"}}
		adm.Participant = attender(h.heartDoc)
		adm.Period = period{Start: ts(c.at(-2, 9, 40))}
		adm.Location = []encLocation{{Location: ref("Location", h.heartWard), Status: "active"}}
		h.encounter(adm, time.Time{})

		// Yesterday's visit found nobody home; the next days' mornings
		// (buildMunicipality) are still booked.
		v := morning(c.at(-1, 7, 30), home, m)
		v.status, v.comment = "noshow", "Borgeren var ikke hjemme."
		m.appointment(mp, v)
	case admissionPlanned:
		a := c.weekday(70)
		adm.Status = "planned"
		adm.Type = []concept{{Text: "Planlagt indlæggelse: knæoperation"}}
		adm.ReasonCode = []concept{{Text: "Knæartrose"}}
		adm.Participant = attender(h.orthoDoc)
		adm.Period = period{Start: ts(c.at(a, 7, 0)), End: ts(c.at(a+4, 12, 0))}
		adm.Location = []encLocation{{Location: ref("Location", h.orthoWard), Status: "planned"}}
		h.encounter(adm, c.at(a+4, 12, 0))

		m.appointment(mp, morning(c.at(a+1, 7, 30), home, m))
		m.appointment(mp, morning(c.at(a+2, 7, 30), home, m))
	}
}
