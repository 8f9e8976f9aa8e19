package access_test

import (
	"context"
	"testing"

	"github.com/overblik/overblik/access"
)

// A clinician marks conflicts handled for a patient they may see on a
// worklist; the patient reads each mark in their log.
func TestMarkHandled(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	nurse := access.Principal{Subject: "sub-nurse", Roles: []access.Role{access.RoleClinician}, Name: "Klara", Organization: "Hjemmeplejen Midtbyen"}

	tests := []struct {
		name string
		p    access.Principal
		ids  []string
		want error
	}{
		{"a patient may not", anna, []string{"0a1b"}, access.ErrNotVisible},
		{"an admin may not", admin, []string{"0a1b"}, access.ErrNotVisible},
		{"no conflict", nurse, nil, access.ErrInvalid},
		{"not a conflict id", nurse, []string{"'; DROP TABLE"}, access.ErrInvalid},
		{"a clinician may", nurse, []string{"0a1b", "0a1b", "2c3d"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "MarkHandled", s.MarkHandled(ctx, tt.p, bo.Handle, tt.ids), tt.want)
		})
	}
	ms, err := s.Handled(ctx, clinician, []string{bo.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("marks %+v, want 0a1b and 2c3d once each", ms)
	}
	for _, m := range ms {
		if m.ActorName != "Klara, Hjemmeplejen Midtbyen" || m.Actor != nurse.Subject || !m.At.Equal(c.now()) {
			t.Errorf("mark %+v", m)
		}
	}
	if _, err := s.Handled(ctx, anna, []string{bo.Handle}); err == nil {
		t.Error("a patient read the marks of another")
	}
	var refs []string
	for _, ev := range auditLog(t, s, bo) {
		if ev.Action == access.ActionConflictHandled {
			refs = append(refs, ev.Ref)
		}
	}
	if len(refs) != 2 {
		t.Errorf("bo's log has marks %v, want two", refs)
	}

	// A patient who blocks clinicians is no one's to mark.
	if err := s.SetBlock(ctx, anna, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "mark a blocking patient's conflict", s.MarkHandled(ctx, nurse, anna.Handle, []string{"0a1b"}), access.ErrNotVisible)
}
