package access

import (
	"fmt"
	"strings"
	"time"
)

// Relation is what the store knows about one principal and one patient,
// gathered before deciding.
type Relation struct {
	Patient     string       // handle of the patient whose data is asked for
	Delegations []Delegation // from Patient to the principal, valid or not
	Blocked     bool         // Patient refuses clinician look-ups
}

// Decision is an allowed action: the role it was allowed under (for the audit
// row) and, for a view, whether restricted entries may be shown.
type Decision struct {
	Role       Role
	Restricted bool
	// PatientName is the patient's name as the delegation a relative was
	// let in by gives it, so a page can say whose timeline it is; empty for
	// the other roles. Personal data: never log it.
	PatientName string
}

// Decide says whether p may do a on rel.Patient's data at time at, giving
// reason (required of clinicians viewing or looking up). It is pure. A refusal
// is ErrNotVisible, ErrReasonRequired or ErrInvalid.
func Decide(p Principal, rel Relation, a Action, at time.Time, reason string) (Decision, error) {
	if err := checkReason(reason); err != nil {
		return Decision{}, err
	}
	if rel.Patient == "" {
		// An empty handle must never match a principal without one.
		return Decision{}, ErrNotVisible
	}
	own := p.Handle != "" && p.Handle == rel.Patient
	switch a {
	case ActionWorklist, ActionConflictHandled:
		// The worklist is the reason: a clinician's list of the patients in
		// their care with coordination conflicts, and marking one handled.
		if p.Has(RoleClinician) && !rel.Blocked {
			return Decision{Role: RoleClinician, Restricted: true}, nil
		}
		return Decision{}, ErrNotVisible
	case ActionCalendar, ActionNotice:
		// Outputs a person takes home: their own timeline, or one
		// delegated to them; never a clinician's.
		if own && p.Has(RolePatient) {
			return Decision{Role: RolePatient, Restricted: true}, nil
		}
		if p.Has(RoleRelative) && !own {
			if d, ok := validDelegation(p, rel, at); ok {
				return d, nil
			}
		}
		return Decision{}, ErrNotVisible
	case ActionView, ActionLookup:
		if own && p.Has(RolePatient) {
			return Decision{Role: RolePatient, Restricted: true}, nil
		}
		if p.Has(RoleRelative) && !own {
			if d, ok := validDelegation(p, rel, at); ok {
				return d, nil
			}
		}
		if p.Has(RoleClinician) {
			if strings.TrimSpace(reason) == "" {
				return Decision{}, ErrReasonRequired
			}
			if rel.Blocked {
				return Decision{}, ErrNotVisible
			}
			return Decision{Role: RoleClinician, Restricted: true}, nil
		}
		return Decision{}, ErrNotVisible
	case ActionGrant, ActionRevoke, ActionBlock, ActionUnblock, ActionReadAudit:
		// Only the patient manages their own access; a delegation is not
		// passed on, and the audit log names who looked, which is the
		// patient's business alone.
		if own && p.Has(RolePatient) {
			return Decision{Role: RolePatient}, nil
		}
		return Decision{}, ErrNotVisible
	}
	return Decision{}, fmt.Errorf("unknown action %q: %w", a, ErrInvalid)
}

func validDelegation(p Principal, rel Relation, at time.Time) (Decision, bool) {
	d, found := Decision{Role: RoleRelative}, false
	for _, g := range rel.Delegations {
		if g.Patient != rel.Patient || g.Grantee == "" || g.Grantee != p.Handle || !g.Valid(at) {
			continue
		}
		found = true
		d.Restricted = d.Restricted || g.IncludeRestricted
		if d.PatientName == "" {
			d.PatientName = g.PatientName
		}
	}
	return d, found
}

func checkReason(reason string) error {
	if len(reason) > MaxReasonLen {
		return fmt.Errorf("reason longer than %d bytes: %w", MaxReasonLen, ErrInvalid)
	}
	return nil
}
