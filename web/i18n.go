package web

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"
)

// catalog is every user-facing string in one language, each in a file of
// its own (catalog_da.go, catalog_en.go): a third language is a third file,
// and its line in catalogs. Keys with a dynamic part (sector.*, status.*,
// action.*, ...) are built from domain values; the tests check that every
// key the code and templates use is in every catalog, with the same verbs.
// Format strings use explicit argument indexes, so a translation may
// reorder them. "lang.name" is the language's own name, for the switch.
type catalog struct {
	lang string
	tag  language.Tag
	msgs map[string]string
}

// catalogs are the languages we speak. The first is the default and what
// the matcher falls back to.
var catalogs = []catalog{danish, english}

// The languages the code names itself.
const (
	langDA = "da"
	langEN = "en"
)

// newCatalog returns the messages of each language by its code.
func newCatalog() map[string]map[string]string {
	out := make(map[string]map[string]string, len(catalogs))
	for _, c := range catalogs {
		out[c.lang] = c.msgs
	}
	return out
}

// translator speaks one language and formats times in the display zone.
type translator struct {
	lang string
	msgs map[string]string
	loc  *time.Location
}

// T returns the message for key. A missing key shows as the key itself rather
// than failing the page; the catalog tests keep that from happening.
func (t *translator) T(key string) string {
	if m, ok := t.msgs[key]; ok {
		return m
	}
	return key
}

// F formats the message for key with args.
func (t *translator) F(key string, args ...any) string {
	return fmt.Sprintf(t.T(key), args...)
}

func (t *translator) clock(tm time.Time) string {
	return tm.In(t.loc).Format(t.T("fmt.clock"))
}

// dayHeading is the full date: "tirsdag 1. december 2026".
func (t *translator) dayHeading(tm time.Time) string {
	tm = tm.In(t.loc)
	return t.F("fmt.day",
		t.T(fmt.Sprintf("weekday.%d", int(tm.Weekday()))),
		tm.Day(),
		t.T(fmt.Sprintf("month.%d", int(tm.Month()))),
		tm.Year())
}

// shortDate is "1. dec", with the year only when it differs from ref's.
func (t *translator) shortDate(tm, ref time.Time) string {
	tm = tm.In(t.loc)
	mon := t.T(fmt.Sprintf("mon.%d", int(tm.Month())))
	if tm.Year() != ref.In(t.loc).Year() {
		return t.F("fmt.date_short_year", tm.Day(), mon, tm.Year())
	}
	return t.F("fmt.date_short", tm.Day(), mon)
}

// when says when something happened relative to now: "kl. 10.42" today,
// "30. nov kl. 10.42" on another day.
func (t *translator) when(tm, now time.Time) string {
	if sameDay(tm.In(t.loc), now.In(t.loc)) {
		return t.F("when.today", t.clock(tm))
	}
	return t.F("when.day", t.shortDate(tm, now), t.clock(tm))
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// negotiator picks the language of a request.
type negotiator struct {
	matcher language.Matcher
	langs   []string // index i is the matcher's tag i
}

func newNegotiator() negotiator {
	var n negotiator
	var tags []language.Tag
	for _, c := range catalogs {
		tags = append(tags, c.tag)
		n.langs = append(n.langs, c.lang)
	}
	n.matcher = language.NewMatcher(tags)
	return n
}

// lang chooses from ?lang=, then the lang cookie, then Accept-Language, then
// Danish. fromQuery reports an explicit choice the caller should remember.
func (n negotiator) lang(r *http.Request) (lang string, fromQuery bool) {
	if l, ok := validLang(r.URL.Query().Get("lang")); ok {
		return l, true
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := validLang(ck.Value); ok {
			return l, false
		}
	}
	if h := r.Header.Get("Accept-Language"); h != "" {
		// ParseAcceptLanguage orders by q-value and drops q=0.
		tags, _, err := language.ParseAcceptLanguage(h)
		if err == nil && len(tags) > 0 {
			if _, i, conf := n.matcher.Match(tags...); conf != language.No {
				return n.langs[i], false
			}
		}
	}
	return catalogs[0].lang, false
}

func validLang(s string) (string, bool) {
	for _, c := range catalogs {
		if c.lang == s {
			return s, true
		}
	}
	return "", false
}

// otherLangs are the languages a page offers to switch to: all but l.
func otherLangs(l string) []string {
	var out []string
	for _, c := range catalogs {
		if c.lang != l {
			out = append(out, c.lang)
		}
	}
	return out
}
