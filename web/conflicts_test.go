package web

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/view"
)

func conflict(rule aggregator.Rule, sev aggregator.Severity, day string, entries ...string) aggregator.Conflict {
	return aggregator.Conflict{ID: aggregator.ConflictID(rule, entries), Rule: rule, Severity: sev, Day: day, Entries: entries}
}

// What the sentences of conflictTimeline's two conflicts say, in part: the
// home visit during the admission at Rigshospitalet, and the overlap.
const (
	daAdmitted = "men du er indlagt på Rigshospitalet"
	enAdmitted = "but you are admitted to Rigshospitalet"
	daOverlap  = "ligger oven i hinanden"
	enOverlap  = "overlap on"
	// A clinician reads the same conflict in the third person; the
	// patient reads a plain note on the visit.
	enStaffAdmitted = "but the patient is admitted to Rigshospitalet"
	daPlainNote     = "Du er indlagt. kommune ved det måske ikke. Kontakt kommune."
)

// conflictTimeline is testTimeline with a conflict the patient sees
// (overlap) and one only clinicians see (during-admission).
func conflictTimeline(t testing.TB) *aggregator.Timeline {
	t.Helper()
	tl := testTimeline(t)
	tl.Entries[1].Contact = "35 45 35 45"
	tl.Conflicts = []aggregator.Conflict{
		conflict(aggregator.RuleDuringAdmission, aggregator.SeverityHigh, "2026-12-01",
			"kommune/Appointment/hv1", "hospital/Encounter/adm1"),
		conflict(aggregator.RuleOverlap, aggregator.SeverityHigh, "2026-12-08",
			"hospital/Appointment/vid1", "kommune/Appointment/fys1"),
	}
	return tl
}

func TestConflictsAPI(t *testing.T) {
	env := newTestEnv(t, Config{}, fakeTimelines{tl: conflictTimeline(t)})
	tests := []struct {
		name     string
		path     string
		headers  []string
		wantMsgs []string
	}{
		{"Danish by default", "/api/v1/patients/" + testHandle + "/conflicts", nil,
			[]string{daAdmitted, daOverlap}},
		{"English by Accept-Language", "/api/v1/patients/" + testHandle + "/conflicts", []string{"Accept-Language: en-GB"},
			[]string{enAdmitted, enOverlap}},
		{"English by query", "/api/v1/patients/" + testHandle + "/conflicts?lang=en", nil,
			[]string{enAdmitted, enOverlap}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(t, http.MethodGet, tc.path, "", tc.headers...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			var got struct {
				Conflicts []map[string]any `json:"conflicts"`
			}
			decodeJSON(t, rec, &got)
			if len(got.Conflicts) != 2 {
				t.Fatalf("got %d conflicts, want 2: %s", len(got.Conflicts), rec.Body)
			}
			first := got.Conflicts[0]
			assertKeys(t, "conflict", first, "id", "rule", "severity", "day", "entries", "message")
			want := map[string]any{"id": aggregator.ConflictID(aggregator.RuleDuringAdmission, []string{"kommune/Appointment/hv1", "hospital/Encounter/adm1"}),
				"rule": "during-admission", "severity": "high", "day": "2026-12-01"}
			for k, v := range want {
				if first[k] != v {
					t.Errorf("conflict[%q] = %v, want %v", k, first[k], v)
				}
			}
			if got, want := first["entries"], []any{"kommune/Appointment/hv1", "hospital/Encounter/adm1"}; !slices.Equal(got.([]any), want) {
				t.Errorf("entries = %v, want %v", got, want)
			}
			for i, c := range got.Conflicts {
				if msg := c["message"].(string); !strings.Contains(msg, tc.wantMsgs[i]) {
					t.Errorf("message %d = %q, want one that says %q", i, msg, tc.wantMsgs[i])
				}
			}
		})
	}
	t.Run("unknown handle", func(t *testing.T) {
		assertAPIError(t, env.do(t, http.MethodGet, "/api/v1/patients/nobody/conflicts", ""), http.StatusNotFound, "not_found")
	})
}

