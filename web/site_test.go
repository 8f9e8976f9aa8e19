package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

var testSite = Site{Operator: "Region Eksempel", ContactEmail: "tilgaengelighed@example-region.dk", ContactPhone: "+45 7841 0000",
	DPOEmail: "dpo@example-region.dk", StatementDate: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), AuditRetention: 5 * 365 * 24 * time.Hour}

func bodyOf(t *testing.T, env *testEnv, target string) string {
	t.Helper()
	rec := env.do(t, http.MethodGet, target, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", target, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func wantAll(t *testing.T, page, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", page, w)
		}
	}
}

// TestAccessibilityStatement: the statement follows Digitaliseringsstyrelsen's
// order (status, what is not accessible, how it was made, feedback with a
// written and a telephone contact, the enforcement body) with the
// operator's names from the configuration, in both languages, where the
// Danish name is marked Danish on the English page.
func TestAccessibilityStatement(t *testing.T) {
	env := newTestEnv(t, Config{Site: testSite}, nil)
	da := bodyOf(t, env, "/accessibility?lang=da")
	wantAll(t, "the Danish statement", da,
		"<h1>Tilgængelighedserklæring</h1>",
		"Region Eksempel skal gøre Overblik tilgængeligt efter lov om tilgængelighed af offentlige organers websteder og mobilapplikationer",
		"opfylder delvist kravene i standarden EN 301 549", "Indhold, der ikke er tilgængeligt", "Uforholdsmæssig stor byrde",
		"Erklæringen blev lavet den 1. marts 2026 af Region Eksempel", "axe-core",
		`<a href="mailto:tilgaengelighed@example-region.dk">tilgaengelighed@example-region.dk</a>`,
		`<a href="tel:&#43;4578410000">&#43;45 7841 0000</a>`,
		`href="`+enforcementURL+`"`, "Digitaliseringsstyrelsen")
	if strings.Contains(da, `lang="da">Region`) {
		t.Error("the Danish page marks the operator's name as Danish again")
	}
	order := []string{"a11y-status", "a11y-missing", "a11y-made", "a11y-feedback", "a11y-enforcement"}
	for i := 1; i < len(order); i++ {
		if strings.Index(da, `id="`+order[i-1]+`"`) > strings.Index(da, `id="`+order[i]+`"`) {
			t.Errorf("section %s comes after %s", order[i-1], order[i])
		}
	}
	en := bodyOf(t, env, "/accessibility?lang=en")
	wantAll(t, "the English statement", en, "<h1>Accessibility statement</h1>",
		`<span lang="da">Region Eksempel</span> must make Overblik accessible`, "The statement was made on 1 March 2026 by")

	// /was is the short address Danish public sites give their statement.
	if rec := env.do(t, http.MethodGet, "/was", ""); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/accessibility" {
		t.Errorf("GET /was: %d to %q, want 302 to /accessibility", rec.Code, rec.Header().Get("Location"))
	}
}

// TestPrivacyPage: who processes what, why, for how long, and where to
// see who looked, with the operator's names from the configuration.
func TestPrivacyPage(t *testing.T) {
	env := newTestEnv(t, Config{Site: testSite}, nil)
	da := bodyOf(t, env, "/privacy")
	wantAll(t, "the Danish privacy page", da,
		"Region Eksempel er dataansvarlig", `<a href="mailto:dpo@example-region.dk">dpo@example-region.dk</a>`,
		"artikel 6, stk. 1, litra e", "artikel 9, stk. 2, litra h",
		"Loggen over hvem der har set dit overblik, gemmes i 5 år.", `<a href="/account/log">`, "Datatilsynet")
	en := bodyOf(t, env, "/privacy?lang=en")
	wantAll(t, "the English privacy page", en, `<span lang="da">Region Eksempel</span> is the data controller`,
		"Article 6(1)(e)", "Article 9(2)(h)", "is kept for 5 years.")
}

// TestSitePagesWithoutSite: a server whose operator left `site` out still
// has both pages; they say what is not given rather than leave holes.
func TestSitePagesWithoutSite(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	wantAll(t, "the statement", bodyOf(t, env, "/accessibility"), "Myndigheden bag Overblik skal gøre Overblik tilgængeligt",
		"Der er ikke oplyst, hvornår den sidst blev gennemgået", "Myndigheden bag Overblik har endnu ikke oplyst, hvordan du kontakter dem.")
	privacy := bodyOf(t, env, "/privacy")
	wantAll(t, "the privacy page", privacy, "Myndigheden bag Overblik har ikke oplyst, hvor længe loggen")
	if strings.Contains(privacy, "mailto:") || strings.Contains(privacy, "tel:") {
		t.Error("the privacy page links a contact nobody gave")
	}
}

// TestEveryFooterLinksTheSitePages: the statement and the privacy page are
// a link away from every page, error pages too, and anyone reaches them,
// signed in or not.
func TestEveryFooterLinksTheSitePages(t *testing.T) {
	env := newTestEnv(t, Config{Site: testSite}, nil)
	for _, target := range []string{"/", "/p/" + testHandle, "/accessibility", "/privacy", "/p/no-such-handle"} {
		rec := env.do(t, http.MethodGet, target, "")
		footer := rec.Body.String()
		if i := strings.Index(footer, "<footer"); i >= 0 {
			footer = footer[i:]
		} else {
			t.Errorf("GET %s: no footer", target)
			continue
		}
		wantAll(t, target+"'s footer", footer, `<a href="/accessibility">Tilgængelighedserklæring</a>`,
			`<a href="/privacy">Sådan behandler vi dine oplysninger</a>`, "Overblik drives af Region Eksempel.")
	}

	sec := newSecEnv(t)
	for _, target := range []string{"/accessibility", "/privacy"} {
		for _, user := range []string{"", "patientA", "clinician"} {
			if rec := sec.do(t, user, http.MethodGet, target, ""); rec.Code != http.StatusOK {
				t.Errorf("GET %s as %q: %d, want 200", target, user, rec.Code)
			}
		}
	}
}

func TestSpan(t *testing.T) {
	env := newTestEnv(t, Config{}, nil)
	day := 24 * time.Hour
	for _, tc := range []struct {
		d      time.Duration
		da, en string
	}{
		{1825 * day, "5 år", "5 years"},
		{365 * day, "1 år", "1 year"},
		{540 * day, "18 måneder", "18 months"},
		{30 * day, "1 måned", "1 month"},
		{45 * day, "45 dage", "45 days"},
		{day, "1 dag", "1 day"},
	} {
		if got := env.srv.tr[langDA].span(tc.d); got != tc.da {
			t.Errorf("span(%v) in Danish = %q, want %q", tc.d, got, tc.da)
		}
		if got := env.srv.tr[langEN].span(tc.d); got != tc.en {
			t.Errorf("span(%v) in English = %q, want %q", tc.d, got, tc.en)
		}
	}
}
