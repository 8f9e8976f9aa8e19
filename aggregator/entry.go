// Package aggregator owns the domain of overblik: what an entry on a patient's
// timeline is, the Source contract connectors fulfil, and how the entries of
// many sources become one cached timeline. It imports nothing of ours.
package aggregator

import (
	"log/slog"
	"time"
)

// Sector is the part of the health system a source belongs to.
type Sector string

const (
	SectorHospital     Sector = "hospital"
	SectorMunicipality Sector = "municipality"
	SectorGP           Sector = "gp"
	SectorOther        Sector = "other"
)

// ParseSector accepts the sector names used in configuration.
func ParseSector(s string) (Sector, bool) {
	switch Sector(s) {
	case SectorHospital, SectorMunicipality, SectorGP, SectorOther:
		return Sector(s), true
	}
	return "", false
}

// Kind says what an entry stands for.
type Kind string

const (
	KindAppointment Kind = "appointment"
	KindEncounter   Kind = "encounter"
	KindAdmission   Kind = "admission" // an inpatient stay with its period
)

// Status is the patient-facing status; the raw FHIR code stays in Entry.FHIRStatus.
type Status string

const (
	StatusTentative      Status = "tentative" // proposed, pending, waitlist: not yet confirmed
	StatusBooked         Status = "booked"    // booked, planned, arrived, checked-in, triaged
	StatusInProgress     Status = "in-progress"
	StatusOnLeave        Status = "on-leave"
	StatusCompleted      Status = "completed" // fulfilled, finished
	StatusCancelled      Status = "cancelled"
	StatusNoShow         Status = "no-show"
	StatusEnteredInError Status = "entered-in-error" // never shown: dropped by the merge
	StatusUnknown        Status = "unknown"
)

// Medium is how the patient meets the care giver.
type Medium string

const (
	MediumInPerson  Medium = "in-person"
	MediumVideo     Medium = "video"
	MediumPhone     Medium = "phone"
	MediumHomeVisit Medium = "home-visit"
)

// Sensitivity marks entries that access control may hide from relatives.
type Sensitivity string

const (
	SensitivityNormal     Sensitivity = "normal"
	SensitivityRestricted Sensitivity = "restricted"
)

// Place is where an entry happens. Coordinates are optional.
type Place struct {
	Name    string
	Address string
	Lat     *float64
	Lon     *float64
}

// Provenance names one source resource folded into an entry.
type Provenance struct {
	Source  string
	Type    string // FHIR resource type
	ID      string
	Version string
	// Digest, when set, names the resource as the source read it and what
	// its entry was made with, so that the source can keep the entry when
	// it reads the same again (Reading.Normalise).
	Digest string
}

// Entry is one normalised item on a timeline.
type Entry struct {
	ID           string // stable: EntryID(source, type, id)
	Source       string
	Sector       Sector
	Kind         Kind
	Status       Status
	FHIRStatus   string
	Start        time.Time
	End          time.Time // never zero after normalisation: start + duration when the source gave none
	AllDay       bool      // the source gave dates only; Start and End span whole days in the configured zone
	Title        string
	Description  string
	Instruction  string // patient instruction
	Place        Place
	People       []string
	Organization string
	Contact      string
	Medium       Medium
	VideoURL     string
	Sensitivity  Sensitivity
	Generic      bool      // the source shares only time and place: Title is empty and the web shows a generic title for the sector
	Updated      time.Time // meta.lastUpdated of the newest folded resource
	Provenance   []Provenance

	// ServiceCodes are the coded services (system|code) when the source gave
	// any; the booked-twice rule compares them, or the titles without them.
	ServiceCodes []string

	// PartOf holds the entry IDs of appointments this entry belongs to (an
	// Encounter's appointment references). The merge folds the entry into them.
	PartOf []string

	// Identifiers are the business identifiers (system|value) the source
	// gave the booking or stay (Appointment.identifier, Encounter.identifier,
	// a stay's episode of care): the merge joins entries of two sources
	// that share one.
	Identifiers []string

	// Replaces holds the entry IDs of the appointments this one was booked
	// in place of (a cancelled time booked again), when the source says so.
	Replaces []string

	// Parts is set when the merge joined the entries of several sources
	// into this one (a meeting booked in two systems, a stay known from a
	// message and from the hospital's server): each source's own
	// organisation and status, the entry's own source first.
	Parts []Part

	// Died marks a stay that ended with the patient's death: no follow-up
	// is missing after it.
	Died bool

	// Stale is set when the source failed and this entry is its last good copy,
	// fetched at FetchedAt (the source's last success). A fresh entry's
	// FetchedAt is when it was made; a build that reads the same again
	// keeps it, and its source's LastSuccess says when it was last read.
	Stale     bool
	FetchedAt time.Time
}

// Part is one source's booking of an entry that several sources booked.
type Part struct {
	Source       string
	Sector       Sector
	Organization string
	Status       Status
	Stale        bool // this source failed and its part is its last good copy
}

// EntryID is the stable identity of the entry built from one source resource.
func EntryID(source, resourceType, id string) string {
	return source + "/" + resourceType + "/" + id
}

// Identifier is a business identifier of a person, e.g. the CPR number under
// the system urn:oid:1.2.208.176.1.2. It is personal data: never log it.
type Identifier struct {
	System string
	Value  string
}

// String gives the FHIR token form system|value. Personal data: never log it.
func (i Identifier) String() string { return i.System + "|" + i.Value }

// PatientRef is who a timeline is for. Handle is opaque and safe to log, show
// in URLs and use as a cache key; Identifier is what sources are asked for.
type PatientRef struct {
	Handle     string
	Identifier Identifier
}

// LogValue keeps the identifier out of structured logs.
func (p PatientRef) LogValue() slog.Value { return slog.StringValue(p.Handle) }

// Window is the half-open period [From, To) a timeline covers.
type Window struct {
	From time.Time
	To   time.Time
}