func TestTimelineJSONHasConflicts(t *testing.T) {
	tests := []struct {
		name string
		tl   *aggregator.Timeline
		want []string // rules
	}{
		{"with conflicts", conflictTimeline(t), []string{"during-admission", "overlap"}},
		{"none is an empty list", testTimeline(t), []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, Config{}, fakeTimelines{tl: tc.tl})
			rec := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/timeline?lang=en", "")
			var doc struct {
				Conflicts []conflictJSON `json:"conflicts"`
			}
			decodeJSON(t, rec, &doc)
			if !strings.Contains(rec.Body.String(), `"conflicts":[`) {
				t.Errorf("conflicts is not a list: %s", rec.Body)
			}
			got := []string{}
			for _, c := range doc.Conflicts {
				got = append(got, c.Rule)
				if !strings.Contains(c.Message, "Contact ") {
					t.Errorf("message %q is not in the request's language", c.Message)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules = %q, want %q", got, tc.want)
			}
		})
	}
}

// wholeEntry returns the rendered entry whose title is title, nested lists
// included (entryHTML stops at the first </li>).
func wholeEntry(t *testing.T, body, title string) string {
	t.Helper()
	for _, li := range strings.Split(body, `<li class="entry `)[1:] {
		li, _, _ = strings.Cut(li, "</article>")
		if strings.Contains(li, "<h4") && strings.Contains(between(li, "<h4", "</h4>"), title) {
			return li
		}
	}
	t.Fatalf("no entry titled %q in page", title)
	return ""
}

// noteOf returns the conflict notes inside the entry titled title.
func noteOf(t *testing.T, body, title string) string {
	t.Helper()
	notes := regexp.MustCompile(`(?s)<div class="conflict-note[^"]*" role="note"[^>]*>.*?</p>(?:\s*<div class="contacts">.*?</div>)?\s*</div>`).FindAllString(wholeEntry(t, body, title), -1)
	return strings.Join(notes, "\n")
}

