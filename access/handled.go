package access

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// A clinician marks a coordination conflict on the worklist as handled
// (they called the home care), so colleagues see who did and when, and do
// not call twice. The mark is kept by the patient's handle and the
// conflict's stable id (aggregator.Conflict.ID): a conflict that changes
// gets a new id and shows again. Each mark is in the patient's log.

// ActionConflictHandled is a clinician marking one of the patient's
// conflicts handled; its audit row's Ref is the conflict's id.
const ActionConflictHandled Action = "conflict-handled"

// ConflictMark is one conflict marked handled.
type ConflictMark struct {
	Patient   string // handle
	Conflict  string // the conflict's stable id
	Actor     string // Principal.Subject of who marked it
	ActorName string // as colleagues and the patient read it (name, workplace); personal data: never log
	At        time.Time
}

// LogValue keeps the name out of structured logs.
func (m ConflictMark) LogValue() slog.Value {
	return slog.GroupValue(slog.String("patient", m.Patient), slog.String("conflict", m.Conflict), slog.String("actor", m.Actor))
}

// MarkStore keeps conflicts marked handled; every Store has it.
type MarkStore interface {
	// MarkHandled stores each mark (one already there for its patient and
	// conflict is kept as it was: the first to handle it is who did) and
	// writes the events, all in one transaction.
	MarkHandled(ctx context.Context, marks []ConflictMark, evs []Event) error
	// Handled lists the marks on the conflicts of the patients given, in
	// no particular order.
	Handled(ctx context.Context, patients []string) ([]ConflictMark, error)
}

// MaxMarks bounds the conflicts one request marks handled.
const MaxMarks = 100

// MarkHandled records that clinician p handled the patient's conflicts
// (their ids), each audited in the patient's log. A clinician may mark the
// conflicts of any patient they may see on a worklist: not one who blocks
// clinicians (ErrNotVisible, as for an unknown patient).
func (s *Service) MarkHandled(ctx context.Context, p Principal, patient string, conflicts []string) error {
	if len(conflicts) == 0 || len(conflicts) > MaxMarks {
		return fmt.Errorf("mark handled: %d conflicts, want 1 to %d: %w", len(conflicts), MaxMarks, ErrInvalid)
	}
	for _, id := range conflicts {
		if !validConflictID(id) {
			return fmt.Errorf("mark handled: not a conflict id: %w", ErrInvalid)
		}
	}
	rel, err := s.relation(ctx, p, patient, nil)
	if err != nil {
		return err
	}
	now := s.now()
	d, err := Decide(p, rel, ActionConflictHandled, now, "")
	if err != nil {
		return err
	}
	marks := make([]ConflictMark, 0, len(conflicts))
	evs := make([]Event, 0, len(conflicts))
	seen := map[string]bool{}
	for _, id := range conflicts {
		if seen[id] {
			continue
		}
		seen[id] = true
		marks = append(marks, ConflictMark{Patient: patient, Conflict: id, Actor: p.Subject, ActorName: actorName(p), At: now})
		ev := NewEvent(p, d, patient, ActionConflictHandled, "", now)
		ev.Ref = id
		evs = append(evs, ev)
	}
	if err := s.store.MarkHandled(ctx, marks, evs); err != nil {
		return fmt.Errorf("mark handled: %w", err)
	}
	return nil
}

// Handled lists the marks on the given patients' conflicts, for clinician
// p's worklist or patient page (which the view has already let p see).
func (s *Service) Handled(ctx context.Context, p Principal, patients []string) ([]ConflictMark, error) {
	if !p.Has(RoleClinician) {
		return nil, fmt.Errorf("handled conflicts: not a clinician: %w", ErrNotVisible)
	}
	if len(patients) == 0 {
		return nil, nil
	}
	ms, err := s.store.Handled(ctx, patients)
	if err != nil {
		return nil, fmt.Errorf("handled conflicts: %w", err)
	}
	return ms, nil
}

// validConflictID accepts what aggregator.ConflictID makes (hex), with
// room for a longer hash.
func validConflictID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
