package web

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// TestCatalogParity holds every catalog to the first: the same keys, no
// empty message, the same verbs with the same argument indexes.
func TestCatalogParity(t *testing.T) {
	if len(catalogs) < 2 {
		t.Fatalf("%d languages, want at least Danish and English", len(catalogs))
	}
	// A verb with its argument index; flags and width (%02[1]d) may differ.
	verbs := regexp.MustCompile(`%[-+# 0]*\d*(\[\d+\])?[a-z]`)
	first := catalogs[0]
	for _, c := range catalogs[1:] {
		for _, pair := range []struct {
			name     string
			from, to map[string]string
		}{{c.lang, first.msgs, c.msgs}, {first.lang, c.msgs, first.msgs}} {
			for k := range pair.from {
				if _, ok := pair.to[k]; !ok {
					t.Errorf("key %q missing in %s", k, pair.name)
				}
			}
		}
		for k, a := range first.msgs {
			b, ok := c.msgs[k]
			if !ok {
				continue
			}
			if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
				t.Errorf("key %q has an empty message", k)
			}
			if va, vb := sortedVerbs(verbs, a), sortedVerbs(verbs, b); strings.Join(va, ",") != strings.Join(vb, ",") {
				t.Errorf("key %q: verbs %s %v, %s %v", k, first.lang, va, c.lang, vb)
			}
		}
	}
}

// sortedVerbs lists the verbs of s with their argument indexes, without
// flags and widths, sorted.
func sortedVerbs(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[0][len(m[0])-1:])
	}
	sort.Strings(out)
	return out
}

// TestCatalogHasEveryUsedKey checks the keys named in templates, the string
// literal keys in the Go code, and the keys built from domain values.
func TestCatalogHasEveryUsedKey(t *testing.T) {
	cat := newCatalog()
	used := map[string]string{} // key -> where

	tmplKey := regexp.MustCompile(`\{\{-?\s*t\s+"([^"]+)"`)
	err := fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 10 {
		t.Fatalf("found only %d keys in templates; is the pattern right?", len(used))
	}

	prefixes := map[string]bool{}
	for k := range cat[langDA] {
		prefix, _, _ := strings.Cut(k, ".")
		prefixes[prefix] = true
	}
	goLit := regexp.MustCompile(`"([a-z]+)\.([a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*)"`)
	goFiles, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") || f == "i18n.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goLit.FindAllStringSubmatch(string(b), -1) {
			if prefixes[m[1]] {
				used[m[1]+"."+m[2]] = f
			}
		}
	}

	for _, s := range []aggregator.Sector{aggregator.SectorHospital, aggregator.SectorMunicipality, aggregator.SectorGP, aggregator.SectorOther} {
		for _, p := range []string{"sector.", "from.", "banner.appointments."} {
			used[p+sectorKey(s)] = "sector " + string(s)
		}
	}
	for _, k := range []aggregator.Kind{aggregator.KindAppointment, aggregator.KindEncounter, aggregator.KindAdmission, "bogus"} {
		used["kind."+kindKey(k)] = "kind " + string(k)
	}
	for _, s := range []aggregator.Status{aggregator.StatusTentative, aggregator.StatusBooked, aggregator.StatusInProgress,
		aggregator.StatusOnLeave, aggregator.StatusCompleted, aggregator.StatusCancelled, aggregator.StatusNoShow,
		aggregator.StatusEnteredInError, aggregator.StatusUnknown, "bogus"} {
		used["status."+statusKey(s)] = "status " + string(s)
	}
	for _, m := range []aggregator.Medium{aggregator.MediumInPerson, aggregator.MediumVideo, aggregator.MediumPhone, aggregator.MediumHomeVisit} {
		used["medium."+string(m)] = "medium " + string(m)
	}
	for _, k := range []aggregator.ErrorKind{aggregator.Unavailable, aggregator.Timeout, aggregator.Unauthorized,
		aggregator.NotFound, aggregator.Invalid, ""} {
		used["reason."+errorKindKey(k)] = "error kind " + string(k)
	}
	for d := time.Sunday; d <= time.Saturday; d++ {
		used[fmt.Sprintf("weekday.%d", int(d))] = "weekday"
	}
	for m := time.January; m <= time.December; m++ {
		used[fmt.Sprintf("month.%d", int(m))] = "month"
		used[fmt.Sprintf("mon.%d", int(m))] = "month"
	}
	for _, st := range []int{400, 404, 405, 413, 418, 500, 502, 503, 504} {
		used[problemForStatus(st).msg] = fmt.Sprintf("status %d", st)
	}
	// Every audited action, as the patient's log names it.
	for _, a := range []access.Action{access.ActionView, access.ActionLookup, access.ActionGrant, access.ActionRevoke,
		access.ActionBlock, access.ActionUnblock, access.ActionReadAudit, access.ActionWorklist, access.ActionCalendar, access.ActionNotice,
		access.ActionFeedCreate, access.ActionFeedRevoke, access.ActionConflictHandled} {
		used["action."+string(a)] = "action " + string(a)
	}

	for _, code := range reasonCodes {
		used["reasoncode."+code] = "reason code " + code
	}

	for lang, msgs := range cat {
		for k, where := range used {
			if _, ok := msgs[k]; !ok {
				t.Errorf("%s: key %q (used in %s) is not in the catalog", lang, k, where)
			}
		}
	}
}

func TestDateFormats(t *testing.T) {
	loc := cph(t)
	now := testNow(t)
	tm := time.Date(2026, 12, 1, 9, 5, 0, 0, loc)
	tests := []struct {
		lang                      string
		heading, short, clock, at string
	}{
		{"da", "tirsdag 1. december 2026", "1. dec", "09.05", "kl. 09.05"},
		{"en", "Tuesday 1 December 2026", "1 Dec", "09:05", "at 09:05"},
	}
	env := newTestEnv(t, Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			tr := env.srv.tr[tt.lang]
			// A UTC instant must be shown in the display zone.
			utc := tm.UTC()
			for _, c := range []struct{ name, got, want string }{
				{"dayHeading", tr.dayHeading(utc), tt.heading},
				{"shortDate", tr.shortDate(utc, now), tt.short},
				{"clock", tr.clock(utc), tt.clock},
				{"when", tr.when(utc, now), tt.at},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
		})
	}
}