func TestPatientPageShowsTheirConflicts(t *testing.T) {
	env := newTestEnv(t, Config{}, fakeTimelines{tl: conflictTimeline(t)})
	body := env.do(t, http.MethodGet, "/p/"+testHandle, "").Body.String()
	overlapID := aggregator.ConflictID(aggregator.RuleOverlap, []string{"hospital/Appointment/vid1", "kommune/Appointment/fys1"})
	if n := strings.Count(body, daOverlap); n != 1 {
		t.Errorf("the overlap is said %d times, want once", n)
	}
	if !strings.Contains(noteOf(t, body, "Opfølgning efter operation"), `id="c`+overlapID+`"`) {
		t.Error("the note on the first entry has no id to link to")
	}
	tests := []struct {
		name, title string
		want        []string
		notWant     []string
	}{
		{"overlap next to the video call", "Opfølgning efter operation",
			[]string{"Vær opmærksom (haster):", daOverlap, "Hvem du kan kontakte:", "<li>Hospital</li>", "<li>Kommune</li>"}, nil},
		// Said once: the later entry points to the note on the first.
		{"and a link to it from the other entry", "Genoptræning",
			[]string{"Vær opmærksom", `<a href="#c` + overlapID + `" class="action">Se besked ved Opfølgning efter operation (8. dec 09.00–09.30)</a>`},
			[]string{daOverlap, "Hvem du kan kontakte:"}},
		{"a plain note, not the clinicians' during-admission", "Hjemmesygepleje", []string{"Vær opmærksom (haster):", daPlainNote}, []string{daAdmitted}},
		{"the plain note is on the visit, not the stay", "Indlæggelse til hofteoperation", nil, []string{daPlainNote, "conflict-note"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			note := noteOf(t, body, tc.title)
			for _, w := range tc.want {
				if !strings.Contains(note, w) {
					t.Errorf("note of %q lacks %q:\n%s", tc.title, w, note)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(wholeEntry(t, body, tc.title), w) {
					t.Errorf("entry %q shows %q", tc.title, w)
				}
			}
		})
	}
	if strings.Contains(body, daAdmitted) {
		t.Error("the patient's page shows a clinicians' conflict")
	}
}

func TestClinicianPage(t *testing.T) {
	env := newTestEnv(t, Config{}, fakeTimelines{tl: conflictTimeline(t)})
	rec := env.do(t, http.MethodGet, "/clinician/p/"+testHandle+"?lang=en", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	summary := between(body, `<section class="conflicts"`, `</section>`)
	id := aggregator.ConflictID(aggregator.RuleDuringAdmission, []string{"kommune/Appointment/hv1", "hospital/Encounter/adm1"})
	for _, w := range []string{
		`id="c` + id + `"`, "Visit during an admission (urgent)", enStaffAdmitted, "Contacts at the sources involved:",
		"Overlapping appointments (urgent)", enOverlap,
		`Rigshospitalet (Hospital), phone <a href="tel:35453545">35 45 35 45</a>`, // the admission's organisation, source and phone
		`<a href="#e1">Indlæggelse til hofteoperation`,
	} {
		if !strings.Contains(summary, w) {
			t.Errorf("summary lacks %q:\n%s", w, summary)
		}
	}
	if strings.Contains(body, enAdmitted) || strings.Contains(body, "Whom to contact") {
		t.Error("the clinician's page speaks to the patient")
	}
	if note := noteOf(t, body, "Hjemmesygepleje"); !strings.Contains(note, enStaffAdmitted) {
		t.Errorf("the home visit has no note of its conflict:\n%s", note)
	}
	if !strings.Contains(body, "Patient&#39;s appointments and coordination conflicts") {
		t.Error("clinician heading missing")
	}
	if !strings.Contains(body, "<details open>") {
		t.Error("earlier entries are folded away: links to them would lead nowhere")
	}
	if !strings.Contains(body, `<a href="/clinician/conflicts">`) {
		t.Error("no way from the patient to the worklist")
	}

	none := newTestEnv(t, Config{}, nil)
	if body := none.do(t, http.MethodGet, "/clinician/p/"+testHandle, "").Body.String(); !strings.Contains(body, "Vi har ikke fundet nogen koordineringsproblemer.") {
		t.Error("a timeline without conflicts does not say so")
	}
	if rec := none.do(t, http.MethodGet, "/clinician/p/nobody", ""); rec.Code != http.StatusNotFound {
		t.Errorf("unknown handle: status %d, want 404", rec.Code)
	}
}

// fakeCached holds a cached timeline per patient: view.Timelines, and the
// conflict index the worklist (view.Conflicted) and the names (view.Names)
// need.
type fakeCached struct {
	tls   []*aggregator.Timeline
	names map[string]string // the sources' names of the patients (view.Names)
	err   error
}

func (f fakeCached) Name(_ context.Context, h string) string { return f.names[h] }

// Conflicted names every patient with a conflict in the period, as an
// index would.
func (f fakeCached) Conflicted(_ context.Context, from, to, _ string, _ int) ([]string, error) {
	var hs []string
	for _, t := range f.tls {
		for _, c := range t.Conflicts {
			if c.Day >= from && c.Day <= to {
				hs = append(hs, t.Patient)
				break
			}
		}
	}
	return hs, f.err
}

func (f fakeCached) ConflictedAmong(ctx context.Context, from, to string, among []string) ([]string, error) {
	all, err := f.Conflicted(ctx, from, to, "", 0)
	var hs []string
	for _, h := range all {
		if slices.Contains(among, h) {
			hs = append(hs, h)
		}
	}
	return hs, err
}

func (f fakeCached) Cached(_ context.Context, h string) (*aggregator.Timeline, bool, error) {
	for _, t := range f.tls {
		if t.Patient == h {
			return t, true, nil
		}
	}
	return nil, false, nil
}

func (f fakeCached) Timeline(ctx context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	t, _, err := f.Cached(ctx, p.Handle)
	return t, err
}

func (f fakeCached) Changes(context.Context, string, time.Time) ([]aggregator.Change, error) {
	return nil, aggregator.ErrNoChangeLog
}

func (f fakeCached) Conflicts(t *aggregator.Timeline) []aggregator.Conflict { return t.Conflicts }

func TestWorklist(t *testing.T) {
	// Each conflict is found on the page by the link to it: #c<its id>.
	heavy := conflict(aggregator.RuleHeavyDay, aggregator.SeverityLow, "2026-12-01", "hospital/Encounter/past1")
	overlap := conflict(aggregator.RuleOverlap, aggregator.SeverityHigh, "2026-12-01", "hospital/Appointment/vid1", "kommune/Appointment/fys1")
	late := conflict(aggregator.RuleBookedTwice, aggregator.SeverityMedium, "2026-12-20", "hospital/Appointment/vid1", "kommune/Appointment/fys1")
	travel := conflict(aggregator.RuleTravel, aggregator.SeverityMedium, "2026-12-03", "hospital/Encounter/past1", "hospital/Appointment/vid1")
	early := conflict(aggregator.RuleTravel, aggregator.SeverityMedium, "2026-11-30", "hospital/Appointment/vid1", "kommune/Appointment/fys1")
	link := func(c aggregator.Conflict) string { return "#c" + c.ID + `"` }
	a := testTimeline(t)
	a.Patient = "pa"
	a.Conflicts = []aggregator.Conflict{heavy, overlap, late}
	b := testTimeline(t)
	b.Patient = "pb"
	b.Conflicts = []aggregator.Conflict{travel, early}
	cached := fakeCached{tls: []*aggregator.Timeline{b, a}, names: map[string]string{"pb": "Bo Berg"}}
	tests := []struct {
		name   string
		cached view.Timelines
		query  string
		status int
		want   []string // in this order
		absent []string
	}{
		{"period, by day then severity", cached, "?from=2026-12-01&to=2026-12-10", http.StatusOK,
			[]string{link(overlap), link(heavy), link(travel)}, []string{link(late), link(early)}},
		{"default period is today and two weeks on", cached, "", http.StatusOK,
			[]string{link(overlap), link(heavy), link(travel)}, []string{link(late), link(early)}},
		{"by the patient's name, with a link to their clinician page", cached, "?from=2026-11-30&to=2026-11-30", http.StatusOK,
			[]string{`<a href="/clinician/p/pb"><span lang="da">Bo Berg</span></a>`, "36 years", "CPR 010190-xxxx", `href="/clinician/p/pb` + link(early)},
			[]string{link(overlap), fakeCPR, `/clinician/p/pa"`}},
		{"each with its sentence", cached, "?from=2026-11-30&to=2026-11-30", http.StatusOK,
			[]string{"There are only"}, nil},
		{"nothing in the period", cached, "?from=2027-01-01&to=2027-01-31", http.StatusOK,
			[]string{"No coordination conflicts in this period."}, []string{`#c`}},
		{"no cache configured", nil, "", http.StatusOK, []string{"No coordination conflicts in this period."}, nil},
		{"bad date", cached, "?from=1.12.2026", http.StatusBadRequest, []string{"YYYY-MM-DD"}, nil},
		{"to before from", cached, "?from=2026-12-10&to=2026-12-01", http.StatusBadRequest, []string{"YYYY-MM-DD"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, Config{}, tc.cached)
			env.pats.byHandle["pb"] = aggregator.PatientRef{Handle: "pb", Identifier: aggregator.Identifier{System: testSystem, Value: fakeCPR}}
			rec := env.do(t, http.MethodGet, "/clinician/conflicts"+tc.query+sep(tc.query)+"lang=en", "")
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			body := rec.Body.String()
			last := -1
			for _, w := range tc.want {
				i := strings.Index(body, w)
				if i < 0 {
					t.Errorf("page lacks %q", w)
					continue
				}
				if i < last {
					t.Errorf("%q is out of order", w)
				}
				last = i
			}
			for _, w := range tc.absent {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q", w)
				}
			}
		})
	}
}

