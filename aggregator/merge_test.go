package aggregator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
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
			got := merge(tc.in, MergeRules{})
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
	// merge's array is its own; the slices its entries hold are the batch's.
	got := merge(slices.Clone(in), MergeRules{})
	got[0].People[0] = "changed"
	if in[0].People[0] != "Dr. Hansen" {
		t.Error("merge shares the People slice with its input")
	}
}

// The copies merge makes share backing arrays with each other (see
// cloner): neither writing to one nor appending to it may reach the input
// or another entry.
func TestMergedEntriesAreCopiesOfTheirOwn(t *testing.T) {
	full := func(id string, at time.Time) Entry {
		return entry(id, at, func(e *Entry) {
			e.People, e.ServiceCodes, e.Identifiers = []string{id + " person"}, []string{id + " code"}, []string{id + " ident"}
			e.Replaces, e.Provenance = []string{id + " replaces"}, []Provenance{{Source: "h", ID: id}}
			e.Parts = []Part{{Source: "h", Organization: id}}
		})
	}
	in := []Entry{full("a", t0), full("b", t0.Add(time.Hour))}
	want := []Entry{full("a", t0), full("b", t0.Add(time.Hour))}
	got := merge(slices.Clone(in), MergeRules{})
	if len(got) != 2 {
		t.Fatalf("merged %d entries, want 2", len(got))
	}
	a := &got[0]
	a.People[0], a.ServiceCodes[0], a.Identifiers[0], a.Replaces[0] = "x", "x", "x", "x"
	a.Provenance[0].ID, a.Parts[0].Organization = "x", "x"
	a.People = append(a.People, "spill")
	a.ServiceCodes = append(a.ServiceCodes, "spill")
	a.Identifiers = append(a.Identifiers, "spill")
	a.Replaces = append(a.Replaces, "spill")
	a.Provenance = append(a.Provenance, Provenance{ID: "spill"})
	a.Parts = append(a.Parts, Part{Organization: "spill"})
	if !reflect.DeepEqual(in, want) {
		t.Errorf("writing to a merged entry changed the input:\n%+v", in)
	}
	if !reflect.DeepEqual(got[1], want[1]) {
		t.Errorf("writing to one merged entry changed the next:\n got %+v\nwant %+v", got[1], want[1])
	}
}

func TestFoldKeepsGeneric(t *testing.T) {
	got := merge([]Entry{
		entry("h/Appointment/1", t0),
		entry("h/Encounter/9", t0, func(e *Entry) { e.Kind, e.PartOf, e.Generic = KindEncounter, []string{"h/Appointment/1"}, true }),
	}, MergeRules{})
	if len(got) != 1 || !got[0].Generic {
		t.Errorf("folded entry generic = %v, want true", got[0].Generic)
	}
}

