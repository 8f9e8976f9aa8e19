package testdata

// plantJointMeeting books the discharge meeting of the patient admitted now
// twice, as hospitals and municipalities do: the hospital in its system,
// the home nursing in its own, each in its own words, at the same time in
// one video room. The timeline shows it once, with both organisations.
func plantJointMeeting(c clock, b builtPatient, h *hospital, m *municipality) {
	d := c.weekday(1)
	room := func() []any {
		return []any{&location{ResourceType: "Location", ID: "video", Status: "active", Name: "Videomøde", Mode: "instance",
			Telecom:      []contactPoint{{System: "url", Value: "https://video.example.org/auh/rum/" + uuid(b.hp + "/udskrivning")[:13]}},
			PhysicalType: physType("vi", "Virtual")}}
	}
	vr := &concept{Coding: []coding{{System: actCodeSystem, Code: "VR", Display: "virtual"}}, Text: "Videomøde"}
	h.appointment(b.hp, visit{title: "Udskrivningssamtale", service: "Hjertesygdomme",
		start: c.at(d, 14, 0), end: c.at(d, 14, 45), apptType: vr, contained: room(),
		instruction: "Dine pårørende er velkomne. Klik på linket 5 minutter før.",
		actors:      []reference{ref("Organization", h.org), ref("Practitioner", h.heartDoc), {Reference: "#video", Display: "Videomøde"}}})
	m.appointment(b.mp, visit{title: "Udskrivningsmøde med hospitalet", service: "Sygepleje",
		start: c.at(d, 14, 0), end: c.at(d, 14, 45), apptType: vr, contained: room(),
		actors: []reference{ref("HealthcareService", m.homeNursing), ref("Practitioner", m.homeNurse), {Reference: "#video", Display: "Videomøde"}}})
}
