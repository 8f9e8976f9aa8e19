package notify

import (
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// Kind is what a notice is about.
type Kind string

const (
	KindChange   Kind = "change"   // an upcoming entry was added, moved or cancelled
	KindConflict Kind = "conflict" // a new high-severity coordination conflict
	KindReminder Kind = "reminder" // tomorrow's appointments, the day before
)

// Channel is how a notice travels.
type Channel string

const (
	ChannelEmail   Channel = "email"
	ChannelWebhook Channel = "webhook"
)

// ParseChannel accepts the channel names of forms and configuration.
func ParseChannel(s string) (Channel, bool) {
	switch Channel(s) {
	case ChannelEmail, ChannelWebhook:
		return Channel(s), true
	}
	return "", false
}

// Clock is a time of day in minutes after midnight, in the configured zone.
type Clock int

// ParseClock reads "HH:MM" (24-hour).
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("time of day %q: want HH:MM, e.g. 22:00", s)
	}
	return Clock(t.Hour()*60 + t.Minute()), nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// QuietHours are from From until To; equal means none.
type QuietHours struct{ From, To Clock }

// Default quiet hours and reminder time.
const (
	DefaultQuietFrom  Clock = 22 * 60
	DefaultQuietTo    Clock = 7 * 60
	DefaultReminderAt Clock = 18 * 60
)

// Preferences are one person's: where notices go and which. A relative's are
// their own, and a notice to them needs both their opt-in for the patient
// and a valid delegation from the patient.
type Preferences struct {
	Person string // the person's handle
	// Subject and Name are the person as their login gave them when they
	// saved: the patient's log shows a relative's notice under them.
	// Name is personal data: never log it.
	Subject, Name string
	Lang          string // "da" or "en": the notices' language
	Channel       Channel
	// Address is the e-mail address, or what the webhook's receiver knows
	// the person by (a mobile number for an SMS gateway, an app's user id).
	// Personal data: never log it.
	Address                       string
	Changes, Conflicts, Reminders bool
	// QuietFrom and QuietTo are the quiet hours, when notices wait; equal
	// means none.
	QuietFrom, QuietTo Clock
	// Follow are the patients (handles, the person's own for their own
	// timeline) the person wants notices about.
	Follow  []string
	Updated time.Time
}

// DefaultPreferences are what a person who never saved any starts from:
// every kind, e-mail, the default quiet hours, nobody followed.
func DefaultPreferences(person string) Preferences {
	return Preferences{Person: person, Lang: "da", Channel: ChannelEmail, Changes: true, Conflicts: true, Reminders: true,
		QuietFrom: DefaultQuietFrom, QuietTo: DefaultQuietTo}
}

// LogValue keeps the name and the address out of structured logs.
func (p Preferences) LogValue() slog.Value {
	return slog.GroupValue(slog.String("person", p.Person), slog.String("channel", string(p.Channel)), slog.Int("follows", len(p.Follow)))
}

// Limits on what a person stores.
const (
	maxAddressLen = 254 // RFC 5321's path limit
	maxFollows    = 50
)

// validate checks what a form may have got wrong; errors name no value.
func (p *Preferences) validate() error {
	p.Address = strings.TrimSpace(p.Address)
	switch {
	case p.Person == "":
		return fmt.Errorf("preferences without a person: %w", ErrInvalid)
	case p.Lang != "da" && p.Lang != "en":
		return fmt.Errorf("language must be da or en: %w", ErrInvalid)
	case p.QuietFrom < 0 || p.QuietFrom >= 24*60 || p.QuietTo < 0 || p.QuietTo >= 24*60:
		return fmt.Errorf("quiet hours out of the day: %w", ErrInvalid)
	case len(p.Follow) > maxFollows:
		return fmt.Errorf("more than %d patients followed: %w", maxFollows, ErrInvalid)
	case len(p.Address) > maxAddressLen || strings.IndexFunc(p.Address, unicode.IsControl) >= 0:
		return fmt.Errorf("address too long or with control characters: %w", ErrInvalid)
	}
	switch p.Channel {
	case ChannelEmail:
		if p.Address == "" && len(p.Follow) == 0 {
			return nil // nothing asked for yet
		}
		a, err := mail.ParseAddress(p.Address)
		if err != nil || a.Name != "" || a.Address != p.Address || !strings.Contains(a.Address, "@") {
			return fmt.Errorf("not an e-mail address: %w", ErrInvalid)
		}
	case ChannelWebhook:
		if p.Address == "" && len(p.Follow) > 0 {
			return fmt.Errorf("a webhook notice needs whom the receiver knows you by: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("unknown channel: %w", ErrInvalid)
	}
	return nil
}

// inQuiet reports whether t (in its own zone) falls in the quiet hours.
func inQuiet(t time.Time, from, to Clock) bool {
	if from == to {
		return false
	}
	m := Clock(t.Hour()*60 + t.Minute())
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

// quietEnd is when the quiet hours t falls in end: the next `to` after t,
// in t's zone (on a daylight-saving day the wall clock still says `to`).
func quietEnd(t time.Time, to Clock) time.Time {
	end := time.Date(t.Year(), t.Month(), t.Day(), int(to)/60, int(to)%60, 0, 0, t.Location())
	if !end.After(t) {
		end = time.Date(t.Year(), t.Month(), t.Day()+1, int(to)/60, int(to)%60, 0, 0, t.Location())
	}
	return end
}
