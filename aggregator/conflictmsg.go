package aggregator

import (
	"fmt"
	"strings"
	"time"
)

// The explanations of conflicts, in Danish and English. They live here, not
// in web's catalog, because aggregator imports nothing of ours; they speak to
// the patient ("du"), which a relative or clinician reads just as well.

var (
	daWeekdays = [...]string{"søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"}
	daMonths   = [...]string{"januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
		"september", "oktober", "november", "december"}
)

// daDay writes "tirsdag 3. marts", enDay "Tuesday 3 March".
func (f *finder) daDay(t time.Time) string {
	t = t.In(f.loc)
	return fmt.Sprintf("%s %d. %s", daWeekdays[t.Weekday()], t.Day(), daMonths[t.Month()-1])
}

func (f *finder) enDay(t time.Time) string {
	t = t.In(f.loc)
	return t.Format("Monday 2 January")
}

// daClock writes "kl. 8" or "kl. 7.30"; daHM the same without "kl."; enClock "08:00".
func (f *finder) daClock(t time.Time) string { return "kl. " + f.daHM(t) }

func (f *finder) daHM(t time.Time) string {
	t = t.In(f.loc)
	if t.Minute() == 0 {
		return fmt.Sprintf("%d", t.Hour())
	}
	return fmt.Sprintf("%d.%02d", t.Hour(), t.Minute())
}

func (f *finder) enClock(t time.Time) string {
	return t.In(f.loc).Format("15:04")
}

// daWhen is "tirsdag 3. marts kl. 8" ("tirsdag 3. marts" all day).
func (f *finder) daWhen(e *Entry) string {
	if e.AllDay {
		return f.daDay(e.Start)
	}
	return f.daDay(e.Start) + " " + f.daClock(e.Start)
}

func (f *finder) enWhen(e *Entry) string {
	if e.AllDay {
		return "on " + f.enDay(e.Start)
	}
	return "on " + f.enDay(e.Start) + " at " + f.enClock(e.Start)
}

// who is whom the patient deals with: the organisation, else the source.
func (f *finder) who(e *Entry) string {
	if e.Organization != "" {
		return e.Organization
	}
	if d := f.display[e.Source]; d != "" {
		return d
	}
	return e.Source
}

// call names whom to contact, with the phone number when the source gave one.
func (f *finder) daCall(e *Entry) string {
	if e.Contact != "" {
		return f.who(e) + " (tlf. " + e.Contact + ")"
	}
	return f.who(e)
}

func (f *finder) enCall(e *Entry) string {
	if e.Contact != "" {
		return f.who(e) + " (phone " + e.Contact + ")"
	}
	return f.who(e)
}

func title(e *Entry) string {
	if e.Title != "" {
		return e.Title
	}
	return string(e.Kind)
}

func (f *finder) msgDuringAdmission(v *Entry, s stay) Message {
	hosp := f.who(s.e)
	past := v.End.Before(f.now) // a visit already due: what matters now are the next ones
	var da, en strings.Builder
	switch {
	case v.Medium == MediumHomeVisit && past:
		fmt.Fprintf(&da, "%s skulle komme %s (%s)", f.who(v), f.daWhen(v), title(v))
		fmt.Fprintf(&en, "%s was due to come %s (%s)", f.who(v), f.enWhen(v), title(v))
	case v.Medium == MediumHomeVisit:
		fmt.Fprintf(&da, "%s kommer %s (%s)", f.who(v), f.daWhen(v), title(v))
		fmt.Fprintf(&en, "%s is coming %s (%s)", f.who(v), f.enWhen(v), title(v))
	case past:
		fmt.Fprintf(&da, "Du havde en tid hos %s %s (%s)", f.who(v), f.daWhen(v), title(v))
		fmt.Fprintf(&en, "You had an appointment with %s %s (%s)", f.who(v), f.enWhen(v), title(v))
	default:
		fmt.Fprintf(&da, "Du har en tid hos %s %s (%s)", f.who(v), f.daWhen(v), title(v))
		fmt.Fprintf(&en, "You have an appointment with %s %s (%s)", f.who(v), f.enWhen(v), title(v))
	}
	daVerb, enVerb, enSince := "er", "are", "since"
	if past {
		daVerb, enVerb, enSince = "var", "were", "from"
	}
	if s.open {
		fmt.Fprintf(&da, ", men du %s indlagt på %s fra %s, endnu uden en dato for udskrivning.", daVerb, hosp, f.daDay(s.start))
		fmt.Fprintf(&en, ", but you %s admitted to %s %s %s, with no discharge date yet.", enVerb, hosp, enSince, f.enDay(s.start))
	} else {
		fmt.Fprintf(&da, ", men du %s indlagt på %s fra %s til %s.", daVerb, hosp, f.daDay(s.start), f.daDay(s.end))
		fmt.Fprintf(&en, ", but you %s admitted to %s from %s to %s.", enVerb, hosp, f.enDay(s.start), f.enDay(s.end))
	}
	if past {
		fmt.Fprintf(&da, " Kontakt %s, så de næste besøg bliver sat på pause.", f.daCall(v))
		fmt.Fprintf(&en, " Contact %s so the next visits are paused.", f.enCall(v))
	} else {
		fmt.Fprintf(&da, " Kontakt %s for at sætte besøget på pause eller flytte det.", f.daCall(v))
		fmt.Fprintf(&en, " Contact %s to pause or move the visit.", f.enCall(v))
	}
	return Message{Da: da.String(), En: en.String()}
}

