package fhirsource

import (
	"errors"
	"fmt"
	"strings"
	"time"

	r4 "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/fhir"
)

// Code systems we read meaning from.
const (
	sysActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	// The FHIR R5 backport of Appointment.virtualService, used by R4 servers to
	// publish a video room.
	extVirtualService = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService"
	// The same backport on Encounter.
	extEncounterVirtualService = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService"
	sysLocationPhysicalType    = "http://terminology.hl7.org/CodeSystem/location-physical-type"
	// The R5 backport of Appointment.replaces: the appointment a new one was
	// booked in place of. R4 has no element for it.
	extReplaces = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.replaces"
)

var errNoStart = errors.New("no start time")

var appointmentStatus = map[string]aggregator.Status{
	"proposed":         aggregator.StatusTentative,
	"pending":          aggregator.StatusTentative,
	"waitlist":         aggregator.StatusTentative,
	"booked":           aggregator.StatusBooked,
	"arrived":          aggregator.StatusBooked,
	"checked-in":       aggregator.StatusBooked,
	"fulfilled":        aggregator.StatusCompleted,
	"cancelled":        aggregator.StatusCancelled,
	"noshow":           aggregator.StatusNoShow,
	"entered-in-error": aggregator.StatusEnteredInError,
}

var encounterStatus = map[string]aggregator.Status{
	"planned":          aggregator.StatusBooked,
	"arrived":          aggregator.StatusInProgress,
	"triaged":          aggregator.StatusInProgress,
	"in-progress":      aggregator.StatusInProgress,
	"onleave":          aggregator.StatusOnLeave,
	"finished":         aggregator.StatusCompleted,
	"cancelled":        aggregator.StatusCancelled,
	"entered-in-error": aggregator.StatusEnteredInError,
	"unknown":          aggregator.StatusUnknown,
}

// inpatient classes (v3 ActCode): IMP and its specialisations.
// An emergency stay (EMER) counts too: the patient is at the hospital and
// cannot be at home for a visit, which is what an admission means here.
var inpatient = map[string]bool{"IMP": true, "ACUTE": true, "NONAC": true, "EMER": true}

func mapStatus(table map[string]aggregator.Status, raw string) aggregator.Status {
	if s, ok := table[raw]; ok {
		return s
	}
	return aggregator.StatusUnknown
}

// normaliser turns decoded resources into entries for one source.
type normaliser struct {
	src *Source
	loc *time.Location
}

