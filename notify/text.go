package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// What a notice says. By default only that there is something to see, and
// where: e-mail is no place for health data. With details on for the
// channel, which entries and when.

type texts struct {
	subject map[Kind]string
	own     map[Kind]string // to the patient
	other   map[Kind]string // to a relative
	added, moved, cancelled, before, forName,
	appointment, footer string
	weekdays [7]string
	months   [12]string
	at       string // clock format
}

var catalog = map[string]texts{
	"da": {
		subject: map[Kind]string{
			KindChange:   "Overblik: en ændring i aftalerne",
			KindConflict: "Overblik: aftaler, der ikke passer sammen",
			KindReminder: "Overblik: aftaler i morgen",
		},
		own: map[Kind]string{
			KindChange:   "Der er en ændring i dine aftaler. Se Overblik.",
			KindConflict: "Nogle af dine aftaler ser ikke ud til at passe sammen. Se Overblik.",
			KindReminder: "Husk: du har aftaler i morgen. Se Overblik.",
		},
		other: map[Kind]string{
			KindChange:   "Der er en ændring i aftalerne hos en, du følger. Se Overblik.",
			KindConflict: "Nogle af aftalerne hos en, du følger, ser ikke ud til at passe sammen. Se Overblik.",
			KindReminder: "Husk: en, du følger, har aftaler i morgen. Se Overblik.",
		},
		added: "Ny", moved: "Flyttet", cancelled: "Aflyst", before: "før", forName: "Aftaler for %s", appointment: "Aftale",
		footer:   "Du får denne besked, fordi du har slået beskeder til i Overblik. Du kan slå dem fra under Adgang.",
		weekdays: [7]string{"søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"},
		months:   [12]string{"januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober", "november", "december"},
		at:       "kl. 15.04",
	},
	"en": {
		subject: map[Kind]string{
			KindChange:   "Overblik: a change in the appointments",
			KindConflict: "Overblik: appointments that do not fit together",
			KindReminder: "Overblik: appointments tomorrow",
		},
		own: map[Kind]string{
			KindChange:   "There is a change in your appointments. See Overblik.",
			KindConflict: "Some of your appointments do not seem to fit together. See Overblik.",
			KindReminder: "A reminder: you have appointments tomorrow. See Overblik.",
		},
		other: map[Kind]string{
			KindChange:   "There is a change in the appointments of someone you follow. See Overblik.",
			KindConflict: "Some appointments of someone you follow do not seem to fit together. See Overblik.",
			KindReminder: "A reminder: someone you follow has appointments tomorrow. See Overblik.",
		},
		added: "New", moved: "Moved", cancelled: "Cancelled", before: "was", forName: "Appointments of %s", appointment: "Appointment",
		footer:   "You get this notice because you turned notices on in Overblik. You can turn them off under Access.",
		weekdays: [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		months:   [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		at:       "15:04",
	},
}

func textsFor(lang string) texts {
	if t, ok := catalog[lang]; ok {
		return t
	}
	return catalog["da"]
}

// when is "tirsdag 3. marts kl. 10.00" or "Tuesday 3 March 10:00"; the
// date alone for an all-day entry.
func (t texts) when(at time.Time, allDay bool) string {
	day := t.weekdays[at.Weekday()] + " " + fmt.Sprint(at.Day())
	if t.at[0] == 'k' { // Danish: "3. marts"
		day += ". " + t.months[at.Month()-1]
	} else {
		day += " " + t.months[at.Month()-1]
	}
	if allDay {
		return day
	}
	return day + " " + at.Format(t.at)
}

func (t texts) title(e *aggregator.Entry) string {
	if e.Title == "" {
		return t.appointment
	}
	return e.Title
}

// detail is one line a notice with details holds.
type detail struct {
	change *aggregator.Change
	entry  *aggregator.Entry
	text   string // a conflict's message
}

// compose writes a notice's subject and body in lang: the one line that
// something is there to see, the link, the details when asked for, and why
// the person gets it.
func compose(lang string, k Kind, own bool, name string, link string, details []detail, loc *time.Location) (subject, body string) {
	t := textsFor(lang)
	var b strings.Builder
	if own {
		b.WriteString(t.own[k])
	} else {
		b.WriteString(t.other[k])
	}
	b.WriteString("\n" + link + "\n")
	if details != nil {
		b.WriteString("\n")
		if !own && name != "" {
			b.WriteString(fmt.Sprintf(t.forName, name) + "\n")
		}
		for _, d := range details {
			b.WriteString("- " + t.line(d, loc) + "\n")
		}
	}
	b.WriteString("\n" + t.footer + "\n")
	return t.subject[k], b.String()
}

func (t texts) line(d detail, loc *time.Location) string {
	if d.text != "" {
		return d.text
	}
	e := d.entry
	when := t.when(e.Start.In(loc), e.AllDay)
	if e.Place.Name != "" {
		when += ", " + e.Place.Name
	}
	if d.change == nil {
		return t.title(e) + ": " + when
	}
	switch d.change.Kind {
	case aggregator.ChangeAdded:
		return t.added + ": " + t.title(e) + ", " + when
	case aggregator.ChangeMoved:
		was := t.when(d.change.OldStart.In(loc), e.AllDay)
		if d.change.OldPlace.Name != "" {
			was += ", " + d.change.OldPlace.Name
		}
		return t.moved + ": " + t.title(e) + ", " + when + " (" + t.before + " " + was + ")"
	default:
		return t.cancelled + ": " + t.title(e) + ", " + when
	}
}
