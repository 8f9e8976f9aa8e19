package medcom

import (
	"slices"
	"testing"
	"time"
)

func TestStays(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	const ep = "https://sor2.sum.dsdn.dk/#id=265161000016000|bd481c38-a921-11ed-afa1-0242ac120002"
	n := func(header, activity string, at time.Time, mods ...func(*Facts)) Facts {
		f := Facts{HeaderID: header, Activity: activity, Occurred: at, Sent: at, EncounterID: "enc-" + header,
			Episodes: []string{ep}, Class: "IMP", Status: "in-progress", Start: day(1, 10), Organization: "Hjerteafdelingen"}
		for _, m := range mods {
			m(&f)
		}
		return f
	}
	status := func(s string) func(*Facts) { return func(f *Facts) { f.Status = s } }
	leave := func(start, end time.Time) func(*Facts) {
		return func(f *Facts) { f.LeaveStart, f.LeaveEnd = start, end }
	}
	ended := func(end time.Time) func(*Facts) { return func(f *Facts) { f.End = end } }
	episode := func(e string) func(*Facts) { return func(f *Facts) { f.Episodes = []string{e} } }
	admit := n("a", "admit-inpatient", day(1, 10))
	tests := []struct {
		name string
		in   []Facts
		want []string
	}{
		{name: "admitted", in: []Facts{admit}, want: []string{"stay in-progress 2026-11-01T10:00:00Z open"}},
		{name: "on leave, not back yet", in: []Facts{admit, n("b", "start-leave-inpatient", day(3, 9), status("onleave"), leave(day(3, 9), time.Time{}))},
			want: []string{"stay on-leave 2026-11-01T10:00:00Z open", "leave-1 on-leave 2026-11-03T09:00:00Z open"}},
		{name: "two leaves",
			in: []Facts{admit, n("b", "start-leave-inpatient", day(3, 9), status("onleave"), leave(day(3, 9), time.Time{})),
				n("c", "end-leave-inpatient", day(4, 9), leave(day(3, 9), day(4, 9))),
				n("d", "start-leave-inpatient", day(6, 9), status("onleave"), leave(day(6, 9), time.Time{})),
				n("e", "end-leave-inpatient", day(6, 20), leave(day(6, 9), day(6, 20)))},
			want: []string{"stay in-progress 2026-11-01T10:00:00Z open",
				"leave-1 on-leave 2026-11-03T09:00:00Z 2026-11-04T09:00:00Z", "leave-2 on-leave 2026-11-06T09:00:00Z 2026-11-06T20:00:00Z"}},
		{name: "the start of a leave revised",
			in: []Facts{admit, n("b", "start-leave-inpatient", day(3, 9), status("onleave"), leave(day(3, 9), time.Time{})),
				n("c", "revise-start-leave-inpatient", day(3, 12), status("onleave"), leave(day(3, 8), time.Time{}))},
			want: []string{"stay on-leave 2026-11-01T10:00:00Z open", "leave-1 on-leave 2026-11-03T08:00:00Z open"}},
		{name: "the end of a leave cancelled: on leave again",
			in: []Facts{admit, n("b", "start-leave-inpatient", day(3, 9), status("onleave"), leave(day(3, 9), time.Time{})),
				n("c", "end-leave-inpatient", day(4, 9), leave(day(3, 9), day(4, 9))),
				n("d", "cancel-end-leave-inpatient", day(4, 10), status("onleave"), leave(day(3, 9), time.Time{}))},
			want: []string{"stay on-leave 2026-11-01T10:00:00Z open", "leave-1 on-leave 2026-11-03T09:00:00Z open"}},
		{name: "discharged on leave: the leave ends with the stay",
			in: []Facts{admit, n("b", "start-leave-inpatient", day(3, 9), status("onleave"), leave(day(3, 9), time.Time{})),
				n("c", "discharge-inpatient-home", day(5, 9), status("finished"), ended(day(5, 9)))},
			want: []string{"stay completed 2026-11-01T10:00:00Z 2026-11-05T09:00:00Z", "leave-1 on-leave 2026-11-03T09:00:00Z 2026-11-05T09:00:00Z"}},
		{name: "a discharge cancelled", in: []Facts{admit, n("b", "discharge-inpatient-home", day(5, 9), status("finished"), ended(day(5, 9))),
			n("c", "cancel-discharge-inpatient-home", day(5, 11), ended(day(5, 9)))},
			want: []string{"stay in-progress 2026-11-01T10:00:00Z open"}},
		{name: "the admission time revised", in: []Facts{admit, n("b", "revise-admit-inpatient", day(1, 14), func(f *Facts) { f.Start = day(1, 11) })},
			want: []string{"stay in-progress 2026-11-01T11:00:00Z open"}},
		{name: "an admission cancelled, then made again",
			in:   []Facts{admit, n("b", "cancel-admit-inpatient", day(1, 11), status("entered-in-error")), n("c", "admit-inpatient", day(1, 12))},
			want: []string{"stay in-progress 2026-11-01T10:00:00Z open"}},
		{name: "an emergency stay becomes an admission", in: []Facts{
			n("a", "admit-emergency", day(1, 10), func(f *Facts) { f.Class = "EMER" }), n("b", "admit-inpatient", day(1, 16))},
			want: []string{"stay in-progress 2026-11-01T10:00:00Z open"}},
		{name: "two stays", in: []Facts{admit, n("b", "discharge-inpatient-home", day(5, 9), status("finished"), ended(day(5, 9))),
			n("c", "admit-inpatient", day(9, 10), episode("urn:x|2"), func(f *Facts) { f.Start = day(9, 10) })},
			want: []string{"stay completed 2026-11-01T10:00:00Z 2026-11-05T09:00:00Z", "stay in-progress 2026-11-09T10:00:00Z open"}},
		{name: "one stay by its Encounter id alone", in: []Facts{admit,
			n("b", "discharge-inpatient-home", day(5, 9), status("finished"), ended(day(5, 9)), episode("urn:x|other"), func(f *Facts) { f.EncounterID = "enc-a" })},
			want: []string{"stay completed 2026-11-01T10:00:00Z 2026-11-05T09:00:00Z"}},
		{name: "the episode with and without urn:uuid:", in: []Facts{admit,
			n("b", "discharge-inpatient-home", day(5, 9), status("finished"), ended(day(5, 9)),
				episode("https://sor2.sum.dsdn.dk/#id=265161000016000|urn:uuid:BD481C38-A921-11ED-AFA1-0242AC120002"))},
			want: []string{"stay completed 2026-11-01T10:00:00Z 2026-11-05T09:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// In every arrival order the same.
			for _, order := range permutations(len(tc.in)) {
				in := make([]Facts, len(tc.in))
				for i, k := range order {
					in[i] = tc.in[k]
				}
				var got []string
				ids := map[string]bool{}
				for _, s := range stays(in) {
					es := s.entries(sender)
					got = append(got, lines(es)...)
					for _, e := range es {
						if ids[e.ID] {
							t.Errorf("entry id %s twice", e.ID)
						}
						ids[e.ID] = true
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("arrival order %v\n got %q\nwant %q", order, got, tc.want)
				}
			}
		})
	}
}