func (n normaliser) appointment(a *fhir.Appointment) (aggregator.Entry, error) {
	id := deref(a.Id)
	e := n.base("Appointment", id, a.Meta)
	e.Kind = aggregator.KindAppointment
	e.FHIRStatus = a.RawStatus
	e.Status = mapStatus(appointmentStatus, a.RawStatus)

	if a.Start == nil {
		return e, errNoStart
	}
	start, p, err := parseTime(*a.Start, n.loc)
	if err != nil {
		return e, fmt.Errorf("start: %w", err)
	}
	e.Start, e.AllDay = start, p < precTime
	switch {
	case a.End != nil:
		end, ep, err := parseTime(*a.End, n.loc)
		if err != nil {
			return e, fmt.Errorf("end: %w", err)
		}
		e.End = end
		if ep < precTime {
			e.End = after(end, ep) // an inclusive end date
		}
	case a.MinutesDuration != nil && *a.MinutesDuration > 0:
		e.End = start.Add(time.Duration(*a.MinutesDuration) * time.Minute)
	default:
		e.End = after(start, p)
	}
	if e.End.Before(e.Start) {
		return e, fmt.Errorf("ends (%s) before it starts", e.End.Format(time.RFC3339))
	}

	// FHIR meant description as the subject line of an appointment list, so
	// it is the title; the coded service says what kind of care it is.
	service := firstNonEmpty(textOf(a.ServiceType), textOf(a.Specialty), text(a.AppointmentType), textOf(a.ReasonCode))
	e.ServiceCodes = codes(a.ServiceType)
	e.Identifiers = identifiers(a.Identifier)
	e.Title = firstNonEmpty(deref(a.Description), service)
	if service != e.Title {
		e.Description = service
	}
	e.Instruction = deref(a.PatientInstruction)
	e.Replaces = n.replaces(a.Extension)

	contained := containedParties(a.Contained)
	var phone, video string
	virtualRoom := false
	for _, part := range a.Participant {
		pt := n.src.lookup(part.Actor, contained)
		switch pt.Type {
		case "Patient", "RelatedPerson", "Device":
			continue
		case "Location":
			if pt.Virtual {
				// A virtual room is no place to go to; its URL is the link.
				virtualRoom = true
				video = firstNonEmpty(pt.VideoURL, video)
				continue
			}
			if e.Place.Name == "" && e.Place.Address == "" {
				e.Place = aggregator.Place{Name: pt.Name, Address: pt.Address, Lat: pt.Lat, Lon: pt.Lon}
				if pt.Home {
					e.Medium = aggregator.MediumHomeVisit
				}
			}
		case "HealthcareService", "Organization":
			if e.Organization == "" {
				e.Organization = pt.Name
			}
		default: // Practitioner, PractitionerRole, CareTeam, or untyped with a display
			if pt.Name != "" {
				e.People = append(e.People, pt.Name)
			}
		}
		phone = firstNonEmpty(phone, pt.Phone)
		video = firstNonEmpty(video, pt.VideoURL)
	}
	e.Contact = phone

	switch {
	case virtualRoom || isVirtual(a.AppointmentType) || anyVirtual(a.ServiceType) || hasExtension(a.Extension, extVirtualService):
		e.Medium = aggregator.MediumVideo
		e.VideoURL = firstNonEmpty(virtualServiceURL(a.Extension, extVirtualService), video)
	case isPhone(a.AppointmentType) || anyPhone(a.ServiceType):
		e.Medium = aggregator.MediumPhone
	case isHomeVisit(a.AppointmentType) || anyHomeVisit(a.ServiceType):
		e.Medium = aggregator.MediumHomeVisit
	case e.Medium == "":
		e.Medium = aggregator.MediumInPerson
	}
	return e, nil
}

