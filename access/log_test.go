package access

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Names and reasons never reach a log, whatever a caller passes to slog.
func TestLogValuesHidePersonalData(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	p := Principal{Subject: "sub-1", Roles: []Role{RoleClinician}, Handle: "h-1", Name: "Secret Name"}
	d := Delegation{ID: "d1", Patient: "h-p", Grantee: "h-g", Label: "Secret Label", PatientName: "Secret Patient", Created: time.Now()}
	ev := Event{Actor: "sub-1", ActorName: "Secret Name", Patient: "h-p", Action: ActionView, Reason: "Secret reason"}
	log.Info("x", "principal", p, "delegation", d, "event", ev)
	out := buf.String()
	if strings.Contains(out, "Secret") {
		t.Errorf("log line carries personal data: %s", out)
	}
	for _, want := range []string{"sub-1", "h-p", "d1", "clinician"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q: %s", want, out)
		}
	}
}
