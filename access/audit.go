package access

import (
	"context"
	"log/slog"
	"time"
)

// Outcome is how an audited attempt ended.
type Outcome string

const (
	OutcomeAllowed Outcome = "allowed"
	OutcomeBlocked Outcome = "blocked" // a clinician stopped by the patient's block
)

// Event is one audit row: who (subject, role, name) did what (action, reason,
// outcome) to whose data (patient handle) when. Ref names the record an action
// was about, e.g. a delegation ID.
type Event struct {
	ID          int64 // assigned by the store
	At          time.Time
	Actor       string // Principal.Subject
	ActorRole   Role
	ActorName   string // Principal.Name, for the patient to read; personal data: never log
	ActorOrg    string // Principal.Organization of a clinician: their workplace, for the patient to read
	ActorHandle string // Principal.Handle: lets the patient's page match a relative to their grant
	Patient     string // handle
	Action      Action
	Reason      string
	Outcome     Outcome
	Ref         string
}

// LogValue keeps the name and the free-text reason out of structured logs.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("actor", e.Actor), slog.String("role", string(e.ActorRole)),
		slog.String("patient", e.Patient), slog.String("action", string(e.Action)),
		slog.String("outcome", string(e.Outcome)), slog.String("ref", e.Ref),
	)
}

// ReadActions are the actions that read a patient's data (a view, look-up,
// worklist, calendar fetch or notice), as against changing who may see it.
func ReadActions() []Action {
	return []Action{ActionView, ActionLookup, ActionWorklist, ActionCalendar, ActionNotice, ActionReadAudit}
}

// AuditPage is one page of a patient's audit log, newest first. Next is the
// cursor of the following page, empty on the last.
type AuditPage struct {
	Events []Event
	Next   string
}

// Store keeps delegations, blocks and the audit log durably. Each change
// writes its audit event in the same transaction, so a change is never
// without its row. Times are kept to the microsecond.
type Store interface {
	// Audit writes ev durably; it returns only once the row is committed.
	Audit(ctx context.Context, ev Event) error
	// AuditBatch writes every event in one transaction: all are committed
	// when it returns nil, none when it fails. See GroupCommit.
	AuditBatch(ctx context.Context, evs []Event) error
	// LookedUp lists the patients actor looked up or viewed (allowed, not
	// through the worklist) at or after since, most recent first, at most
	// limit: a clinician's own recent patients.
	LookedUp(ctx context.Context, actor string, since time.Time, limit int) ([]string, error)
	// AuditLog pages through a patient's events newest first; cursor is ""
	// or a previous page's Next, limit at least 1.
	AuditLog(ctx context.Context, patient, cursor string, limit int) (AuditPage, error)
	// AuditLogWithoutReadsBy is AuditLog without the reads (ReadActions) whose
	// actor has the handle reader: a patient's log without their own
	// looking, which a calendar app alone adds many times a day.
	AuditLogWithoutReadsBy(ctx context.Context, patient, reader, cursor string, limit int) (AuditPage, error)

	// CreateDelegation stores d, whose ID the caller chose; ErrAlreadyGranted
	// when the patient has a delegation to d.Grantee that is neither
	// revoked nor ended at d.Created. The check and the write are one
	// transaction, so a form sent twice at once makes one delegation.
	CreateDelegation(ctx context.Context, d Delegation, ev Event) error
	// SetGranteeName stores name as the name of the person with the handle
	// grantee on every delegation given to them.
	SetGranteeName(ctx context.Context, grantee, name string) error
	// RevokeDelegation revokes the patient's delegation id at time at;
	// ErrNotFound when the patient has no unrevoked delegation with that id.
	RevokeDelegation(ctx context.Context, patient, id string, at time.Time, ev Event) error
	// Delegations lists the delegations a patient gave (patient set), a
	// grantee received (grantee set) or between the two (both set), valid
	// or not, newest first.
	Delegations(ctx context.Context, patient, grantee string) ([]Delegation, error)

	// SetBlock records that a patient blocks clinician look-ups (or lifts it) at time at.
	SetBlock(ctx context.Context, patient string, blocked bool, at time.Time, ev Event) error
	// Block returns the patient's block; the zero Block when never set.
	Block(ctx context.Context, patient string) (Block, error)

	FeedStore // calendar feeds (feeds.go)
	MarkStore // conflicts marked handled (handled.go)
}