func (n normaliser) encounter(enc *fhir.Encounter) (aggregator.Entry, error) {
	id := deref(enc.Id)
	e := n.base("Encounter", id, enc.Meta)
	e.Kind = aggregator.KindEncounter
	if inpatient[deref(enc.Class.Code)] {
		e.Kind = aggregator.KindAdmission
	}
	e.FHIRStatus = enc.RawStatus
	e.Status = mapStatus(encounterStatus, enc.RawStatus)

	if enc.Period == nil || enc.Period.Start == nil {
		return e, errNoStart
	}
	start, p, err := parseTime(*enc.Period.Start, n.loc)
	if err != nil {
		return e, fmt.Errorf("period.start: %w", err)
	}
	e.Start, e.AllDay = start, p < precTime
	switch {
	case enc.Period.End != nil:
		end, ep, err := parseTime(*enc.Period.End, n.loc)
		if err != nil {
			return e, fmt.Errorf("period.end: %w", err)
		}
		e.End = end
		if ep < precTime {
			e.End = after(end, ep) // an inclusive end date
		}
	case e.Kind == aggregator.KindAdmission:
		// An admission without an end is still going on: leave End open.
	default:
		e.End = after(start, p)
	}
	if !e.End.IsZero() && e.End.Before(e.Start) {
		return e, fmt.Errorf("period ends (%s) before it starts", e.End.Format(time.RFC3339))
	}

	e.Identifiers = identifiers(enc.Identifier)
	// Many encounters (MedCom's HospitalNotification ones, home visits) say
	// only their class: a title from it is better than none, on the page,
	// in calendars, notices and change lists alike.
	e.Title = firstNonEmpty(textOf(enc.Type), text(enc.ServiceType), textOf(enc.ReasonCode), classTitle(enc.Class))
	if enc.ServiceType != nil {
		e.ServiceCodes = codes([]r4.CodeableConcept{*enc.ServiceType})
	}
	contained := containedParties(enc.Contained)
	var video string
	virtualRoom := false
	for _, l := range enc.Location {
		pt := n.src.lookup(&l.Location, contained)
		if pt.Virtual {
			virtualRoom = true
			video = firstNonEmpty(video, pt.VideoURL)
			continue
		}
		if pt.Name != "" || pt.Address != "" {
			e.Place = aggregator.Place{Name: pt.Name, Address: pt.Address, Lat: pt.Lat, Lon: pt.Lon}
			if pt.Home {
				e.Medium = aggregator.MediumHomeVisit
			}
			break
		}
	}
	for _, part := range enc.Participant {
		if pt := n.src.lookup(part.Individual, contained); pt.Name != "" {
			e.People = append(e.People, pt.Name)
		}
	}
	if enc.ServiceProvider != nil {
		org := n.src.lookup(enc.ServiceProvider, contained)
		e.Organization, e.Contact = org.Name, org.Phone
	}
	switch {
	case deref(enc.Class.Code) == "VR" || virtualRoom || hasExtension(enc.Extension, extEncounterVirtualService) || anyVirtual(enc.Type):
		e.Medium = aggregator.MediumVideo
		e.VideoURL = firstNonEmpty(virtualServiceURL(enc.Extension, extEncounterVirtualService), video)
	case anyPhone(enc.Type):
		e.Medium = aggregator.MediumPhone
	case deref(enc.Class.Code) == "HH" || anyHomeVisit(enc.Type):
		e.Medium = aggregator.MediumHomeVisit
	}
	if e.Medium == "" {
		e.Medium = aggregator.MediumInPerson
	}
	for _, ref := range enc.Appointment {
		if typ, aid, ok := localRef(n.src.cfg.BaseURL, deref(ref.Reference)); ok && typ == "Appointment" {
			e.PartOf = append(e.PartOf, aggregator.EntryID(n.src.cfg.Name, "Appointment", aid))
		}
	}
	return e, nil
}

// classTitles names an encounter by its v3 ActCode class, in the Danish
// the sources' own titles are in.
var classTitles = map[string]string{
	"AMB":   "Ambulant besøg",
	"EMER":  "Akut behandling",
	"HH":    "Hjemmebesøg",
	"IMP":   "Indlæggelse",
	"ACUTE": "Indlæggelse",
	"NONAC": "Indlæggelse",
	"SS":    "Dagbehandling",
	"VR":    "Videokonsultation",
}

// classTitle is a title from an encounter's class: ours for the ActCode
// classes, else the display the source gave the class.
func classTitle(c r4.Coding) string {
	if sys := deref(c.System); sys == "" || sys == sysActCode {
		if t, ok := classTitles[deref(c.Code)]; ok {
			return t
		}
	}
	return deref(c.Display)
}

// replaces reads the entry IDs of the appointments the replaces extension
// points at on this source; a reference elsewhere names nothing we hold.
func (n normaliser) replaces(exts []r4.Extension) []string {
	var out []string
	for _, x := range exts {
		if x.Url != extReplaces || x.ValueReference == nil {
			continue
		}
		if typ, id, ok := localRef(n.src.cfg.BaseURL, deref(x.ValueReference.Reference)); ok && typ == "Appointment" {
			out = append(out, aggregator.EntryID(n.src.cfg.Name, "Appointment", id))
		}
	}
	return out
}

