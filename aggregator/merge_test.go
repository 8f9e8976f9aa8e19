package aggregator

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func entry(id string, start time.Time, mods ...func(*Entry)) Entry {
	e := Entry{ID: id, Source: "h", Kind: KindAppointment, Status: StatusBooked, FHIRStatus: "booked",
		Start: start, End: start.Add(30 * time.Minute), Title: id,
		Provenance: []Provenance{{Source: "h", Type: "Appointment", ID: id}}}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestMerge(t *testing.T) {
	encounter := func(status Status, partOf ...string) func(*Entry) {
		return func(e *Entry) {
			e.Kind, e.Status, e.FHIRStatus, e.PartOf = KindEncounter, status, string(status), partOf
			e.Provenance = []Provenance{{Source: "h", Type: "Encounter", ID: e.ID}}
			e.Title = ""
		}
	}
	tests := []struct {
		name  string
		in    []Entry
		want  []string
		check func(t *testing.T, got []Entry)
	}{
		{
			name: "sorted by start then id",
			in:   []Entry{entry("c", t0.Add(time.Hour)), entry("b", t0), entry("a", t0)},
			want: []string{"a", "b", "c"},
		},
		{
			name: "entered-in-error disappears",
			in:   []Entry{entry("a", t0), entry("b", t0, func(e *Entry) { e.Status = StatusEnteredInError })},
			want: []string{"a"},
		},
		{
			name: "cancelled stays, marked",
			in:   []Entry{entry("a", t0, func(e *Entry) { e.Status = StatusCancelled; e.FHIRStatus = "cancelled" })},
			want: []string{"a"},
			check: func(t *testing.T, got []Entry) {
				if got[0].Status != StatusCancelled {
					t.Errorf("status = %s, want cancelled", got[0].Status)
				}
			},
		},
		{
			name: "encounter folds into its appointment",
			in: []Entry{
				entry("h/Appointment/1", t0, func(e *Entry) { e.Status = StatusBooked; e.Place = Place{} }),
				entry("h/Encounter/9", t0.Add(5*time.Minute), encounter(StatusCompleted, "h/Appointment/1"), func(e *Entry) {
					e.Place = Place{Name: "Ambulatorium"}
					e.Updated = t0.Add(2 * time.Hour)
				}),
			},
			want: []string{"h/Appointment/1"},
			check: func(t *testing.T, got []Entry) {
				e := got[0]
				if e.Status != StatusCompleted {
					t.Errorf("status = %s, want completed from the encounter", e.Status)
				}
				if !e.Start.Equal(t0) {
					t.Errorf("start = %v, want the booked time %v", e.Start, t0)
				}
				if e.Place.Name != "Ambulatorium" {
					t.Errorf("place = %q, want filled from the encounter", e.Place.Name)
				}
				if !e.Updated.Equal(t0.Add(2 * time.Hour)) {
					t.Errorf("updated = %v, want the encounter's", e.Updated)
				}
				var types []string
				for _, p := range e.Provenance {
					types = append(types, p.Type)
				}
				if !slices.Equal(types, []string{"Appointment", "Encounter"}) {
					t.Errorf("provenance types = %v", types)
				}
			},
		},
		{
			name: "a cancelled appointment stays cancelled when an encounter refers to it",
			in: []Entry{
				entry("h/Appointment/1", t0, func(e *Entry) { e.Status = StatusCancelled }),
				entry("h/Encounter/9", t0, encounter(StatusCompleted, "h/Appointment/1")),
			},
			want: []string{"h/Appointment/1"},
			check: func(t *testing.T, got []Entry) {
				if got[0].Status != StatusCancelled {
					t.Errorf("status = %s, want cancelled", got[0].Status)
				}
			},
		},
		{
			name: "encounter whose appointment is unknown stands alone",
			in:   []Entry{entry("h/Encounter/9", t0, encounter(StatusCompleted, "h/Appointment/404"))},
			want: []string{"h/Encounter/9"},
			check: func(t *testing.T, got []Entry) {
				if got[0].PartOf != nil {
					t.Errorf("PartOf = %v, want cleared", got[0].PartOf)
				}
			},
		},
		{
			name: "entered-in-error encounter does not fold",
			in: []Entry{
				entry("h/Appointment/1", t0),
				entry("h/Encounter/9", t0, encounter(StatusEnteredInError, "h/Appointment/1")),
			},
			want: []string{"h/Appointment/1"},
			check: func(t *testing.T, got []Entry) {
				if len(got[0].Provenance) != 1 || got[0].Status != StatusBooked {
					t.Errorf("appointment changed by an entered-in-error encounter: %+v", got[0])
				}
			},
		},
		{
			name: "admission encounter folds its period into an admission appointment",
			in: []Entry{
				entry("h/Appointment/1", t0),
				entry("h/Encounter/9", t0.Add(time.Hour), encounter(StatusInProgress, "h/Appointment/1"), func(e *Entry) {
					e.Kind = KindAdmission
					e.End = time.Time{}
				}),
			},
			want: []string{"h/Appointment/1"},
			check: func(t *testing.T, got []Entry) {
				e := got[0]
				if e.Kind != KindAdmission || !e.Start.Equal(t0.Add(time.Hour)) || !e.End.IsZero() || e.Status != StatusInProgress {
					t.Errorf("got kind %s start %v end %v status %s; want an open admission in progress from the encounter", e.Kind, e.Start, e.End, e.Status)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := merge(tc.in)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("ids = %v, want %v", ids(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestMergeDoesNotAliasInput(t *testing.T) {
	in := []Entry{entry("a", t0, func(e *Entry) { e.People = []string{"Dr. Hansen"} })}
	got := merge(in)
	got[0].People[0] = "changed"
	if in[0].People[0] != "Dr. Hansen" {
		t.Error("merge shares the People slice with its input")
	}
}

func TestFoldKeepsGeneric(t *testing.T) {
	got := merge([]Entry{
		entry("h/Appointment/1", t0),
		entry("h/Encounter/9", t0, func(e *Entry) { e.Kind, e.PartOf, e.Generic = KindEncounter, []string{"h/Appointment/1"}, true }),
	})
	if len(got) != 1 || !got[0].Generic {
		t.Errorf("folded entry generic = %v, want true", got[0].Generic)
	}
}