func TestConflictPagesKeepTheRules(t *testing.T) {
	ct := conflictTimeline(t)
	ct.Patient = testHandle
	env := newTestEnv(t, Config{}, fakeCached{tls: []*aggregator.Timeline{ct}})
	inline := regexp.MustCompile(`(?i)<script|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, p := range []string{"/p/" + testHandle, "/clinician/p/" + testHandle, "/clinician/conflicts?from=2026-12-01&to=2026-12-31"} {
		rec := env.do(t, http.MethodGet, p, "")
		if m := inline.FindString(rec.Body.String()); m != "" {
			t.Errorf("%s: %q breaks the CSP", p, m)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP = %q", p, got)
		}
		if strings.Contains(rec.Body.String(), "1111111118") {
			t.Errorf("%s shows the identifier", p)
		}
	}
}

func TestConflictKeysInCatalog(t *testing.T) {
	var keys []string
	for _, r := range []aggregator.Rule{aggregator.RuleDuringAdmission, aggregator.RuleOverlap, aggregator.RuleTravel,
		aggregator.RuleHeavyDay, aggregator.RuleBookedTwice, aggregator.RuleNothingAfterDischarge, "bogus"} {
		keys = append(keys, "rule."+ruleKey(r))
	}
	for _, sv := range []aggregator.Severity{aggregator.SeverityHigh, aggregator.SeverityMedium, aggregator.SeverityLow, "bogus"} {
		keys = append(keys, "severity."+severityKey(sv))
	}
	for lang, msgs := range newCatalog() {
		for _, k := range keys {
			if _, ok := msgs[k]; !ok {
				t.Errorf("%s: %q is not in the catalog", lang, k)
			}
		}
	}
}

// sep is what joins one more parameter to query.
func sep(query string) string {
	if query == "" {
		return "?"
	}
	return "&"
}