// base fills what every entry has: identity, provenance, update time and
// sensitivity from meta.
func (n normaliser) base(typ, id string, meta *r4.Meta) aggregator.Entry {
	e := aggregator.Entry{
		ID:          aggregator.EntryID(n.src.cfg.Name, typ, id),
		Source:      n.src.cfg.Name,
		Sector:      n.src.cfg.Sector,
		Sensitivity: aggregator.SensitivityNormal,
	}
	prov := aggregator.Provenance{Source: n.src.cfg.Name, Type: typ, ID: id}
	if meta != nil {
		prov.Version = deref(meta.VersionId)
		if meta.LastUpdated != nil {
			if t, _, err := parseTime(*meta.LastUpdated, n.loc); err == nil {
				e.Updated = t
			}
		}
		for _, c := range meta.Security {
			if deref(c.System) == sysConfidentiality && (deref(c.Code) == "R" || deref(c.Code) == "V") {
				e.Sensitivity = aggregator.SensitivityRestricted
			}
		}
	}
	e.Provenance = []aggregator.Provenance{prov}
	return e
}

// Words in a service's or type's text that say how the patient is met:
// Danish and English, since sources use either.
var (
	videoWords = []string{"video"}
	phoneWords = []string{"telefon", "phone"}
	homeWords  = []string{"hjemmebesøg", "home visit"}
)

func isVirtual(cc *r4.CodeableConcept) bool {
	return hasCode(cc, sysActCode, "VR") || mentions(cc, videoWords)
}

func isPhone(cc *r4.CodeableConcept) bool {
	return hasCode(cc, sysActCode, "PH") || mentions(cc, phoneWords)
}

func isHomeVisit(cc *r4.CodeableConcept) bool {
	return hasCode(cc, sysActCode, "HH") || mentions(cc, homeWords)
}

// mentions looks at the concept's text and every coding's display.
func mentions(cc *r4.CodeableConcept, words []string) bool {
	if cc == nil {
		return false
	}
	texts := []string{deref(cc.Text)}
	for _, c := range cc.Coding {
		texts = append(texts, deref(c.Display))
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, w := range words {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}

func anyHomeVisit(ccs []r4.CodeableConcept) bool {
	for i := range ccs {
		if isHomeVisit(&ccs[i]) {
			return true
		}
	}
	return false
}

func anyVirtual(ccs []r4.CodeableConcept) bool {
	for i := range ccs {
		if isVirtual(&ccs[i]) {
			return true
		}
	}
	return false
}

func anyPhone(ccs []r4.CodeableConcept) bool {
	for i := range ccs {
		if isPhone(&ccs[i]) {
			return true
		}
	}
	return false
}

func hasExtension(exts []r4.Extension, url string) bool {
	for _, x := range exts {
		if x.Url == url {
			return true
		}
	}
	return false
}

// virtualServiceURL reads addressUrl from a virtualService backport
// extension: the first one that is a safe link (aggregator.SafeURL), as a
// hostile source may send javascript: there.
func virtualServiceURL(exts []r4.Extension, url string) string {
	for _, x := range exts {
		if x.Url != url {
			continue
		}
		for _, sub := range x.Extension {
			if sub.Url == "addressUrl" && sub.ValueUrl != nil {
				if u := aggregator.SafeURL(*sub.ValueUrl); u != "" {
					return u
				}
			}
		}
	}
	return ""
}

func textOf(ccs []r4.CodeableConcept) string {
	for i := range ccs {
		if t := text(&ccs[i]); t != "" {
			return t
		}
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// codes lists the codings of concepts as system|code, which the booked-twice
// rule compares across sources.
func codes(ccs []r4.CodeableConcept) []string {
	var out []string
	for _, cc := range ccs {
		for _, c := range cc.Coding {
			if c.Code != nil && *c.Code != "" {
				out = append(out, deref(c.System)+"|"+*c.Code)
			}
		}
	}
	return out
}

// identifiers lists business identifiers as system|value, which the merge
// compares across sources; a value without a system means nothing there.
func identifiers(ids []r4.Identifier) []string {
	var out []string
	for _, id := range ids {
		if deref(id.System) != "" && deref(id.Value) != "" {
			out = append(out, deref(id.System)+"|"+deref(id.Value))
		}
	}
	return out
}
