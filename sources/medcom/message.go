package medcom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// Systems and codes of the MedCom HospitalNotification IG 3.0 and the
// MedCom messaging and terminology IGs it builds on.
const (
	SystemEventCodes    = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
	SystemActivityCodes = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
	EventNotification   = "hospital-notification-message"
	EventAcknowledgment = "acknowledgement-message"
	// ExtLeavePeriod is the leave of absence on the Encounter; "hospitalnotifiation" is the IG's spelling.
	ExtLeavePeriod = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalnotifiation-leave-period-extension"
	SystemCPR      = "urn:oid:1.2.208.176.1.2"
	SystemECPR     = "urn:oid:1.2.208.176.1.6.1.1"

	sysActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysCoreActCodes  = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-core-encounter-act-codes"
	sysDestinationUs = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
)

// Activities are the codes of the IG's value set
// medcom-hospitalNotification-messageActivities. A death is no activity of
// its own: it is Patient.deceased with the Encounter finished.
var activities = []string{
	"admit-emergency", "revise-admit-emergency", "cancel-admit-emergency",
	"admit-inpatient", "revise-admit-inpatient", "cancel-admit-inpatient",
	"start-leave-inpatient", "revise-start-leave-inpatient", "cancel-start-leave-inpatient",
	"end-leave-inpatient", "revise-end-leave-inpatient", "cancel-end-leave-inpatient",
	"discharge-emergency-home", "revise-discharge-emergency-home", "cancel-discharge-emergency-home",
	"discharge-inpatient-home", "revise-discharge-inpatient-home", "cancel-discharge-inpatient-home",
}

// Encounter statuses of medcom-hospitalNotification-encounterStatus.
var encounterStatuses = []string{"in-progress", "onleave", "finished", "entered-in-error"}

// Facts is what one notification says about a stay, without the patient's
// identifier or name: this is what the store keeps.
type Facts struct {
	HeaderID string    `json:"-"` // the store's key
	Activity string    `json:"activity"`
	Occurred time.Time `json:"occurred"` // the activity's time: messages apply in this order
	Sent     time.Time `json:"sent"`     // Bundle.timestamp
	Deceased bool      `json:"deceased,omitempty"`

	EncounterID  string    `json:"encounter"`
	Episodes     []string  `json:"episodes"`              // episodeOfCare identifiers, system|value: one per stay
	Identifiers  []string  `json:"identifiers,omitempty"` // Encounter.identifier, system|value
	Class        string    `json:"class"`                 // IMP, EMER or other
	Status       string    `json:"status"`                // the Encounter's
	Start        time.Time `json:"start"`
	End          time.Time `json:"end,omitzero"`
	LeaveStart   time.Time `json:"leave_start,omitzero"`
	LeaveEnd     time.Time `json:"leave_end,omitzero"`
	Organization string    `json:"organization,omitempty"` // serviceProvider's name
}

// Message is a HospitalNotification as received: its facts, the patient,
// and what the acknowledgement needs to answer it.
type Message struct {
	BundleID string
	HeaderID string
	Patient  aggregator.Identifier // personal data: never log it
	Facts    Facts

	// For the acknowledgement: the sender and receiver as the message names
	// them, with their Organization resources when the Bundle has them.
	senderEndpoint, receiverEndpoint string
	sender, receiver                 json.RawMessage
	senderID, receiverID             string
}

// Issue is one thing wrong with a message, as an OperationOutcome issue
// says it: the FHIR issue type, a detail code (HL7 operation-outcome or
// MedCom's acknowledgement error codes), the FHIRPath of the element and
// a sentence. No issue quotes a personal value.
type Issue struct {
	Code       string // FHIR issue-type: structure, required, value, invariant, code-invalid, not-supported, ...
	Detail     detail
	Expression string
	Text       string
}

type detail struct{ system, code string }

const (
	sysOutcome  = "http://terminology.hl7.org/CodeSystem/operation-outcome"
	sysAckError = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
)

