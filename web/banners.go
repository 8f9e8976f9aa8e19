package web

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/overblik/overblik/aggregator"
)

// banners explains every source that failed, in words a patient acts on:
// what it means ("Vi kan ikke hente nye oplysninger fra Lægehuset Trøjborg
// lige nu."), how old what is shown from it is ("Lægens aftaler herunder er
// fra i dag kl. 20.32 og kan være ændret."), and whom to call, when the
// source's phone is configured ("Ring 0000 3000, hvis du er i tvivl."). The
// technical reason is on the admin page, not here.
func (s *Server) banners(tr *translator, sources []aggregator.SourceStatus, now time.Time) []string {
	var out []string
	for _, st := range sources {
		if st.OK {
			continue
		}
		sector := sectorKey(st.Sector)
		from := st.Display
		if from == "" {
			from = tr.T("from." + sector)
		}
		var b []string
		switch {
		case st.ErrorKind == aggregator.NotFound:
			b = append(b, sentence(tr.F("banner.not_found", from)))
		case st.LastSuccess.IsZero():
			b = append(b, tr.F("banner.down_never", from))
		default:
			b = append(b, tr.F("banner.down", from))
		}
		appointments := tr.T("banner.appointments." + sector)
		switch {
		case st.LastSuccess.IsZero():
			b = append(b, tr.F("banner.missing", appointments))
		case st.Entries == 0: // the view counts only what this viewer sees
			b = append(b, tr.F("banner.none_since", s.bannerTime(tr, st.LastSuccess, now)))
		default:
			b = append(b, tr.F("banner.since", appointments, s.bannerTime(tr, st.LastSuccess, now)))
		}
		if st.Phone != "" {
			b = append(b, tr.F("banner.call", st.Phone))
		}
		out = append(out, strings.Join(b, " "))
	}
	return out
}

// bannerTime is when data was last good: "i dag kl. 20.32", "i går kl.
// 20.32", or "den 30. nov kl. 20.32".
func (s *Server) bannerTime(tr *translator, tm, now time.Time) string {
	tm, now = tm.In(s.loc), now.In(s.loc)
	switch {
	case sameDay(tm, now):
		return tr.F("banner.at_today", tr.clock(tm))
	case sameDay(tm, now.AddDate(0, 0, -1)):
		return tr.F("banner.at_yesterday", tr.clock(tm))
	}
	return tr.F("banner.at_day", tr.shortDate(tm, now), tr.clock(tm))
}

// generated is the line under the banners that says when the timeline was
// built: "Opdateret kl. 20.35.", or while a source fails, "Øvrige kilder
// opdateret kl. 20.35.", so it does not seem to say the failed one was
// updated too; nothing when every source failed (each banner has its time).
func (s *Server) generated(tr *translator, tl *aggregator.Timeline, now time.Time) string {
	if tl.GeneratedAt.IsZero() {
		return ""
	}
	failed := 0
	for _, st := range tl.Sources {
		if !st.OK {
			failed++
		}
	}
	switch {
	case failed == 0:
		return tr.F("timeline.generated", tr.when(tl.GeneratedAt, now))
	case failed < len(tl.Sources):
		return tr.F("banner.others_updated", tr.when(tl.GeneratedAt, now))
	}
	return ""
}

// sentence starts s with a capital letter, for a name that may begin one.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
