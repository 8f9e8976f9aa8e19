package config

import (
	"net/mail"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// The `site` section: who runs this overblik, for the two pages a Danish
// public site must have, the privacy page (who processes what, why, for
// how long) and the accessibility statement (tilgængelighedserklæring, with
// a written and a telephone contact). The operator fills it in; what is
// left out is warned about, and the pages say less.

// SiteConfig is `site`.
type SiteConfig struct {
	Operator     string // `operator`: the authority that runs overblik and is the data controller, e.g. "Region Midtjylland"
	ContactEmail string // `contact_email`: where people write about the site, its accessibility and their data
	ContactPhone string // `contact_phone`: where they call; the statement needs both
	DPOEmail     string // `dpo_email`: the data protection officer (databeskyttelsesrådgiver)
	// StatementDate is `statement_date` (YYYY-MM-DD): when the
	// accessibility statement was made or last reviewed (at least yearly).
	StatementDate string
	Statement     time.Time // StatementDate as Validate read it; zero without one
	// AuditRetention is `audit_retention`: how long the operator keeps the
	// log of who looked at a timeline, as the privacy page tells patients.
	// overblik deletes no audit rows itself: the operator's retention of
	// the access database does.
	AuditRetention time.Duration
}

// siteKeys are the keys the pages need, in the order the warning names them.
var siteKeys = []string{"operator", "contact_email", "contact_phone", "dpo_email", "statement_date", "audit_retention"}

func (d *decoder) site(n *yaml.Node, path string, s *SiteConfig) {
	d.mapping(n, path, map[string]field{
		"operator":        d.str(&s.Operator),
		"contact_email":   d.str(&s.ContactEmail),
		"contact_phone":   d.str(&s.ContactPhone),
		"dpo_email":       d.str(&s.DPOEmail),
		"statement_date":  d.str(&s.StatementDate),
		"audit_retention": d.duration(&s.AuditRetention),
	})
}

// warnSite says which of the keys the privacy page and the accessibility
// statement need the file leaves out: the server runs, the pages say less.
func (d *decoder) warnSite(s *SiteConfig) {
	set := map[string]bool{
		"operator": s.Operator != "", "contact_email": s.ContactEmail != "", "contact_phone": s.ContactPhone != "",
		"dpo_email": s.DPOEmail != "", "statement_date": s.StatementDate != "", "audit_retention": s.AuditRetention != 0,
	}
	var missing []string
	for _, k := range siteKeys {
		if !set[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		d.warn(d.line("site"), "site", "%s not set: the privacy page and the accessibility statement (which a Danish public body's site must have) leave them out", strings.Join(missing, ", "))
	}
}

// validateSite checks what `site` gives; every key may be left out.
func (c *Config) validateSite(add func(key, format string, args ...any)) {
	s := &c.Site
	s.Statement = time.Time{}
	for _, e := range []struct{ key, value string }{{"site.contact_email", s.ContactEmail}, {"site.dpo_email", s.DPOEmail}} {
		if e.value == "" {
			continue
		}
		// A bare address: the pages make a mailto: link of it.
		if a, err := mail.ParseAddress(e.value); err != nil || a.Address != e.value {
			add(e.key, "want an e-mail address such as tilgaengelighed@example-region.dk, got %q", e.value)
		}
	}
	if s.ContactPhone != "" && !phoneNumber(s.ContactPhone) {
		add("site.contact_phone", "want a telephone number of digits, spaces and an optional leading +, such as +45 7841 0000, got %q", s.ContactPhone)
	}
	if s.StatementDate != "" {
		t, err := time.Parse(time.DateOnly, s.StatementDate)
		if err != nil {
			add("site.statement_date", "want a date as YYYY-MM-DD, got %q", s.StatementDate)
		} else {
			s.Statement = t
		}
	}
	if s.AuditRetention < 0 || (s.AuditRetention > 0 && s.AuditRetention%(24*time.Hour) != 0) {
		add("site.audit_retention", "want a positive number of whole days, such as 1825d (five years), got %v", s.AuditRetention)
	}
}

// phoneNumber: digits and spaces (at least eight digits, a Danish number),
// with an optional leading +; the pages make a tel: link of it.
func phoneNumber(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ':
		case r == '+' && i == 0:
		default:
			return false
		}
	}
	return digits >= 8
}