var (
	detailJSON          = detail{sysOutcome, "MSG_JSON_OBJECT"}
	detailBadSyntax     = detail{sysOutcome, "MSG_BAD_SYNTAX"}
	detailBadFormat     = detail{sysOutcome, "MSG_BAD_FORMAT"}
	detailDate          = detail{sysOutcome, "MSG_DATE_FORMAT"}
	detailTypeMismatch  = detail{sysOutcome, "MSG_RESOURCE_TYPE_MISMATCH"}
	detailIDMissing     = detail{sysOutcome, "MSG_RESOURCE_ID_MISSING"}
	detailRequired      = detail{sysOutcome, "MSG_RESOURCE_REQUIRED"}
	detailLocalRef      = detail{sysOutcome, "MSG_LOCAL_FAIL"}
	detailDuplicate     = detail{sysOutcome, "MSG_DUPLICATE_ID"}
	detailMessageType   = detail{sysAckError, "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"}
	detailValueSet      = detail{sysAckError, "MSG_VALUESET_VALUE_UNKNOWN"}
	detailCodeSystem    = detail{sysAckError, "MSG_CodeSystem_VALUE_UNKNOWN"}
	detailDatatypeWrong = detail{sysAckError, "MSG_Datatype_Wrong"}
	detailIDInvalid     = detail{sysOutcome, "MSG_ID_INVALID"}
	// For transient errors, as in the IG's example of one.
	detailOutOfOperation = detail{sysAckError, "MSG_Mailbox_Out_Of_Operation"}
	detailDamaged        = detail{sysAckError, "MSG_Damaged_durin_transport"} // sic
)

// Problem is a message refused: what was wrong, all of it.
type Problem struct {
	Issues []Issue
	// NotJSON: the body is not a JSON object at all (HTTP 400 rather than 422).
	NotJSON bool
}

func (p *Problem) Error() string {
	texts := make([]string, len(p.Issues))
	for i, is := range p.Issues {
		texts[i] = is.Text
	}
	return "message refused: " + strings.Join(texts, "; ")
}

type checker struct{ issues []Issue }

func (c *checker) add(code string, d detail, expr, format string, args ...any) {
	c.issues = append(c.issues, Issue{Code: code, Detail: d, Expression: expr, Text: fmt.Sprintf(format, args...)})
}

