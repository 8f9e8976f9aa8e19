package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A clinician picks a reason from the list, writes one, or both; the
// patient reads a picked one in their own language, a written one as
// written.
func TestReasonFromTheListIsReadInTheReadersLanguage(t *testing.T) {
	e := newSecEnv(t)
	home := e.do(t, "clinician", http.MethodGet, "/", "").Body.String()
	if !strings.Contains(home, `<select id="reason_code" name="reason_code">`) || !strings.Contains(home, `<option value="discharge">Opfølgning efter udskrivelse</option>`) {
		t.Fatalf("the look-up form offers no list of reasons")
	}
	steps := []struct {
		how    string
		do     func() int
		da, en string
	}{
		{"look-up form, picked", func() int {
			return e.doFollow(t, "clinician", http.MethodPost, "/lookup", form("identifier", cprA, "reason_code", "discharge", "csrf", testCSRF), formCT).Code
		}, "Opfølgning efter udskrivelse", "Follow-up after discharge"},
		{"reason form, picked and written", func() int {
			return e.doFollow(t, "clinician", http.MethodPost, "/clinician/p/"+e.a, form("reason_code", "home-care", "reason", "ring til datteren", "csrf", testCSRF), formCT).Code
		}, "Planlægning af hjemmepleje eller hjemmesygepleje: ring til datteren", "Planning home care or home nursing: ring til datteren"},
		{"reason form, written", func() int {
			return e.doFollow(t, "clinician", http.MethodPost, "/clinician/p/"+e.a, form("reason_code", "made-up", "reason", "stuegang", "csrf", testCSRF), formCT).Code
		}, "stuegang", "stuegang"},
	}
	for _, st := range steps {
		e.advance(time.Minute)
		if code := st.do(); code != http.StatusOK {
			t.Fatalf("%s: %d, want 200 after the redirect", st.how, code)
		}
		for lang, want := range map[string]string{"da": st.da, "en": st.en} {
			rows := logRows(e.do(t, "patientA", http.MethodGet, "/account/log?lang="+lang, "").Body.String())
			if len(rows) == 0 || !strings.HasSuffix(rows[0], " "+want) {
				t.Errorf("%s, %s: newest row %q, want the reason %q", st.how, lang, rows, want)
			}
		}
	}

	// Neither picked nor written: asked again, with what was chosen kept.
	rec := e.do(t, "clinician", http.MethodPost, "/clinician/p/"+e.a, form("reason", " ", "csrf", testCSRF), formCT)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `id="reason-error"`) {
		t.Errorf("no reason: %d, want 400 with the error by the field", rec.Code)
	}
	rec = e.do(t, "clinician", http.MethodPost, "/clinician/p/"+e.a, form("reason_code", "urgent", "reason", strings.Repeat("x", 500), "csrf", testCSRF), formCT)
	if body := rec.Body.String(); rec.Code != http.StatusBadRequest || !strings.Contains(body, `<option value="urgent" selected>`) || !strings.Contains(body, strings.Repeat("x", 500)) {
		t.Errorf("a reason too long: %d, want 400 keeping the choice and the text", rec.Code)
	}
}
