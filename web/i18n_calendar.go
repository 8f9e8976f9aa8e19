package web

// calendarCatalog holds the strings of calendar feeds and downloads: the
// account page's section, the timeline's link, and the words the calendars
// themselves are written in (calendar.Texts).
func calendarCatalog() map[string]map[string]string {
	return map[string]map[string]string{
		langDA: {
			"entry.add_calendar": "Tilføj til kalender",

			"calendar.name":      "Aftaler for %[1]s (Overblik)",
			"calendar.name_none": "Aftaler (Overblik)",
			"calendar.cancelled": "Aflyst: %[1]s",
			"calendar.source":    "Fra",
			"calendar.video":     "Videolink",

			"account.calendar":        "Aftalerne i din egen kalender",
			"account.calendar_intro":  "Med et kalenderabonnement ser du aftalerne i kalenderen på din telefon eller computer (fx Google Kalender, Apple Kalender eller Outlook), og kalenderen henter ændringer selv. Hver hentning står i loggen over, hvem der har set overblikket.",
			"account.calendar_own":    "Dine egne aftaler",
			"account.calendar_other":  "Aftaler, du har adgang til",
			"account.calendar_none":   "intet abonnement",
			"account.calendar_since":  "abonnement oprettet %[1]s",
			"account.calendar_create": "Opret kalenderadresse",
			"account.calendar_rotate": "Lav en ny adresse",
			"account.calendar_revoke": "Stop abonnementet",
			"account.calendar_url":    "Kalenderadresse: kopiér den ind i din kalender som et abonnement (\"Tilføj kalender fra internettet\")",
			"account.calendar_open":   "Åbn i din kalender",
			"account.calendar_once":   "Adressen vises kun nu. Del den ikke: alle, der har den, kan se aftalerne. Laver du en ny adresse eller stopper abonnementet, holder denne op med at virke.",

			"action.feed-create": "oprettede et kalenderabonnement på dine aftaler",
			"action.feed-revoke": "stoppede et kalenderabonnement på dine aftaler",
		},
		langEN: {
			"entry.add_calendar": "Add to calendar",

			"calendar.name":      "Appointments of %[1]s (Overblik)",
			"calendar.name_none": "Appointments (Overblik)",
			"calendar.cancelled": "Cancelled: %[1]s",
			"calendar.source":    "From",
			"calendar.video":     "Video link",

			"account.calendar":        "The appointments in your own calendar",
			"account.calendar_intro":  "With a calendar subscription you see the appointments in the calendar on your phone or computer (such as Google Calendar, Apple Calendar or Outlook), and the calendar fetches changes itself. Every fetch is in the log of who has looked at the overview.",
			"account.calendar_own":    "Your own appointments",
			"account.calendar_other":  "Appointments you have access to",
			"account.calendar_none":   "no subscription",
			"account.calendar_since":  "subscription made %[1]s",
			"account.calendar_create": "Make a calendar address",
			"account.calendar_rotate": "Make a new address",
			"account.calendar_revoke": "Stop the subscription",
			"account.calendar_url":    "Calendar address: copy it into your calendar as a subscription (\"Add calendar from the internet\")",
			"account.calendar_open":   "Open in your calendar",
			"account.calendar_once":   "The address is shown only now. Do not share it: anyone who has it can see the appointments. When you make a new address or stop the subscription, this one stops working.",

			"action.feed-create": "made a calendar subscription to your appointments",
			"action.feed-revoke": "stopped a calendar subscription to your appointments",
		},
	}
}
