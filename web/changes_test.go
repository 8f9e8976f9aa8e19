package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// changingTimelines serves a timeline and the changes recorded for it.
type changingTimelines struct {
	fakeTimelines
	changes []aggregator.Change
	since   *time.Time // the since of the last call
}

func (c changingTimelines) Changes(_ context.Context, _ string, since time.Time) ([]aggregator.Change, error) {
	*c.since = since
	var out []aggregator.Change
	for _, ch := range c.changes {
		if ch.Noticed.After(since) {
			out = append(out, ch)
		}
	}
	return out, nil
}

func TestChanges(t *testing.T) {
	loc := cph(t)
	tl := testTimeline(t)
	noticed := tl.GeneratedAt
	var since time.Time
	src := changingTimelines{fakeTimelines: fakeTimelines{tl: tl}, since: &since, changes: []aggregator.Change{
		{Version: 2, Noticed: noticed, EntryID: "hospital/Encounter/adm1", Kind: aggregator.ChangeMoved, Title: "Indlæggelse til hofteoperation",
			OldStart: time.Date(2026, 12, 1, 8, 0, 0, 0, loc), OldEnd: time.Date(2026, 12, 4, 12, 0, 0, 0, loc)},
		{Version: 2, Noticed: noticed, EntryID: "hospital/Encounter/past1", Kind: aggregator.ChangeAdded, Title: "Blodprøve"},
		{Version: 2, Noticed: noticed, EntryID: "gp/Appointment/gone", Kind: aggregator.ChangeRemoved, Title: "Vaccination",
			OldStart: time.Date(2026, 12, 9, 14, 0, 0, 0, loc)},
		{Version: 2, Noticed: noticed, EntryID: "gp/Appointment/not-shown", Kind: aggregator.ChangeCancelled, Title: "Hidden"},
	}}
	env := newTestEnv(t, Config{}, src)

	t.Run("API", func(t *testing.T) {
		rec := env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/changes?since=2026-11-30T00:00:00%2B01:00", "")
		var got struct {
			Changes []struct {
				Entry    string  `json:"entry"`
				Kind     string  `json:"kind"`
				Version  int64   `json:"version"`
				OldStart *string `json:"old_start"`
			} `json:"changes"`
		}
		decodeJSON(t, rec, &got)
		if !since.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, loc)) {
			t.Errorf("since passed on = %v", since)
		}
		var kinds []string
		for _, c := range got.Changes {
			kinds = append(kinds, c.Kind+":"+c.Entry)
		}
		// The cancelled entry is in no timeline the viewer sees: its change is left out.
		want := "moved:hospital/Encounter/adm1 added:hospital/Encounter/past1 removed:gp/Appointment/gone"
		if strings.Join(kinds, " ") != want {
			t.Errorf("changes = %v, want %s", kinds, want)
		}
		if got.Changes[0].Version != 2 || got.Changes[0].OldStart == nil || !strings.HasPrefix(*got.Changes[0].OldStart, "2026-12-01T08:00:00+01:00") {
			t.Errorf("moved change = %+v", got.Changes[0])
		}
		assertAPIError(t, env.do(t, http.MethodGet, "/api/v1/patients/"+testHandle+"/changes?since=yesterday", ""), http.StatusBadRequest, "bad_request")
		assertAPIError(t, env.do(t, http.MethodGet, "/api/v1/patients/nobody/changes", ""), http.StatusNotFound, "not_found")
	})

	t.Run("page marks what changed since the last look", func(t *testing.T) {
		first := env.do(t, http.MethodGet, "/p/"+testHandle, "")
		body := first.Body.String()
		if strings.Contains(body, "Flyttet fra") || strings.Contains(body, "change-tag") {
			t.Error("a first look marks changes: nothing is new to this viewer yet")
		}
		var seen string
		for _, c := range first.Result().Cookies() {
			if c.Name == seenCookie {
				seen = c.Name + "=" + c.Value
				if c.Path != "/p/"+testHandle || !c.HttpOnly {
					t.Errorf("seen cookie path %q httponly %v", c.Path, c.HttpOnly)
				}
			}
		}
		if seen == "" {
			t.Fatal("the page does not remember the look")
		}
		// A viewer who last looked long before the refresh that noticed the changes.
		body = env.do(t, http.MethodGet, "/p/"+testHandle, "", "Cookie: seen=1").Body.String()
		for _, want := range []string{"Flyttet fra 1. dec 08.00", ">Ny<", "Fjernet siden du sidst kiggede", "Vaccination (9. dec 14.00)"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(body, "Hidden") {
			t.Error("the page marks an entry the viewer does not see")
		}
		again := env.do(t, http.MethodGet, "/p/"+testHandle, "", "Cookie: "+seen).Body.String()
		if strings.Contains(again, "Flyttet fra") {
			t.Error("changes already seen are marked again")
		}
	})
}