func (f *finder) msgOverlap(a, b *Entry) Message {
	return Message{
		Da: fmt.Sprintf("%s hos %s (%s-%s) og %s hos %s (%s-%s) ligger oven i hinanden %s. Kontakt %s eller %s for at flytte den ene.",
			title(a), f.who(a), f.daClock(a.Start), f.daHM(a.End), title(b), f.who(b), f.daClock(b.Start), f.daHM(b.End),
			f.daDay(a.Start), f.daCall(a), f.daCall(b)),
		En: fmt.Sprintf("%s with %s (%s-%s) and %s with %s (%s-%s) overlap on %s. Contact %s or %s to move one of them.",
			title(a), f.who(a), f.enClock(a.Start), f.enClock(a.End), title(b), f.who(b), f.enClock(b.Start), f.enClock(b.End),
			f.enDay(a.Start), f.enCall(a), f.enCall(b)),
	}
}

func placeName(p Place) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}

func (f *finder) msgTravel(a, b *Entry, gap, need time.Duration, known bool) Message {
	gapMin, needMin := int(gap.Minutes()), int(need.Minutes())
	da := fmt.Sprintf("%s: %s slutter %s (%s), og %s begynder %s (%s). Der er kun %d minutter imellem",
		capital(f.daDay(b.Start)), title(a), f.daClock(a.End), placeName(a.Place), title(b), f.daClock(b.Start), placeName(b.Place), gapMin)
	en := fmt.Sprintf("On %s, %s ends at %s (%s) and %s starts at %s (%s). There are only %d minutes between them",
		f.enDay(b.Start), title(a), f.enClock(a.End), placeName(a.Place), title(b), f.enClock(b.Start), placeName(b.Place), gapMin)
	if known {
		da += fmt.Sprintf(", men turen tager omkring %d minutter.", needMin)
		en += fmt.Sprintf(", but the journey takes about %d minutes.", needMin)
	} else {
		da += fmt.Sprintf(", og der skal mindst være %d minutter til at komme fra det ene sted til det andet.", needMin)
		en += fmt.Sprintf(", and getting from one place to the other needs at least %d minutes.", needMin)
	}
	da += fmt.Sprintf(" Kontakt %s, hvis tiden skal flyttes.", f.daCall(b))
	en += fmt.Sprintf(" Contact %s if the time needs moving.", f.enCall(b))
	return Message{Da: da, En: en}
}

func (f *finder) msgHeavyDay(es []*Entry) Message {
	var da, en []string
	for _, e := range es {
		da = append(da, fmt.Sprintf("%s %s (%s)", f.daClock(e.Start), title(e), f.who(e)))
		en = append(en, fmt.Sprintf("%s %s (%s)", f.enClock(e.Start), title(e), f.who(e)))
	}
	return Message{
		Da: fmt.Sprintf("Du skal møde op %d steder %s: %s. Det kan blive en hård dag; spørg, om noget kan flyttes.",
			len(es), f.daDay(es[0].Start), strings.Join(da, "; ")),
		En: fmt.Sprintf("You have %d appointments in person on %s: %s. That may be a hard day; ask whether one can be moved.",
			len(es), f.enDay(es[0].Start), strings.Join(en, "; ")),
	}
}

func (f *finder) msgBookedTwice(a, b *Entry) Message {
	return Message{
		Da: fmt.Sprintf("%s er booket både hos %s %s og hos %s %s. Måske er det den samme ydelse to gange; kontakt %s eller %s.",
			title(a), f.who(a), f.daWhen(a), f.who(b), f.daWhen(b), f.daCall(a), f.daCall(b)),
		En: fmt.Sprintf("%s is booked both with %s %s and with %s %s. It may be the same service twice; contact %s or %s.",
			title(a), f.who(a), f.enWhen(a), f.who(b), f.enWhen(b), f.enCall(a), f.enCall(b)),
	}
}

func (f *finder) msgNothingAfter(a *Entry, days int) Message {
	daVerb, enVerb := "udskrives", "are to be discharged"
	if a.End.Before(f.now) {
		daVerb, enVerb = "blev udskrevet", "were discharged"
	}
	return Message{
		Da: fmt.Sprintf("Du %s fra %s %s, men der er ingen aftale hos egen læge eller kommunen i de %d dage efter. Kontakt %s om opfølgning.",
			daVerb, f.who(a), f.daDay(a.End), days, f.daCall(a)),
		En: fmt.Sprintf("You %s from %s on %s, but there is no appointment with your GP or the municipality in the %d days after. Contact %s about follow-up.",
			enVerb, f.who(a), f.enDay(a.End), days, f.enCall(a)),
	}
}

func capital(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}