func TestJoin(t *testing.T) {
	// A discharge meeting booked by the hospital (h) and the municipality
	// (m), each in its own system.
	meeting := func(src string, mods ...func(*Entry)) Entry {
		e := entry(src+"/Appointment/1", t0, func(e *Entry) {
			e.Source, e.Title, e.Organization = src, "Udskrivningssamtale", map[string]string{"h": "Aarhus Universitetshospital", "m": "Aarhus Kommune", "g": "Lægehuset"}[src]
			e.Sector = map[string]Sector{"h": SectorHospital, "m": SectorMunicipality, "g": SectorGP}[src]
			e.Provenance = []Provenance{{Source: src, Type: "Appointment", ID: "1"}}
		})
		for _, m := range mods {
			m(&e)
		}
		return e
	}
	ident := func(ids ...string) func(*Entry) { return func(e *Entry) { e.Identifiers = ids } }
	video := func(u string) func(*Entry) {
		return func(e *Entry) { e.Medium, e.VideoURL = MediumVideo, u }
	}
	at := func(name string) func(*Entry) { return func(e *Entry) { e.Place = Place{Name: name} } }
	shift := func(start, end time.Duration) func(*Entry) {
		return func(e *Entry) { e.Start, e.End = e.Start.Add(start), e.End.Add(end) }
	}
	st := func(s Status) func(*Entry) { return func(e *Entry) { e.Status, e.FHIRStatus = s, string(s) } }
	titled := func(s string) func(*Entry) { return func(e *Entry) { e.Title = s } }
	stay := func(src string, mods ...func(*Entry)) Entry {
		e := meeting(src, func(e *Entry) {
			e.ID, e.Kind, e.Title, e.Sector = src+"/Encounter/s", KindAdmission, "", SectorHospital
			e.Organization, e.Status, e.FHIRStatus, e.End = "Hjerteafdelingen", StatusInProgress, "in-progress", time.Time{}
			e.Provenance = []Provenance{{Source: src, Type: "Encounter", ID: "s"}}
		})
		for _, m := range mods {
			m(&e)
		}
		return e
	}
	parts := func(es ...Entry) string {
		var b []string
		for _, e := range es {
			for _, p := range e.Parts {
				b = append(b, p.Source+":"+p.Organization+":"+string(p.Status))
			}
		}
		return strings.Join(b, " ")
	}
	tests := []struct {
		name      string
		rules     MergeRules
		in        []Entry
		want      []string
		parts     string
		status    Status
		checkJoin func(t *testing.T, e Entry)
	}{
		{name: "shared appointment identifier",
			in: []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:y|7", "urn:x|42"), at("Borgerens hjem"),
				func(e *Entry) { e.Replaces = []string{"m/Appointment/0"} })},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:booked", status: StatusBooked,
			checkJoin: func(t *testing.T, e Entry) {
				if len(e.Provenance) != 2 || e.Provenance[1].Source != "m" {
					t.Errorf("provenance %v, want both sources'", e.Provenance)
				}
				if e.Place.Name != "Borgerens hjem" || e.Organization != "Aarhus Universitetshospital" {
					t.Errorf("place %q organisation %q: want the municipality's place filled in, the hospital's organisation kept", e.Place.Name, e.Organization)
				}
				if !slices.Equal(e.Identifiers, []string{"urn:x|42", "urn:y|7"}) {
					t.Errorf("identifiers %v", e.Identifiers)
				}
				if !slices.Equal(e.Replaces, []string{"m/Appointment/0"}) {
					t.Errorf("replaces %v, want the municipality's cancelled time", e.Replaces)
				}
			}},
		{name: "the same video link, written differently, four minutes apart",
			in:   []Entry{meeting("h", video("https://Video.Region.DK/room/9f3/")), meeting("m", video("https://video.region.dk/room/9f3"), titled("Møde"), shift(4*time.Minute, 4*time.Minute))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:booked", status: StatusBooked},
		{name: "another video room", in: []Entry{meeting("h", video("https://v.dk/room/1")), meeting("m", video("https://v.dk/room/2"))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "same place, one title holds the other",
			in:   []Entry{meeting("h", at("Afsnit 3, AUH")), meeting("m", at("afsnit 3 auh"), titled("Udskrivningssamtale med kommunen"))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:booked", status: StatusBooked},
		{name: "same place, other titles", in: []Entry{meeting("h", at("Afsnit 3")), meeting("m", at("Afsnit 3"), titled("Fodpleje"))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "same place, no title to compare", in: []Entry{meeting("h", at("Afsnit 3")), meeting("m", at("Afsnit 3"), titled(""))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "starts six minutes apart", in: []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"), shift(6*time.Minute, 0))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "ends six minutes apart", in: []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"), shift(0, 6*time.Minute))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "two bookings in one system stay two",
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("h", ident("urn:x|42"), func(e *Entry) { e.ID = "h/Appointment/2" })},
			want: []string{"h/Appointment/1", "h/Appointment/2"}},
		{name: "cancelled by the municipality, the hospital's booking stands",
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"), st(StatusCancelled))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:cancelled", status: StatusBooked},
		{name: "cancelled by the hospital, the municipality's booking stands",
			in:   []Entry{meeting("h", ident("urn:x|42"), st(StatusCancelled)), meeting("m", ident("urn:x|42"))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:cancelled m:Aarhus Kommune:booked", status: StatusBooked},
		{name: "cancelled by both",
			in:   []Entry{meeting("h", ident("urn:x|42"), st(StatusCancelled)), meeting("m", ident("urn:x|42"), st(StatusCancelled))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:cancelled m:Aarhus Kommune:cancelled", status: StatusCancelled},
		{name: "three systems, one meeting",
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42")), meeting("g", ident("urn:x|42"))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:booked g:Lægehuset:booked", status: StatusBooked},
		{name: "switched off", rules: MergeRules{Meetings: MeetingMerge{Off: true}},
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "identifiers ignored", rules: MergeRules{Meetings: MeetingMerge{IgnoreIdentifier: true}},
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"))},
			want: []string{"h/Appointment/1", "m/Appointment/1"}},
		{name: "a wider window", rules: MergeRules{Meetings: MeetingMerge{Within: 10 * time.Minute}},
			in:   []Entry{meeting("h", ident("urn:x|42")), meeting("m", ident("urn:x|42"), shift(8*time.Minute, 8*time.Minute))},
			want: []string{"h/Appointment/1"}, parts: "h:Aarhus Universitetshospital:booked m:Aarhus Kommune:booked", status: StatusBooked},
		{name: "a stay from a message and from the hospital's server: the newer news decides",
			in: []Entry{stay("h", func(e *Entry) { e.Updated = t0.Add(time.Hour) }),
				stay("n", shift(2*time.Minute, 0), func(e *Entry) {
					e.Status, e.FHIRStatus, e.End, e.Updated = StatusCompleted, "finished", t0.Add(48*time.Hour), t0.Add(50*time.Hour)
				})},
			want: []string{"h/Encounter/s"}, parts: "h:Hjerteafdelingen:in-progress n:Hjerteafdelingen:completed", status: StatusCompleted,
			checkJoin: func(t *testing.T, e Entry) {
				if !e.Start.Equal(t0) || !e.End.Equal(t0.Add(48*time.Hour)) {
					t.Errorf("stay %v – %v, want the hospital's start and the message's discharge", e.Start, e.End)
				}
			}},
		{name: "stays of two departments", in: []Entry{stay("h"), stay("n", func(e *Entry) { e.Organization = "Ortopædkirurgi" })},
			want: []string{"h/Encounter/s", "n/Encounter/s"}},
		{name: "stays sharing an identifier, named differently",
			in: []Entry{stay("h", ident("urn:lpr|urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7")),
				stay("n", ident("urn:lpr|fc60e762-b13b-5773-865e-67f3907bdcc7"), shift(3*time.Hour, 0), func(e *Entry) { e.Organization = "HGH" })},
			want: []string{"h/Encounter/s"}, parts: "h:Hjerteafdelingen:in-progress n:HGH:in-progress", status: StatusInProgress},
		{name: "a stay and a meeting at its start", in: []Entry{stay("h"), meeting("n", ident("urn:x|1"))},
			want: []string{"h/Encounter/s", "n/Appointment/1"}},
		{name: "stays switched off", rules: MergeRules{Stays: StayMerge{Off: true}}, in: []Entry{stay("h"), stay("n")},
			want: []string{"h/Encounter/s", "n/Encounter/s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := merge(tc.in, tc.rules)
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("entries %v, want %v", ids(got), tc.want)
			}
			if p := parts(got...); p != tc.parts {
				t.Errorf("parts %q, want %q", p, tc.parts)
			}
			if tc.status != "" && got[0].Status != tc.status {
				t.Errorf("status %s, want %s", got[0].Status, tc.status)
			}
			if tc.checkJoin != nil {
				tc.checkJoin(t, got[0])
			}
		})
	}
}

// byStart moves entries through the cycles of a permutation: it must give
// what a stable sort of the entries themselves gives.
func TestByStartSortsAsAStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 60 {
		in := make([]Entry, n)
		for i := range in {
			// Few starts and IDs, so ties of both occur; Title tells the
			// tied apart.
			in[i] = Entry{ID: fmt.Sprint(rng.IntN(4)), Start: t0.Add(time.Duration(rng.IntN(5)) * time.Hour), Title: fmt.Sprint(i)}
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b Entry) int {
			if c := a.Start.Compare(b.Start); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		if got := byStart(slices.Clone(in)); !reflect.DeepEqual(got, want) {
			t.Fatalf("%d entries: byStart gave\n%v\nwant\n%v", n, got, want)
		}
	}
}