// The parts of the resources read; pointers tell absent from empty.
type (
	coding struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
	reference struct {
		Reference string `json:"reference"`
	}
	period struct {
		Start *string `json:"start"`
		End   *string `json:"end"`
	}
	identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	extension struct {
		URL         string  `json:"url"`
		ValuePeriod *period `json:"valuePeriod"`
		ValueCoding *coding `json:"valueCoding"`
	}
	bundleJSON struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Type         *string `json:"type"`
		Timestamp    *string `json:"timestamp"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	headJSON struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	messageHeaderJSON struct {
		EventCoding *coding `json:"eventCoding"`
		EventURI    *string `json:"eventUri"`
		Destination []struct {
			Extension []extension `json:"extension"`
			Endpoint  string      `json:"endpoint"`
			Receiver  *reference  `json:"receiver"`
		} `json:"destination"`
		Sender *reference `json:"sender"`
		Source *struct {
			Endpoint string `json:"endpoint"`
		} `json:"source"`
		Focus []reference `json:"focus"`
	}
	patientJSON struct {
		Identifier       []identifier `json:"identifier"`
		DeceasedBoolean  *bool        `json:"deceasedBoolean"`
		DeceasedDateTime *string      `json:"deceasedDateTime"`
	}
	encounterJSON struct {
		Extension     []extension  `json:"extension"`
		Identifier    []identifier `json:"identifier"`
		Status        *string      `json:"status"`
		Class         *coding      `json:"class"`
		Subject       *reference   `json:"subject"`
		EpisodeOfCare []struct {
			Identifier *identifier `json:"identifier"`
		} `json:"episodeOfCare"`
		Period          *period    `json:"period"`
		ServiceProvider *reference `json:"serviceProvider"`
	}
	organizationJSON struct {
		Name string `json:"name"`
	}
	provenanceJSON struct {
		Target           []reference `json:"target"`
		OccurredDateTime *string     `json:"occurredDateTime"`
		Activity         *struct {
			Coding []coding `json:"coding"`
		} `json:"activity"`
	}
)

// entry is one resource of the Bundle, for resolving references.
type entry struct {
	index   int
	fullURL string
	head    headJSON
	raw     json.RawMessage
}

func (e entry) path() string { return fmt.Sprintf("Bundle.entry[%d].resource", e.index) }

// Parse reads and checks a HospitalNotification message Bundle as the
// MedCom HospitalNotification IG 3.0 describes it. A message it refuses
// comes back as a *Problem listing everything wrong; the Message is then
// still returned with what could be read (the ids and the parties), so the
// acknowledgement can name the message it refuses.
func Parse(body []byte) (*Message, error) {
	m := &Message{}
	c := &checker{}
	var b bundleJSON
	if err := decodeObject(body, &b); err != nil {
		var p *Problem
		if errors.As(err, &p) {
			return m, p
		}
		c.add("structure", detailBadSyntax, "Bundle", "the Bundle does not decode: %v", err)
		return m, &Problem{Issues: c.issues}
	}
	if b.ResourceType != "Bundle" {
		c.add("structure", detailTypeMismatch, "Bundle.resourceType", "resourceType is %s, want Bundle", quote(b.ResourceType))
		return m, &Problem{Issues: c.issues}
	}
	m.BundleID = b.ID
	checkID(c, "Bundle.id", "Bundle", b.ID)
	switch {
	case b.Type == nil:
		c.add("required", detailRequired, "Bundle.type", "the Bundle has no type; a message has type message")
	case *b.Type != "message":
		c.add("value", detailValueSet, "Bundle.type", "the Bundle is of type %s, want message", quote(*b.Type))
	}
	if b.Timestamp == nil {
		c.add("required", detailRequired, "Bundle.timestamp", "the Bundle has no timestamp")
	} else if t, ok := instant(c, "Bundle.timestamp", *b.Timestamp); ok {
		m.Facts.Sent = t
	}
	if len(b.Entry) == 0 {
		c.add("required", detailRequired, "Bundle.entry", "the Bundle has no entries")
		return m, &Problem{Issues: c.issues}
	}

	entries := make([]entry, len(b.Entry))
	for i, be := range b.Entry {
		e := entry{index: i, fullURL: be.FullURL, raw: be.Resource}
		if len(be.Resource) == 0 {
			c.add("required", detailRequired, fmt.Sprintf("Bundle.entry[%d].resource", i), "entry %d has no resource", i)
		} else if err := json.Unmarshal(be.Resource, &e.head); err != nil {
			c.add("structure", detailBadSyntax, e.path(), "entry %d is not a resource: %v", i, jsonProblem(err))
		}
		entries[i] = e
	}
	first := entries[0]
	if first.head.ResourceType != "MessageHeader" {
		c.add("structure", detailTypeMismatch, first.path(), "the first entry is %s; a message begins with its MessageHeader",
			orNothing(first.head.ResourceType))
		return m, &Problem{Issues: c.issues}
	}
	m.HeaderID = first.head.ID
	if !checkID(c, first.path()+".id", "MessageHeader", m.HeaderID) {
		m.HeaderID = "" // the acknowledgement must not repeat it
	}
	m.Facts.HeaderID = m.HeaderID
	seen := map[string]int{}
	for _, e := range entries {
		if e.head.ResourceType == "" {
			continue
		}
		k := e.head.ResourceType + "/" + e.head.ID
		if j, dup := seen[k]; dup && e.head.ID != "" {
			c.add("duplicate", detailDuplicate, e.path()+".id", "entries %d and %d are the same %s", j, e.index, e.head.ResourceType)
		}
		seen[k] = e.index
	}

	var mh messageHeaderJSON
	if decode(c, first, &mh) {
		checkHeader(c, m, first, &mh, entries)
	}
	pat := checkPatient(c, m, entries)
	enc := checkEncounter(c, m, first, &mh, entries, pat)
	checkProvenance(c, m, entries)
	if enc {
		checkActivity(c, m)
	}
	if len(c.issues) > 0 {
		return m, &Problem{Issues: c.issues}
	}
	return m, nil
}

// decodeObject decodes a JSON object, refusing anything else: a body that
// is not JSON, or JSON that is not one object.
func decodeObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		c := &checker{}
		what := "the body is not a JSON object"
		if len(trimmed) == 0 {
			what = "the body is empty"
		} else if err := json.Unmarshal(trimmed, new(any)); err != nil {
			what += ": " + jsonProblem(err)
		}
		c.add("structure", detailJSON, "", "%s; a message is a FHIR Bundle in JSON", what)
		return &Problem{Issues: c.issues, NotJSON: true}
	}
	return json.Unmarshal(trimmed, v)
}

// jsonProblem describes a decoding error without the offending value.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s is a JSON %s where %s belongs", orNothing(te.Field), te.Value, te.Type)
	}
	return "invalid JSON"
}

// decode reads a resource of the Bundle into v, reporting where it fails.
func decode(c *checker, e entry, v any) bool {
	if err := json.Unmarshal(e.raw, v); err != nil {
		c.add("structure", detailDatatypeWrong, e.path(), "the %s does not decode: %s", e.head.ResourceType, jsonProblem(err))
		return false
	}
	return true
}

func checkHeader(c *checker, m *Message, e entry, mh *messageHeaderJSON, entries []entry) {
	p := e.path()
	switch {
	case mh.EventCoding == nil && mh.EventURI != nil:
		c.add("not-supported", detailMessageType, p+".eventUri", "the event is a URI; this endpoint takes the event coding %s", EventNotification)
	case mh.EventCoding == nil:
		c.add("required", detailRequired, p+".eventCoding", "the MessageHeader has no event")
	case mh.EventCoding.System != SystemEventCodes:
		c.add("code-invalid", detailCodeSystem, p+".eventCoding.system", "the event's system is %s, want %s", quote(mh.EventCoding.System), SystemEventCodes)
	case mh.EventCoding.Code != EventNotification:
		c.add("not-supported", detailMessageType, p+".eventCoding.code", "the event is %s; this endpoint takes %s only", quote(mh.EventCoding.Code), EventNotification)
	}
	if mh.Source == nil || mh.Source.Endpoint == "" {
		c.add("required", detailRequired, p+".source.endpoint", "the MessageHeader has no source endpoint")
	} else {
		m.senderEndpoint = mh.Source.Endpoint
	}
	primary := -1
	for i, d := range mh.Destination {
		for _, x := range d.Extension {
			if x.ValueCoding != nil && x.ValueCoding.System == sysDestinationUs && x.ValueCoding.Code == "primary" {
				primary = i
			}
		}
	}
	switch {
	case len(mh.Destination) == 0:
		c.add("required", detailRequired, p+".destination", "the MessageHeader has no destination")
	case primary < 0:
		c.add("invariant", detailValueSet, p+".destination", "no destination is the primary receiver (medcom-hospitalNotification-5)")
	default:
		d := mh.Destination[primary]
		m.receiverEndpoint = d.Endpoint
		if d.Receiver != nil {
			if r, ok := resolve(entries, d.Receiver.Reference, "Organization"); ok {
				m.receiver, m.receiverID = r.raw, r.head.ID
			}
		}
	}
	if mh.Sender == nil {
		c.add("required", detailRequired, p+".sender", "the MessageHeader has no sender")
	} else if r, ok := resolve(entries, mh.Sender.Reference, "Organization"); ok {
		m.sender, m.senderID = r.raw, r.head.ID
	} else {
		c.add("required", detailLocalRef, p+".sender", "the sender is no Organization in the Bundle")
	}
	if len(mh.Focus) != 1 {
		c.add("required", detailRequired, p+".focus", "the MessageHeader has %d focus references, want one: the Encounter", len(mh.Focus))
	}
}

func checkPatient(c *checker, m *Message, entries []entry) *entry {
	var pats []entry
	for _, e := range entries {
		if e.head.ResourceType == "Patient" {
			pats = append(pats, e)
		}
	}
	if len(pats) != 1 {
		c.add("invariant", detailRequired, "Bundle.entry", "the Bundle has %d Patients, want exactly one (medcom-hospitalNotification-2)", len(pats))
		return nil
	}
	e := pats[0]
	var p patientJSON
	if !decode(c, e, &p) {
		return &e
	}
	var cpr, ecpr string
	for _, id := range p.Identifier {
		switch id.System {
		case SystemCPR:
			cpr = id.Value
		case SystemECPR:
			ecpr = id.Value
		}
	}
	switch {
	case cpr != "":
		if !validCPR(cpr) {
			c.add("value", detailBadFormat, e.path()+".identifier", "the CPR number is not ten digits")
			break
		}
		m.Patient = aggregator.Identifier{System: SystemCPR, Value: cpr}
	case ecpr != "":
		m.Patient = aggregator.Identifier{System: SystemECPR, Value: ecpr}
	default:
		c.add("invariant", detailRequired, e.path()+".identifier",
			"the Patient has no CPR number (%s) or eCPR (%s) (medcom-hospitalNotification-4)", SystemCPR, SystemECPR)
	}
	m.Facts.Deceased = p.DeceasedBoolean != nil && *p.DeceasedBoolean || p.DeceasedDateTime != nil
	return &e
}

// checkID checks a FHIR id: 1 to 64 letters, digits, '-' and '.'.
func checkID(c *checker, path, what, id string) bool {
	if id == "" {
		c.add("required", detailIDMissing, path, "the %s has no id", what)
		return false
	}
	ok := len(id) <= 64
	for _, r := range id {
		ok = ok && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.')
	}
	if !ok {
		c.add("value", detailIDInvalid, path, "the %s's id is not a FHIR id (1 to 64 letters, digits, '-' and '.')", what)
	}
	return ok
}

func validCPR(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkEncounter reads the Encounter the MessageHeader is about; false
// when there is none to check the activity against.
func checkEncounter(c *checker, m *Message, header entry, mh *messageHeaderJSON, entries []entry, pat *entry) bool {
	var e entry
	var ok bool
	if len(mh.Focus) == 1 {
		if e, ok = resolve(entries, mh.Focus[0].Reference, "Encounter"); !ok {
			c.add("required", detailLocalRef, header.path()+".focus[0]", "the focus is no Encounter in the Bundle")
			return false
		}
	} else {
		for _, x := range entries {
			if x.head.ResourceType == "Encounter" {
				e, ok = x, true
				break
			}
		}
		if !ok {
			c.add("required", detailRequired, "Bundle.entry", "the Bundle has no Encounter")
			return false
		}
	}
	var enc encounterJSON
	if !decode(c, e, &enc) {
		return false
	}
	p := e.path()
	f := &m.Facts
	f.EncounterID = e.head.ID
	checkID(c, p+".id", "Encounter", e.head.ID)
	switch {
	case enc.Status == nil:
		c.add("required", detailRequired, p+".status", "the Encounter has no status")
	case !slices.Contains(encounterStatuses, *enc.Status):
		c.add("code-invalid", detailValueSet, p+".status", "the Encounter's status is %s, want one of %s", quote(*enc.Status), strings.Join(encounterStatuses, ", "))
	default:
		f.Status = *enc.Status
	}
	switch {
	case enc.Class == nil:
		c.add("required", detailRequired, p+".class", "the Encounter has no class")
	case enc.Class.System == sysActCode && (enc.Class.Code == "IMP" || enc.Class.Code == "EMER"):
		f.Class = enc.Class.Code
	case enc.Class.System == sysCoreActCodes && enc.Class.Code == "other":
		f.Class = "other"
	default:
		c.add("code-invalid", detailValueSet, p+".class", "the Encounter's class is %s|%s, want %s IMP or EMER, or %s other",
			quote(enc.Class.System), quote(enc.Class.Code), sysActCode, sysCoreActCodes)
	}
	if pat != nil {
		if enc.Subject == nil {
			c.add("required", detailRequired, p+".subject", "the Encounter has no subject")
		} else if s, ok := resolve(entries, enc.Subject.Reference, "Patient"); !ok || s.index != pat.index {
			c.add("required", detailLocalRef, p+".subject", "the Encounter's subject is not the Patient in the Bundle")
		}
	}
	for i, eoc := range enc.EpisodeOfCare {
		if eoc.Identifier == nil || eoc.Identifier.Value == "" {
			c.add("required", detailRequired, fmt.Sprintf("%s.episodeOfCare[%d].identifier", p, i), "the episode of care has no identifier")
			continue
		}
		f.Episodes = append(f.Episodes, eoc.Identifier.System+"|"+eoc.Identifier.Value)
	}
	if len(enc.EpisodeOfCare) == 0 {
		c.add("required", detailRequired, p+".episodeOfCare", "the Encounter has no episode of care identifier for the stay")
	}
	for _, id := range enc.Identifier {
		if id.System != "" && id.Value != "" {
			f.Identifiers = append(f.Identifiers, id.System+"|"+id.Value)
		}
	}
	if enc.Period == nil || enc.Period.Start == nil {
		c.add("required", detailRequired, p+".period.start", "the Encounter has no start")
	} else if t, ok := instant(c, p+".period.start", *enc.Period.Start); ok {
		f.Start = t
	}
	if enc.Period != nil && enc.Period.End != nil {
		if t, ok := instant(c, p+".period.end", *enc.Period.End); ok {
			f.End = t
			if !f.Start.IsZero() && t.Before(f.Start) {
				c.add("invariant", detailBadFormat, p+".period", "the Encounter ends before it starts")
			}
		}
	}
	leaves := 0
	for i, x := range enc.Extension {
		if x.URL != ExtLeavePeriod {
			continue
		}
		xp := fmt.Sprintf("%s.extension[%d]", p, i)
		if leaves++; leaves > 1 {
			c.add("structure", detailBadFormat, xp, "the Encounter has more than one leave period")
			continue
		}
		if x.ValuePeriod == nil || x.ValuePeriod.Start == nil {
			c.add("required", detailRequired, xp+".valuePeriod.start", "the leave period has no start")
			continue
		}
		if t, ok := instant(c, xp+".valuePeriod.start", *x.ValuePeriod.Start); ok {
			f.LeaveStart = t
		}
		if x.ValuePeriod.End != nil {
			if t, ok := instant(c, xp+".valuePeriod.end", *x.ValuePeriod.End); ok {
				f.LeaveEnd = t
				if !f.LeaveStart.IsZero() && t.Before(f.LeaveStart) {
					c.add("invariant", detailBadFormat, xp+".valuePeriod", "the leave ends before it starts")
				}
			}
		}
	}
	if f.Status == "onleave" && leaves == 0 {
		c.add("invariant", detailRequired, p+".extension", "the Encounter is on leave without a leave period start (medcom-hospitalNotification-6)")
	}
	if enc.ServiceProvider == nil {
		c.add("required", detailRequired, p+".serviceProvider", "the Encounter has no service provider")
	} else if o, ok := resolve(entries, enc.ServiceProvider.Reference, "Organization"); !ok {
		c.add("required", detailLocalRef, p+".serviceProvider", "the service provider is no Organization in the Bundle")
	} else {
		var org organizationJSON
		if decode(c, o, &org) {
			f.Organization = strings.TrimSpace(org.Name)
		}
	}
	return f.Status != "" && f.Class != ""
}

// checkProvenance finds the Provenance of this message (the one whose
// target is its MessageHeader); the others tell the stay's history.
func checkProvenance(c *checker, m *Message, entries []entry) {
	var own []entry
	for _, e := range entries {
		if e.head.ResourceType != "Provenance" {
			continue
		}
		var pr provenanceJSON
		if !decode(c, e, &pr) {
			continue
		}
		code, ok := activity(c, e, &pr)
		for _, t := range pr.Target {
			if r, found := resolve(entries, t.Reference, "MessageHeader"); found && r.index == 0 && m.HeaderID != "" {
				own = append(own, e)
				if !ok {
					break
				}
				m.Facts.Activity = code
				if pr.OccurredDateTime == nil {
					c.add("required", detailRequired, e.path()+".occurredDateTime", "the message's Provenance has no occurredDateTime")
				} else if t, ok := instant(c, e.path()+".occurredDateTime", *pr.OccurredDateTime); ok {
					m.Facts.Occurred = t
				}
				break
			}
		}
	}
	switch len(own) {
	case 0:
		c.add("required", detailRequired, "Bundle.entry", "no Provenance has this message's MessageHeader as its target: nothing says what happened")
	case 1:
	default:
		c.add("invariant", detailDuplicate, own[1].path()+".target", "%d Provenances have this message's MessageHeader as their target, want one", len(own))
	}
}

// activity reads a Provenance's activity code from the IG's value set.
func activity(c *checker, e entry, pr *provenanceJSON) (string, bool) {
	p := e.path() + ".activity"
	if pr.Activity == nil || len(pr.Activity.Coding) == 0 {
		c.add("required", detailRequired, p, "the Provenance has no activity")
		return "", false
	}
	for _, cd := range pr.Activity.Coding {
		if cd.System == SystemActivityCodes && slices.Contains(activities, cd.Code) {
			return cd.Code, true
		}
	}
	cd := pr.Activity.Coding[0]
	c.add("code-invalid", detailValueSet, p+".coding", "the activity %s|%s is not in medcom-hospitalNotification-messageActivities (medcom-hospitalNotification-3)",
		quote(cd.System), quote(cd.Code))
	return "", false
}

// checkActivity checks that the Encounter agrees with what the activity
// says happened, as the IG's table of codes has it.
func checkActivity(c *checker, m *Message) {
	f := &m.Facts
	a := f.Activity
	if a == "" {
		return
	}
	bad := func(format string, args ...any) {
		c.add("invariant", detailValueSet, "Bundle.entry.resource.ofType(Encounter)", "activity %s: "+format, append([]any{a}, args...)...)
	}
	switch {
	case strings.HasSuffix(a, "-emergency") || strings.Contains(a, "-emergency-"):
		if f.Class != "EMER" {
			bad("the Encounter's class is %s, want EMER", f.Class)
		}
	case strings.HasSuffix(a, "-inpatient") || strings.Contains(a, "-inpatient-"):
		if f.Class != "IMP" {
			bad("the Encounter's class is %s, want IMP", f.Class)
		}
	}
	want := func(statuses ...string) {
		if !slices.Contains(statuses, f.Status) {
			bad("the Encounter's status is %s, want %s", f.Status, strings.Join(statuses, " or "))
		}
	}
	base := strings.TrimPrefix(a, "revise-")
	switch {
	case strings.HasPrefix(a, "cancel-admit-"):
		want("entered-in-error")
	case strings.HasPrefix(base, "admit-"):
		// A death is told with the activity the stay had: finished, deceased.
		if f.Deceased {
			want("finished")
		} else {
			want("in-progress")
		}
	case strings.HasPrefix(base, "start-leave-"), a == "cancel-end-leave-inpatient":
		want("onleave")
	case strings.HasPrefix(base, "end-leave-"):
		want("in-progress")
		if f.LeaveStart.IsZero() || f.LeaveEnd.IsZero() {
			bad("the leave period needs its start and end")
		}
	case a == "cancel-start-leave-inpatient":
		want("in-progress")
	case strings.HasPrefix(base, "discharge-"):
		want("finished")
	case strings.HasPrefix(a, "cancel-discharge-"):
		want("in-progress")
	}
	if f.Status == "finished" && f.End.IsZero() {
		c.add("required", detailRequired, "Bundle.entry.resource.ofType(Encounter).period.end", "the Encounter is finished without an end")
	}
	if f.Deceased && f.Status != "finished" && !strings.HasPrefix(a, "cancel-") {
		bad("the Patient is deceased but the Encounter is %s, want finished", f.Status)
	}
}

// resolve finds the entry a reference points at: its fullUrl, "Type/id",
// or an absolute URL ending in "Type/id".
func resolve(entries []entry, ref, typ string) (entry, bool) {
	if ref == "" {
		return entry{}, false
	}
	for _, e := range entries {
		if e.head.ResourceType != typ {
			continue
		}
		rel := typ + "/" + e.head.ID
		if ref == e.fullURL || (e.head.ID != "" && (ref == rel || strings.HasSuffix(ref, "/"+rel))) {
			return e, true
		}
	}
	return entry{}, false
}

// instant parses a FHIR dateTime with a time and a zone, keeping its offset.
func instant(c *checker, path, s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.add("value", detailDate, path, "%s is not a date and time with a zone (e.g. 2022-12-07T12:00:00+01:00)", path)
		return time.Time{}, false
	}
	return t, true
}

// quote gives a code from the message in the text, or "?" for anything that
// does not look like a code: texts must not carry personal data.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	if len(s) > 100 {
		return "?"
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_.:/#", r)) {
			return "?"
		}
	}
	return `"` + s + `"`
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return quote(s)
}
