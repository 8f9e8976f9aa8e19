package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/overblik/overblik/access"
)

// Conflicts marked handled (access/handled.go), in the table
// conflict_handled of migration 0004.

// MarkHandled implements access.MarkStore.
func (s *Store) MarkHandled(ctx context.Context, marks []access.ConflictMark, evs []access.Event) error {
	for _, m := range marks {
		if m.Patient == "" || m.Conflict == "" || m.Actor == "" {
			return fmt.Errorf("mark handled: patient, conflict and actor are required: %w", access.ErrInvalid)
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, m := range marks {
			// The first mark stands: whoever handled it first did.
			if _, err := tx.ExecContext(ctx, s.d.Bind(`INSERT INTO conflict_handled
				(patient, conflict, actor, actor_name, at_us) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (patient, conflict) DO NOTHING`),
				m.Patient, m.Conflict, m.Actor, m.ActorName, m.At.UnixMicro()); err != nil {
				return fmt.Errorf("mark handled: %w", err)
			}
		}
		for _, ev := range evs {
			if err := s.insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// maxHandledPatients bounds the patients of one Handled statement, far
// below both backends' parameter limits; more are read in several.
const maxHandledPatients = 500

// Handled implements access.MarkStore.
func (s *Store) Handled(ctx context.Context, patients []string) ([]access.ConflictMark, error) {
	var out []access.ConflictMark
	patients = slices.Compact(slices.Sorted(slices.Values(patients)))
	for len(patients) > 0 {
		n := min(len(patients), maxHandledPatients)
		part := patients[:n]
		patients = patients[n:]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p
		}
		q := `SELECT patient, conflict, actor, actor_name, at_us FROM conflict_handled WHERE patient IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + `)`
		rows, err := s.db.QueryContext(ctx, s.d.Bind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("handled conflicts: %w", err)
		}
		for rows.Next() {
			var m access.ConflictMark
			var at int64
			if err := rows.Scan(&m.Patient, &m.Conflict, &m.Actor, &m.ActorName, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("handled conflicts: %w", err)
			}
			m.At = fromMicro(at)
			out = append(out, m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("handled conflicts: %w", err)
		}
	}
	return out, nil
}
