package web

import (
	"fmt"
	"net/http"
	"time"

	"golang.org/x/text/language"
)

// The two languages we speak. Danish comes first: it is the default and the
// language the matcher falls back to.
const (
	langDA = "da"
	langEN = "en"
)

// baseCatalog returns the user-facing strings (newCatalog adds access control's), one map per language. Keys with
// a dynamic part (sector.*, status.*, ...) are built from the aggregator's
// enum values; a test checks that all of them exist in both languages.
//
// Format strings use explicit argument indexes so a translation may reorder them.
func baseCatalog() map[string]map[string]string {
	return map[string]map[string]string{
		langDA: {
			"app.name":                 "Overblik",
			"nav.skip":                 "Gå til indholdet",
			"nav.language":             "Sprog",
			"lang.switch":              "English",
			"footer.about":             "Overblik samler dine aftaler fra hospital, kommune og egen læge.",
			"footer.no_access_control": "Bemærk: adgangskontrol er endnu ikke slået til. Alle, der kender adressen på en side, kan se den. Brug kun testdata.",

			"home.title":         "Overblik",
			"home.heading":       "Overblik over aftaler",
			"home.intro":         "Se aftaler fra hospital, kommune og egen læge samlet ét sted.",
			"home.demo":          "Demopatienter",
			"home.demo_intro":    "Alle personer og aftaler her er opdigtede.",
			"demo.outages":       "Prøv et nedbrud",
			"demo.outages_intro": "De tre kilder er simulerede. Tag én ned og se, hvad en patient ser: de andre kilders aftaler bliver, og den faldne kildes sidste kendte aftaler vises som forældede.",
			"demo.up":            "svarer",
			"demo.down":          "nede",
			"demo.take_down":     "Tag ned",
			"demo.bring_up":      "Start igen",
			"lookup.heading":     "Find aftaler",
			"lookup.label":       "Identifikator",
			"lookup.hint":        "CPR-nummer, eller system|værdi for en anden identifikator.",
			"lookup.submit":      "Vis aftaler",
			"lookup.empty":       "Skriv en identifikator.",

			"timeline.title":          "Dine aftaler – Overblik",
			"timeline.heading":        "Dine aftaler",
			"timeline.generated":      "Opdateret %[1]s.",
			"timeline.earlier":        "Tidligere",
			"timeline.earlier_show":   "Vis tidligere aftaler (%[1]d)",
			"timeline.today":          "I dag",
			"timeline.today_empty":    "Ingen aftaler i dag.",
			"timeline.upcoming":       "Kommende",
			"timeline.upcoming_empty": "Ingen kommende aftaler.",

			"banner.region":  "Datakilder med problemer",
			"banner.updated": "Data fra %[1]s er sidst opdateret %[2]s: %[3]s.",
			"banner.never":   "Vi har endnu ingen data fra %[1]s: %[2]s.",

			"from.hospital":     "hospitalet",
			"from.municipality": "kommunen",
			"from.gp":           "egen læge",
			"from.other":        "en anden kilde",

			"system.hospital":     "hospitalets system",
			"system.municipality": "kommunens system",
			"system.gp":           "lægens system",
			"system.other":        "kildens system",

			"reason.unavailable":  "%[1]s svarer ikke",
			"reason.timeout":      "%[1]s svarer ikke",
			"reason.unauthorized": "%[1]s afviste vores adgang",
			"reason.not-found":    "%[1]s kender ikke patienten",
			"reason.invalid":      "%[1]s sendte data, vi ikke kunne læse",
			"reason.unknown":      "%[1]s kunne ikke læses",

			"when.today": "kl. %[1]s",
			"when.day":   "%[1]s kl. %[2]s",

			"sector.hospital":     "Hospital",
			"sector.municipality": "Kommune",
			"sector.gp":           "Egen læge",
			"sector.other":        "Anden kilde",

			"kind.appointment":       "Aftale",
			"change.added":           "Ny",
			"change.moved":           "Flyttet fra %[1]s",
			"change.cancelled":       "Aflyst siden sidst",
			"change.removed":         "%[1]s (%[2]s)",
			"change.removed_heading": "Fjernet siden du sidst kiggede",
			"error.bad_since":        "since skal være et tidspunkt som 2026-12-01T10:00:00+01:00.",
			"generic.hospital":       "Aftale på hospitalet",
			"generic.municipality":   "Aftale med kommunen",
			"generic.gp":             "Aftale hos egen læge",
			"generic.other":          "Aftale",
			"kind.encounter":         "Besøg",
			"kind.admission":         "Indlæggelse",

			"status.tentative":        "Foreløbig",
			"status.booked":           "Booket",
			"status.in-progress":      "I gang",
			"status.on-leave":         "På orlov",
			"status.completed":        "Gennemført",
			"status.cancelled":        "Aflyst",
			"status.no-show":          "Udeblevet",
			"status.entered-in-error": "Fejlregistreret",
			"status.unknown":          "Ukendt status",

			"medium.in-person":  "Fremmøde",
			"medium.video":      "Videokonsultation",
			"medium.phone":      "Telefonkonsultation",
			"medium.home-visit": "Hjemmebesøg",
			"medium.video_join": "Deltag i videomødet",

			"entry.all_day":     "Hele dagen",
			"entry.place":       "Sted",
			"entry.how":         "Form",
			"entry.with":        "Hos",
			"entry.contact":     "Kontakt",
			"entry.instruction": "Vigtigt",
			"entry.stale":       "Ikke opdateret – senest hentet %[1]s",
			"entry.stale_never": "Ikke opdateret",
			"part.status":       "%[1]s hos %[2]s",

			"fmt.day":             "%[1]s %[2]d. %[3]s %[4]d",
			"fmt.date_short":      "%[1]d. %[2]s",
			"fmt.date_short_year": "%[1]d. %[2]s %[3]d",
			"fmt.clock":           "15.04",
			"fmt.period":          "%[1]s – %[2]s",
			"fmt.since":           "fra %[1]s",
			"fmt.list_sep":        ", ",

			// The sentences of conflicts (conflicttext.go), to the patient.
			"cmsg.call_phone":                       "%[1]s (tlf. %[2]s)",
			"cmsg.day":                              "%[1]s %[2]d. %[3]s",
			"cmsg.hour":                             "%[1]d",
			"cmsg.hour_min":                         "%[1]d.%02[2]d",
			"cmsg.clock":                            "kl. %[1]s",
			"cmsg.when":                             "%[1]s %[2]s",
			"cmsg.when_all_day":                     "%[1]s",
			"cmsg.during_admission.home_visit.past": "%[1]s skulle komme %[2]s (%[3]s)",
			"cmsg.during_admission.home_visit.future": "%[1]s kommer %[2]s (%[3]s)",
			"cmsg.during_admission.visit.past":        "Du havde en tid hos %[1]s %[2]s (%[3]s)",
			"cmsg.during_admission.visit.future":      "Du har en tid hos %[1]s %[2]s (%[3]s)",
			"cmsg.during_admission.stay_open.past":    ", men du var indlagt på %[1]s fra %[2]s, endnu uden en dato for udskrivning.",
			"cmsg.during_admission.stay_open.future":  ", men du er indlagt på %[1]s fra %[2]s, endnu uden en dato for udskrivning.",
			"cmsg.during_admission.stay.past":         ", men du var indlagt på %[1]s fra %[2]s til %[3]s.",
			"cmsg.during_admission.stay.future":       ", men du er indlagt på %[1]s fra %[2]s til %[3]s.",
			"cmsg.during_admission.contact.past":      " Kontakt %[1]s, så de næste besøg bliver sat på pause.",
			"cmsg.during_admission.contact.future":    " Kontakt %[1]s for at sætte besøget på pause eller flytte det.",
			"cmsg.overlap":                            "%[1]s hos %[2]s (%[3]s-%[4]s) og %[5]s hos %[6]s (%[7]s-%[8]s) ligger oven i hinanden %[9]s. Kontakt %[10]s eller %[11]s for at flytte den ene.",
			"cmsg.travel":                             "%[1]s: %[2]s slutter %[3]s (%[4]s), og %[5]s begynder %[6]s (%[7]s). Der er kun %[8]d minutter imellem",
			"cmsg.travel.journey":                     ", men turen tager omkring %[1]d minutter.",
			"cmsg.travel.at_least":                    ", og der skal mindst være %[1]d minutter til at komme fra det ene sted til det andet.",
			"cmsg.travel.contact":                     " Kontakt %[1]s, hvis tiden skal flyttes.",
			"cmsg.heavy_day":                          "Du skal møde op %[1]d steder %[2]s: %[3]s. Det kan blive en hård dag; spørg, om noget kan flyttes.",
			"cmsg.heavy_day.item":                     "%[1]s %[2]s (%[3]s)",
			"cmsg.heavy_day.sep":                      "; ",
			"cmsg.booked_twice":                       "%[1]s er booket både hos %[2]s %[3]s og hos %[4]s %[5]s. Måske er det den samme ydelse to gange; kontakt %[6]s eller %[7]s.",
			"cmsg.nothing_after.past":                 "Du blev udskrevet fra %[1]s %[2]s, men der er ingen aftale hos egen læge eller kommunen i de %[3]d dage efter. Kontakt %[4]s om opfølgning.",
			"cmsg.nothing_after.future":               "Du udskrives fra %[1]s %[2]s, men der er ingen aftale hos egen læge eller kommunen i de %[3]d dage efter. Kontakt %[4]s om opfølgning.",

			"weekday.0": "søndag", "weekday.1": "mandag", "weekday.2": "tirsdag", "weekday.3": "onsdag",
			"weekday.4": "torsdag", "weekday.5": "fredag", "weekday.6": "lørdag",
			"month.1": "januar", "month.2": "februar", "month.3": "marts", "month.4": "april",
			"month.5": "maj", "month.6": "juni", "month.7": "juli", "month.8": "august",
			"month.9": "september", "month.10": "oktober", "month.11": "november", "month.12": "december",
			"mon.1": "jan", "mon.2": "feb", "mon.3": "mar", "mon.4": "apr", "mon.5": "maj", "mon.6": "jun",
			"mon.7": "jul", "mon.8": "aug", "mon.9": "sep", "mon.10": "okt", "mon.11": "nov", "mon.12": "dec",

			"error.title":             "Fejl – Overblik",
			"error.heading":           "Noget gik galt",
			"error.heading_not_found": "Siden findes ikke",
			"error.home":              "Gå til forsiden",
			"error.not_found":         "Vi kan ikke finde det, du leder efter.",
			"error.unknown_patient":   "Vi kender ikke den patient.",
			"error.not_demo":          "Der er kun en patientliste i demotilstand.",
			"error.bad_request":       "Forespørgslen kunne ikke forstås.",
			"error.bad_json":          `Forespørgslen skal være JSON som {"identifier": "system|værdi"}.`,
			"error.empty_identifier":  "Identifikatoren mangler.",
			"error.method":            "Den metode er ikke tilladt her.",
			"error.too_large":         "Forespørgslen er for stor.",
			"error.unavailable":       "Tjenesten er ikke tilgængelig lige nu. Prøv igen om lidt.",
			"error.timeout":           "Det tog for lang tid. Prøv igen om lidt.",
			"error.upstream":          "Et bagvedliggende system svarede ikke korrekt. Prøv igen senere.",
			"error.internal":          "Der skete en fejl hos os. Prøv igen senere.",

			"rule.during-admission":        "Besøg under indlæggelse",
			"rule.overlap":                 "Aftaler oven i hinanden",
			"rule.travel":                  "Ikke tid til transport",
			"rule.heavy-day":               "Mange aftaler på én dag",
			"rule.booked-twice":            "Booket to gange",
			"rule.nothing-after-discharge": "Ingen opfølgning efter udskrivning",
			"rule.other":                   "Koordineringsproblem",
			"severity.high":                "haster",
			"severity.medium":              "vigtigt",
			"severity.low":                 "til orientering",
			"conflict.patient_heading":     "Vær opmærksom",
			"conflict.clinician_heading":   "%[1]s (%[2]s)",
			"conflict.call":                "Hvem du kan kontakte:",
			"conflict.phone":               "tlf.",
			"conflict.entries":             "Aftaler:",
			"clinician.title":              "Patientens aftaler – Overblik",
			"clinician.heading":            "Patientens aftaler og koordineringsproblemer",
			"clinician.conflicts":          "Koordineringsproblemer",
			"clinician.worklist":           "Alle patienters koordineringsproblemer",
			"clinician.no_conflicts":       "Vi har ikke fundet nogen koordineringsproblemer.",
			"worklist.title":               "Koordineringsproblemer – Overblik",
			"worklist.heading":             "Koordineringsproblemer på tværs af patienter",
			"worklist.from":                "Fra",
			"worklist.to":                  "Til",
			"worklist.show":                "Vis",
			"worklist.note":                "Listen omfatter de patienter, hvis aftaler er hentet for nylig.",
			"worklist.empty":               "Ingen koordineringsproblemer i perioden.",
			"worklist.open_patient":        "Åbn patientens aftaler",
			"worklist.patient":             "patient %[1]s",
			"error.bad_period":             "Angiv perioden som fra og til i formen ÅÅÅÅ-MM-DD, med fra før til.",
		},
		langEN: {
			"app.name":                 "Overblik",
			"nav.skip":                 "Skip to content",
			"nav.language":             "Language",
			"lang.switch":              "Dansk",
			"footer.about":             "Overblik brings together your appointments from hospital, municipality and GP.",
			"footer.no_access_control": "Note: access control is not enabled yet. Anyone who knows the address of a page can see it. Use test data only.",

			"home.title":         "Overblik",
			"home.heading":       "Appointments overview",
			"home.intro":         "See appointments from hospital, municipality and GP in one place.",
			"home.demo":          "Demo patients",
			"home.demo_intro":    "All people and appointments here are made up.",
			"demo.outages":       "Try an outage",
			"demo.outages_intro": "The three sources are simulated. Take one down and see what a patient sees: the other sources' appointments stay, and the failed source's last known appointments are shown as out of date.",
			"demo.up":            "answering",
			"demo.down":          "down",
			"demo.take_down":     "Take down",
			"demo.bring_up":      "Bring back",
			"lookup.heading":     "Find appointments",
			"lookup.label":       "Identifier",
			"lookup.hint":        "CPR number, or system|value for another identifier.",
			"lookup.submit":      "Show appointments",
			"lookup.empty":       "Enter an identifier.",

			"timeline.title":          "Your appointments – Overblik",
			"timeline.heading":        "Your appointments",
			"timeline.generated":      "Updated %[1]s.",
			"timeline.earlier":        "Earlier",
			"timeline.earlier_show":   "Show earlier appointments (%[1]d)",
			"timeline.today":          "Today",
			"timeline.today_empty":    "No appointments today.",
			"timeline.upcoming":       "Upcoming",
			"timeline.upcoming_empty": "No upcoming appointments.",

			"banner.region":  "Sources with problems",
			"banner.updated": "Data from %[1]s was last updated %[2]s: %[3]s.",
			"banner.never":   "We have no data from %[1]s yet: %[2]s.",

			"from.hospital":     "the hospital",
			"from.municipality": "the municipality",
			"from.gp":           "your GP",
			"from.other":        "another source",

			"system.hospital":     "the hospital system",
			"system.municipality": "the municipality system",
			"system.gp":           "the GP system",
			"system.other":        "the source system",

			"reason.unavailable":  "%[1]s is not answering",
			"reason.timeout":      "%[1]s is not answering",
			"reason.unauthorized": "%[1]s refused our access",
			"reason.not-found":    "%[1]s does not know the patient",
			"reason.invalid":      "%[1]s sent data we could not read",
			"reason.unknown":      "%[1]s could not be read",

			"when.today": "at %[1]s",
			"when.day":   "on %[1]s at %[2]s",

			"sector.hospital":     "Hospital",
			"sector.municipality": "Municipality",
			"sector.gp":           "GP",
			"sector.other":        "Other source",

			"kind.appointment":       "Appointment",
			"change.added":           "New",
			"change.moved":           "Moved from %[1]s",
			"change.cancelled":       "Cancelled since you last looked",
			"change.removed":         "%[1]s (%[2]s)",
			"change.removed_heading": "Removed since you last looked",
			"error.bad_since":        "since must be a time such as 2026-12-01T10:00:00+01:00.",
			"generic.hospital":       "Hospital appointment",
			"generic.municipality":   "Appointment with the municipality",
			"generic.gp":             "Appointment with your GP",
			"generic.other":          "Appointment",
			"kind.encounter":         "Visit",
			"kind.admission":         "Admission",

			"status.tentative":        "Tentative",
			"status.booked":           "Booked",
			"status.in-progress":      "In progress",
			"status.on-leave":         "On leave",
			"status.completed":        "Completed",
			"status.cancelled":        "Cancelled",
			"status.no-show":          "Did not attend",
			"status.entered-in-error": "Entered in error",
			"status.unknown":          "Unknown status",

			"medium.in-person":  "In person",
			"medium.video":      "Video call",
			"medium.phone":      "Phone call",
			"medium.home-visit": "Home visit",
			"medium.video_join": "Join the video call",

			"entry.all_day":     "All day",
			"entry.place":       "Place",
			"entry.how":         "How",
			"entry.with":        "With",
			"entry.contact":     "Contact",
			"entry.instruction": "Important",
			"entry.stale":       "Not up to date – last fetched %[1]s",
			"entry.stale_never": "Not up to date",
			"part.status":       "%[1]s at %[2]s",

			"fmt.day":             "%[1]s %[2]d %[3]s %[4]d",
			"fmt.date_short":      "%[1]d %[2]s",
			"fmt.date_short_year": "%[1]d %[2]s %[3]d",
			"fmt.clock":           "15:04",
			"fmt.period":          "%[1]s – %[2]s",
			"fmt.since":           "since %[1]s",
			"fmt.list_sep":        ", ",

			// The sentences of conflicts (conflicttext.go), to the patient.
			"cmsg.call_phone":                       "%[1]s (phone %[2]s)",
			"cmsg.day":                              "%[1]s %[2]d %[3]s",
			"cmsg.hour":                             "%02[1]d:00",
			"cmsg.hour_min":                         "%02[1]d:%02[2]d",
			"cmsg.clock":                            "%[1]s",
			"cmsg.when":                             "on %[1]s at %[2]s",
			"cmsg.when_all_day":                     "on %[1]s",
			"cmsg.during_admission.home_visit.past": "%[1]s was due to come %[2]s (%[3]s)",
			"cmsg.during_admission.home_visit.future": "%[1]s is coming %[2]s (%[3]s)",
			"cmsg.during_admission.visit.past":        "You had an appointment with %[1]s %[2]s (%[3]s)",
			"cmsg.during_admission.visit.future":      "You have an appointment with %[1]s %[2]s (%[3]s)",
			"cmsg.during_admission.stay_open.past":    ", but you were admitted to %[1]s from %[2]s, with no discharge date yet.",
			"cmsg.during_admission.stay_open.future":  ", but you are admitted to %[1]s since %[2]s, with no discharge date yet.",
			"cmsg.during_admission.stay.past":         ", but you were admitted to %[1]s from %[2]s to %[3]s.",
			"cmsg.during_admission.stay.future":       ", but you are admitted to %[1]s from %[2]s to %[3]s.",
			"cmsg.during_admission.contact.past":      " Contact %[1]s so the next visits are paused.",
			"cmsg.during_admission.contact.future":    " Contact %[1]s to pause or move the visit.",
			"cmsg.overlap":                            "%[1]s with %[2]s (%[3]s-%[4]s) and %[5]s with %[6]s (%[7]s-%[8]s) overlap on %[9]s. Contact %[10]s or %[11]s to move one of them.",
			"cmsg.travel":                             "On %[1]s, %[2]s ends at %[3]s (%[4]s) and %[5]s starts at %[6]s (%[7]s). There are only %[8]d minutes between them",
			"cmsg.travel.journey":                     ", but the journey takes about %[1]d minutes.",
			"cmsg.travel.at_least":                    ", and getting from one place to the other needs at least %[1]d minutes.",
			"cmsg.travel.contact":                     " Contact %[1]s if the time needs moving.",
			"cmsg.heavy_day":                          "You have %[1]d appointments in person on %[2]s: %[3]s. That may be a hard day; ask whether one can be moved.",
			"cmsg.heavy_day.item":                     "%[1]s %[2]s (%[3]s)",
			"cmsg.heavy_day.sep":                      "; ",
			"cmsg.booked_twice":                       "%[1]s is booked both with %[2]s %[3]s and with %[4]s %[5]s. It may be the same service twice; contact %[6]s or %[7]s.",
			"cmsg.nothing_after.past":                 "You were discharged from %[1]s on %[2]s, but there is no appointment with your GP or the municipality in the %[3]d days after. Contact %[4]s about follow-up.",
			"cmsg.nothing_after.future":               "You are to be discharged from %[1]s on %[2]s, but there is no appointment with your GP or the municipality in the %[3]d days after. Contact %[4]s about follow-up.",

			"weekday.0": "Sunday", "weekday.1": "Monday", "weekday.2": "Tuesday", "weekday.3": "Wednesday",
			"weekday.4": "Thursday", "weekday.5": "Friday", "weekday.6": "Saturday",
			"month.1": "January", "month.2": "February", "month.3": "March", "month.4": "April",
			"month.5": "May", "month.6": "June", "month.7": "July", "month.8": "August",
			"month.9": "September", "month.10": "October", "month.11": "November", "month.12": "December",
			"mon.1": "Jan", "mon.2": "Feb", "mon.3": "Mar", "mon.4": "Apr", "mon.5": "May", "mon.6": "Jun",
			"mon.7": "Jul", "mon.8": "Aug", "mon.9": "Sep", "mon.10": "Oct", "mon.11": "Nov", "mon.12": "Dec",

			"error.title":             "Error – Overblik",
			"error.heading":           "Something went wrong",
			"error.heading_not_found": "Page not found",
			"error.home":              "Go to the front page",
			"error.not_found":         "We cannot find what you are looking for.",
			"error.unknown_patient":   "We do not know that patient.",
			"error.not_demo":          "There is a patient list in demo mode only.",
			"error.bad_request":       "The request could not be understood.",
			"error.bad_json":          `The request must be JSON like {"identifier": "system|value"}.`,
			"error.empty_identifier":  "The identifier is missing.",
			"error.method":            "That method is not allowed here.",
			"error.too_large":         "The request is too large.",
			"error.unavailable":       "The service is not available right now. Please try again shortly.",
			"error.timeout":           "That took too long. Please try again shortly.",
			"error.upstream":          "A system behind us did not answer correctly. Please try again later.",
			"error.internal":          "Something went wrong on our side. Please try again later.",

			"rule.during-admission":        "Visit during an admission",
			"rule.overlap":                 "Overlapping appointments",
			"rule.travel":                  "No time to travel",
			"rule.heavy-day":               "A heavy day",
			"rule.booked-twice":            "Booked twice",
			"rule.nothing-after-discharge": "Nothing after discharge",
			"rule.other":                   "Coordination conflict",
			"severity.high":                "urgent",
			"severity.medium":              "important",
			"severity.low":                 "for information",
			"conflict.patient_heading":     "Please check",
			"conflict.clinician_heading":   "%[1]s (%[2]s)",
			"conflict.call":                "Whom to contact:",
			"conflict.phone":               "phone",
			"conflict.entries":             "Appointments:",
			"clinician.title":              "Patient's appointments – Overblik",
			"clinician.heading":            "Patient's appointments and coordination conflicts",
			"clinician.conflicts":          "Coordination conflicts",
			"clinician.worklist":           "Coordination conflicts of all patients",
			"clinician.no_conflicts":       "We found no coordination conflicts.",
			"worklist.title":               "Coordination conflicts – Overblik",
			"worklist.heading":             "Coordination conflicts across patients",
			"worklist.from":                "From",
			"worklist.to":                  "To",
			"worklist.show":                "Show",
			"worklist.note":                "The list covers the patients whose appointments were fetched recently.",
			"worklist.empty":               "No coordination conflicts in this period.",
			"worklist.open_patient":        "Open the patient's appointments",
			"worklist.patient":             "patient %[1]s",
			"error.bad_period":             "Give the period as from and to, as YYYY-MM-DD, with from before to.",
		},
	}
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
	return negotiator{
		matcher: language.NewMatcher([]language.Tag{language.Danish, language.English}),
		langs:   []string{langDA, langEN},
	}
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
	return langDA, false
}

func validLang(s string) (string, bool) {
	switch s {
	case langDA, langEN:
		return s, true
	}
	return "", false
}

func otherLang(l string) string {
	if l == langEN {
		return langDA
	}
	return langEN
}
