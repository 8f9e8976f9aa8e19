package testdata

import "fmt"

// builtPatient is a demo patient with the ids of their resources in each
// source, for what is added after every patient's base schedule.
type builtPatient struct {
	plan        patientPlan
	hp, mp, gpp string // Patient ids in the hospital, municipality and GP
	home        string // municipal Location of the patient's home
}

// plantConflicts adds the coordination conflicts the base schedules do not
// already hold (they hold visits during admissions, an overlap and an
// admission without follow-up): no time to travel and booked twice for the
// first patient, a heavy day for the third. They come after every patient's
// base schedule so the older resources keep their ids.
func plantConflicts(c clock, b builtPatient, h *hospital, m *municipality, g *gp) {
	switch b.plan.index {
	case 0:
		// No time to travel: the X-ray ends at 13.20 at the hospital, the GP
		// expects the patient at 13.30, some 3 km away.
		d := c.weekday(24)
		h.appointment(b.hp, visit{title: "Røntgen af hånd", service: "Røntgen og Skanning",
			start: c.at(d, 13, 0), end: c.at(d, 13, 20),
			actors: []reference{ref("Location", h.imaging)}})
		g.appointment(b.gpp, visit{title: "Samtale om medicin", service: "Almen praksis",
			start: c.at(d, 13, 30), end: c.at(d, 13, 45),
			actors: []reference{ref("Practitioner", g.kirsten), ref("Location", g.clinic)}})

		// Booked twice: the GP vaccinates against influenza (buildGP), and
		// the home nurse is booked to give the same vaccination days later.
		d = c.weekday(56)
		m.appointment(b.mp, visit{title: "Influenzavaccination", service: "Sygepleje",
			start: c.at(d, 11, 0), end: c.at(d, 11, 15),
			actors: []reference{ref("HealthcareService", m.homeNursing), ref("Practitioner", m.homeNurse), ref("Location", b.home)}})
	case 2:
		// A heavy day before the knee operation: four places to be, with
		// time enough between them.
		d := c.weekday(40)
		h.appointment(b.hp, visit{title: "Blodprøve før operation", service: "Klinisk biokemi",
			start: c.at(d, 8, 0), end: c.at(d, 8, 15),
			actors: []reference{ref("Location", h.bloodLab)}})
		h.appointment(b.hp, visit{title: "Forundersøgelse før knæoperation", service: "Ortopædkirurgi",
			start: c.at(d, 10, 0), end: c.at(d, 10, 45),
			actors: []reference{ref("Practitioner", h.orthoDoc), ref("Location", h.orthoClinic)}})
		g.appointment(b.gpp, visit{title: "Samtale om smertestillende medicin", service: "Almen praksis",
			start: c.at(d, 12, 30), end: c.at(d, 12, 45),
			actors: []reference{ref("Practitioner", g.peter), ref("Location", g.clinic)}})
		m.appointment(b.mp, visit{title: "Afprøvning af rollator", service: "Hjælpemidler",
			start: c.at(d, 15, 0), end: c.at(d, 15, 45),
			actors: []reference{ref("HealthcareService", m.rehab), ref("Location", m.center)}})
	}
}

// plantRestrictedConflict gives the first patient, whose delegation to her
// daughter leaves restricted entries out, a restricted entry in a conflict:
// a talk at the psychiatric outpatient clinic overlaps her rehabilitation.
// She sees both and the overlap; her daughter sees neither the talk nor the
// conflict. It runs after every other plant, so the resource ids the others
// get do not move.
func plantRestrictedConflict(c clock, b builtPatient, h *hospital, m *municipality) {
	d := c.weekday(34)
	h.appointment(b.hp, visit{title: "Samtale i psykiatrisk ambulatorium", service: "Psykiatri",
		start: c.at(d, 13, 0), end: c.at(d, 14, 0),
		security: []coding{{System: confidentiality, Code: "R", Display: "restricted"}},
		actors:   []reference{ref("Practitioner", h.psychologist), ref("Location", h.psych)}})
	m.appointment(b.mp, visit{title: "Genoptræning af skulder", service: "Genoptræning",
		start: c.at(d, 13, 30), end: c.at(d, 14, 15),
		actors: []reference{ref("HealthcareService", m.rehab), ref("Location", m.center)}})
}

// buildCalm gives the control patient one appointment a week, rotating
// through the three sources, each source with its own services: nothing
// overlaps, nothing is booked twice, no day is heavy, and there is no
// admission. One is cancelled, one is a video call, one a phone call.
func buildCalm(c clock, b builtPatient, h *hospital, m *municipality, g *gp) {
	for k := 0; ; k++ {
		day := -84 + 7*k
		if day > 170 {
			return
		}
		d := c.weekday(day)
		start, end := c.at(d, 10, 0), c.at(d, 10, 30)
		switch k % 3 {
		case 0:
			v := visit{title: "Kontrol i diabetesambulatoriet", service: "Endokrinologi", start: start, end: end,
				actors: []reference{ref("Practitioner", h.nurse), ref("Location", h.dayUnit)}}
			if k == 6 {
				video := &location{ResourceType: "Location", ID: "video", Status: "active", Name: "Videokonsultation", Mode: "instance",
					Telecom:      []contactPoint{{System: "url", Value: "https://video.example.org/auh/rum/" + uuid(fmt.Sprint(b.hp, "/calm"))[:13]}},
					PhysicalType: physType("vi", "Virtual")}
				v.title = "Videokonsultation: svar på langtidsblodsukker"
				v.apptType = &concept{Coding: []coding{{System: actCodeSystem, Code: "VR", Display: "virtual"}}, Text: "Videokonsultation"}
				v.contained = []any{video}
				v.actors = []reference{ref("Practitioner", h.nurse), {Reference: "#video", Display: "Videokonsultation"}}
			}
			h.appointment(b.hp, v)
		case 1:
			v := visit{title: "Holdtræning: balance", service: "Genoptræning", start: start, end: end,
				actors: []reference{ref("HealthcareService", m.rehab), ref("Location", m.center)}}
			if k == 10 {
				v.status = "cancelled"
				v.cancel = cancelled("prov", "Provider", "Aflyst: instruktøren er syg. Næste hold er som planlagt.")
			}
			m.appointment(b.mp, v)
		case 2:
			v := visit{title: "Årskontrol: diabetes", service: "Almen praksis", start: start, end: end,
				actors: []reference{ref("Practitioner", g.sanne), ref("Location", g.clinic)}}
			if k == 8 {
				v.title, v.comment = "Telefonkonsultation: blodsukker", "Sygeplejersken ringer dig op."
				v.actors = []reference{ref("Practitioner", g.sanne)}
			}
			g.appointment(b.gpp, v)
		}
	}
}
