package access

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Role is what a principal may act as.
type Role string

const (
	RolePatient   Role = "patient"
	RoleRelative  Role = "relative"
	RoleClinician Role = "clinician"
	RoleAdmin     Role = "admin"
	// RoleSource is a system that pushes data to us (a hospital sending
	// HospitalNotifications) under the name of a configured source: it may
	// post to that source, never read anything.
	RoleSource Role = "source"
)

// ParseRole accepts the role names used in claims and configuration.
func ParseRole(s string) (Role, bool) {
	switch Role(s) {
	case RolePatient, RoleRelative, RoleClinician, RoleAdmin, RoleSource:
		return Role(s), true
	}
	return "", false
}

// Principal is who is asking: a logged-in person or a program.
type Principal struct {
	// Subject is the identity provider's subject (or an API key's name):
	// stable, opaque, what the audit log records as "who".
	Subject string
	Roles   []Role
	// Handle is aggregator.Patients.Handle of the person's own identifier;
	// empty for a program or a person without one. It is what "own" and
	// "delegated to me" are matched on.
	Handle string
	// Name is shown to the patients whose audit log this principal appears
	// in. Personal data: never log it.
	Name string
	// Organization is the clinician's workplace when the login says so
	// (a claim, or an API key's configuration): it widens the worklist to
	// patients with an entry from it, and the patient reads it in their log.
	Organization string
}

// Has reports whether the principal holds role r.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// LogValue keeps the name out of structured logs.
func (p Principal) LogValue() slog.Value {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	return slog.GroupValue(
		slog.String("subject", p.Subject),
		slog.String("roles", strings.Join(roles, ",")),
		slog.String("handle", p.Handle),
	)
}

// Action is what a principal wants to do with one patient's data. The same
// names are the actions of audit rows.
type Action string

const (
	ActionView      Action = "view"       // read the timeline
	ActionLookup    Action = "lookup"     // find a patient's handle by identifier
	ActionGrant     Action = "grant"      // delegate to a relative
	ActionRevoke    Action = "revoke"     // end a delegation
	ActionBlock     Action = "block"      // refuse clinician look-ups
	ActionUnblock   Action = "unblock"    // lift that
	ActionReadAudit Action = "read-audit" // read who looked
	// ActionWorklist is a clinician's conflict worklist showing the
	// patient: a view, audited under its own name so the patient's log can
	// say so in the patient's language.
	ActionWorklist Action = "worklist"
	// ActionCalendar is a calendar app fetching a person's feed of the
	// patient's timeline; ActionNotice a notice of changes or a reminder
	// sent to them. Both are views by the feed's or notice's owner.
	ActionCalendar Action = "calendar"
	ActionNotice   Action = "notice"
)

// Errors. web maps errors.Is(err, ErrNotVisible) to 404 and ErrInvalid to 400;
// anything else (a store failure) is a 5xx and no data may be sent.
var (
	// ErrNotVisible: the patient does not exist for this caller, whether or
	// not it exists at all.
	ErrNotVisible = errors.New("access: not visible")
	// ErrNotFound is a record (a delegation) that does not exist or is not
	// the caller's; it is ErrNotVisible to the caller.
	ErrNotFound = fmt.Errorf("access: not found: %w", ErrNotVisible)
	// ErrInvalid is a request that is wrong whoever asks.
	ErrInvalid = errors.New("access: invalid request")
	// ErrReasonRequired: a clinician must say why they look.
	ErrReasonRequired = fmt.Errorf("access: a clinician must give a reason: %w", ErrInvalid)
	// ErrAlreadyGranted: the patient already gives that person access (a
	// delegation neither revoked nor ended), so a second would only make
	// the person appear twice.
	ErrAlreadyGranted = fmt.Errorf("access: already granted to that person: %w", ErrInvalid)
)

// Limits on free text a caller stores, so the log stays a log.
const (
	MaxReasonLen = 500 // bytes
	MaxLabelLen  = 100 // characters, as the form's maxlength counts them
)

// Delegation lets a relative (Grantee) see a patient's (Patient) timeline.
// Both are handles, never identifiers.
type Delegation struct {
	ID          string
	Patient     string
	Grantee     string
	Label       string // the patient's own name for the grantee; personal data: never log
	PatientName string // the grantor's name when granting, so the relative can tell whose timeline it is; personal data: never log
	// GranteeMasked is whom the patient typed, as pages show a CPR number
	// (300241-xxxx: the date, never the number); GranteeName the grantee's
	// own name, stored once they sign in. Both are for the patient to read
	// beside the label. Personal data: never log.
	GranteeMasked     string
	GranteeName       string
	IncludeRestricted bool
	Created           time.Time
	Until             time.Time // exclusive end; zero means no end date
	Revoked           time.Time // zero while not revoked
}

// LogValue keeps the names out of structured logs.
func (d Delegation) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID), slog.String("patient", d.Patient), slog.String("grantee", d.Grantee))
}

// Valid reports whether the delegation lets its grantee in at t: created, not
// revoked, and before its end.
func (d Delegation) Valid(t time.Time) bool {
	if t.Before(d.Created) {
		return false
	}
	if !d.Revoked.IsZero() && !t.Before(d.Revoked) {
		return false
	}
	if !d.Until.IsZero() && !t.Before(d.Until) {
		return false
	}
	return true
}

// Block is whether a patient refuses clinician look-ups, and since when.
type Block struct {
	Blocked bool
	Since   time.Time // when it was last set or lifted; zero if never
}
