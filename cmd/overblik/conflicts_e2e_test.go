package main

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type apiConflict struct {
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity string   `json:"severity"`
	Day      string   `json:"day"`
	Entries  []string `json:"entries"`
	Message  string   `json:"message"`
}

// goldenConflict is one conflict of a demo patient in both languages.
type goldenConflict struct {
	Rule      string   `json:"rule"`
	Severity  string   `json:"severity"`
	Day       string   `json:"day"`
	Entries   []string `json:"entries"`
	MessageDA string   `json:"message_da"`
	MessageEN string   `json:"message_en"`
}

// staffVoice is what a clinician reads for what the patient reads: the
// same facts, about the patient rather than to them.
var staffVoice = strings.NewReplacer(
	"men du er indlagt", "men patienten er indlagt", "men du var indlagt", "men patienten var indlagt",
	"Du har en tid hos", "Patienten har en tid hos", "Du havde en tid hos", "Patienten havde en tid hos",
	"Du skal møde op", "Patienten skal møde op", "; spørg, om", "; se, om",
	"Du udskrives", "Patienten udskrives", "Du blev udskrevet", "Patienten blev udskrevet")

// TestDemoConflicts reads every demo patient's conflicts over HTTP, compares
// them with testdata/conflicts.json, checks that the demo holds every rule
// and a patient without any, and that the pages show them.
func TestDemoConflicts(t *testing.T) {
	env := startDemoEnv(t)
	var patients []struct{ Handle, Name string }
	env.get(t, "/api/v1/patients", &patients)

	all := map[string][]goldenConflict{}
	rules := map[string]int{}
	clean := 0
	for i, p := range patients {
		key := "patient-" + string(rune('a'+i))
		var da, en struct{ Conflicts []apiConflict }
		env.get(t, "/api/v1/patients/"+p.Handle+"/conflicts?lang=da", &da)
		env.get(t, "/api/v1/patients/"+p.Handle+"/conflicts?lang=en", &en)
		if len(da.Conflicts) != len(en.Conflicts) {
			t.Fatalf("%s: %d Danish and %d English conflicts", key, len(da.Conflicts), len(en.Conflicts))
		}
		var tl struct{ Conflicts []apiConflict }
		env.get(t, "/api/v1/patients/"+p.Handle+"/timeline", &tl)
		if len(tl.Conflicts) != len(da.Conflicts) {
			t.Errorf("%s: the timeline has %d conflicts, the conflicts API %d", key, len(tl.Conflicts), len(da.Conflicts))
		}
		if len(da.Conflicts) == 0 {
			clean++
		}
		list := []goldenConflict{}
		patientPage := html.UnescapeString(env.get(t, "/p/"+p.Handle, nil))
		clinicianPage := html.UnescapeString(env.get(t, "/clinician/p/"+p.Handle, nil))
		for j, c := range da.Conflicts {
			rules[c.Rule]++
			list = append(list, goldenConflict{Rule: c.Rule, Severity: c.Severity, Day: c.Day, Entries: c.Entries,
				MessageDA: c.Message, MessageEN: en.Conflicts[j].Message})
			if staff := staffVoice.Replace(c.Message); !strings.Contains(clinicianPage, staff) {
				t.Errorf("%s: the clinician page lacks %q", key, staff)
			}
			mine := c.Rule == "overlap" || c.Rule == "travel" || c.Rule == "booked-twice"
			if got := strings.Contains(patientPage, c.Message); got != mine {
				t.Errorf("%s: the patient page shows the %s conflict = %v, want %v", key, c.Rule, got, mine)
			}
		}
		if strings.Contains(clinicianPage, "men du ") || strings.Contains(clinicianPage, "Hvem du kan kontakte") {
			t.Errorf("%s: the clinician page speaks to the patient", key)
		}
		// Patient b is in hospital now, with home care still booked: her
		// page says so on each of those visits, plainly.
		if note := "Du er indlagt. Hjemmeplejen Midtbyen ved det måske ikke. Ring til Hjemmeplejen Midtbyen på 0000 2001."; key == "patient-b" &&
			strings.Count(patientPage, note) < 3 {
			t.Errorf("%s: the patient page has the note %q %d times, want one on each visit during the stay", key, note, strings.Count(patientPage, note))
		}
		all[key] = list
	}
	for _, r := range []string{"during-admission", "overlap", "travel", "heavy-day", "booked-twice", "nothing-after-discharge"} {
		if rules[r] == 0 {
			t.Errorf("no demo patient has a %s conflict", r)
		}
	}
	if clean == 0 {
		t.Error("every demo patient has conflicts; the demo needs one without")
	}

	// The worklist covers the whole window: every conflict of every patient.
	work := html.UnescapeString(env.get(t, "/clinician/conflicts?from=2026-08-01&to=2027-06-01", nil))
	for key, list := range all {
		for _, c := range list {
			if staff := staffVoice.Replace(c.MessageDA); !strings.Contains(work, staff) {
				t.Errorf("%s: the worklist lacks %q", key, staff)
			}
		}
	}

	got, _ := json.MarshalIndent(all, "", "  ")
	got = append(got, '\n')
	path := filepath.Join("testdata", "conflicts.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("conflicts differ from %s (go test ./cmd/overblik -run DemoConflicts -update, then review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

// TestDemoConflictsEveryDay checks that the demo, which is generated relative
// to today, holds every rule and a patient without conflicts whatever today
// is: around both DST changes, a year end, a leap day.
func TestDemoConflictsEveryDay(t *testing.T) {
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	days := []time.Time{
		time.Date(2026, 3, 20, 9, 0, 0, 0, cph),
		time.Date(2026, 10, 24, 23, 30, 0, 0, cph),
		time.Date(2026, 12, 31, 12, 0, 0, 0, cph),
		time.Date(2027, 6, 5, 7, 0, 0, 0, cph), // a Saturday
		time.Date(2028, 2, 29, 12, 0, 0, 0, cph),
	}
	for _, day := range days {
		t.Run(day.Format(time.DateOnly), func(t *testing.T) {
			env := startDemoEnvAt(t, day)
			var patients []struct{ Handle, Name string }
			env.get(t, "/api/v1/patients", &patients)
			rules := map[string]int{}
			clean := 0
			for _, p := range patients {
				var got struct{ Conflicts []apiConflict }
				env.get(t, "/api/v1/patients/"+p.Handle+"/conflicts", &got)
				for _, c := range got.Conflicts {
					rules[c.Rule]++
				}
				if len(got.Conflicts) == 0 {
					clean++
				}
			}
			for _, r := range []string{"during-admission", "overlap", "travel", "heavy-day", "booked-twice", "nothing-after-discharge"} {
				if rules[r] == 0 {
					t.Errorf("no %s conflict", r)
				}
			}
			if clean != 1 {
				t.Errorf("%d patients without conflicts, want 1", clean)
			}
		})
	}
}
