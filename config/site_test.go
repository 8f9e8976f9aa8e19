package config

import (
	"strings"
	"testing"
	"time"
)

const siteSection = `site:
  operator: Region Eksempel
  contact_email: tilgaengelighed@example-region.dk
  contact_phone: "+45 7841 0000"
  dpo_email: dpo@example-region.dk
  statement_date: 2026-03-01
  audit_retention: 1825d
`

// TestSiteSection: the operator's names and contacts for the privacy page
// and the accessibility statement are read and checked like every other
// key, and what the pages need and the file leaves out is a warning.
func TestSiteSection(t *testing.T) {
	c := mustParseConfig(t, minimalConfig+siteSection, nil)
	want := SiteConfig{Operator: "Region Eksempel", ContactEmail: "tilgaengelighed@example-region.dk", ContactPhone: "+45 7841 0000",
		DPOEmail: "dpo@example-region.dk", StatementDate: "2026-03-01", Statement: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		AuditRetention: 5 * 365 * 24 * time.Hour}
	if c.Site != want {
		t.Errorf("site = %+v, want %+v", c.Site, want)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("a complete site section warns: %q", c.Warnings)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"none", "", "site: operator, contact_email, contact_phone, dpo_email, statement_date, audit_retention not set"},
		{"some", "site:\n  operator: Region Eksempel\n  contact_email: a@example-region.dk\n", "line 7: site: contact_phone, dpo_email, statement_date, audit_retention not set"},
	} {
		t.Run("warns of "+tc.name, func(t *testing.T) {
			c := mustParseConfig(t, minimalConfig+tc.yaml, nil)
			if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], tc.want) {
				t.Errorf("warnings %q, want one starting %q", c.Warnings, tc.want)
			}
		})
	}

	for _, tc := range []struct{ key, value, want string }{
		{"contact_email", "tilgængelighed", `line 8: site.contact_email: want an e-mail address such as tilgaengelighed@example-region.dk, got "tilgængelighed"`},
		{"contact_email", "Region <a@example-region.dk>", "site.contact_email: want an e-mail address"},
		{"dpo_email", "dpo", "site.dpo_email: want an e-mail address"},
		{"contact_phone", "ring til os", `site.contact_phone: want a telephone number of digits, spaces and an optional leading +, such as +45 7841 0000, got "ring til os"`},
		{"contact_phone", "1234", "site.contact_phone: want a telephone number"},
		{"contact_phone", "7841+0000", "site.contact_phone: want a telephone number"},
		{"statement_date", "1. marts 2026", `site.statement_date: want a date as YYYY-MM-DD, got "1. marts 2026"`},
		{"statement_date", "2026-02-30", "site.statement_date: want a date as YYYY-MM-DD"},
		{"audit_retention", "-1d", "site.audit_retention: want a positive number of whole days"},
		{"audit_retention", "36h", "site.audit_retention: want a positive number of whole days"},
		{"audit_retention", "five years", `site.audit_retention: invalid duration "five years"`},
		{"operator_name", "Region Eksempel", "site.operator_name: unknown key (site takes audit_retention, contact_email, contact_phone, dpo_email, operator, statement_date)"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			yml := minimalConfig + "site:\n  " + tc.key + ": " + quote(tc.value) + "\n"
			assertErrContains(t, parseConfigErr(t, yml, nil), tc.want)
		})
	}
}

func quote(s string) string { return `"` + s + `"` }
