package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/calendar"
	"github.com/overblik/overblik/internal/icaljs"
)

// TestDemoCalendarFeeds is the issue's check on the demo as `overblik
// demo` wires it: a feed is made on /account for the demo patient and for
// her relative, read by a calendar app (no cookie) and parsed by ical.js:
// every entry of the timeline each may see, at its instant, cancelled ones
// cancelled (or gone 30 days after), nothing restricted for the relative,
// and 304 when nothing changed.
func TestDemoCalendarFeeds(t *testing.T) {
	s := startDemoSite(t)
	birthe := patientHandle(t, s.a, s.d.patients[0].Handle)
	for _, who := range []string{"patient-1", "relative"} {
		t.Run(who, func(t *testing.T) {
			c := s.login(t, who)
			account := s.read(t, c, s.base+"/account")
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(account)
			if csrf == nil || !strings.Contains(account, `action="/account/calendar"`) {
				t.Fatalf("the account page offers no calendar feed: %.500s", account)
			}
			resp, err := c.PostForm(s.base+"/account/calendar", url.Values{"csrf": {csrf[1]}, "handle": {birthe}})
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := regexp.MustCompile(`value="(` + regexp.QuoteMeta(s.base) + `/calendar/[A-Za-z0-9_-]{43}\.ics)"`).FindSubmatch(page)
			if resp.StatusCode != http.StatusOK || m == nil {
				t.Fatalf("making a feed: %d, no address on the page", resp.StatusCode)
			}
			feed := string(m[1])

			app := &http.Client{Timeout: 10 * time.Second} // a calendar app: no cookies
			resp, err = app.Get(feed)
			if err != nil {
				t.Fatal(err)
			}
			ics, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET feed: %d", resp.StatusCode)
			}
			cal := icaljs.Parse(t, ics)
			if cal.Name != "Aftaler for "+s.d.patients[0].Name+" (Overblik)" {
				t.Errorf("calendar name %q", cal.Name)
			}

			// What the same person sees of the timeline as JSON.
			var tl struct {
				Entries []struct {
					ID, Status, Sensitivity string
					Start, Updated          *time.Time
					AllDay                  bool `json:"all_day"`
				}
			}
			if err := json.Unmarshal([]byte(s.read(t, c, s.base+"/api/v1/patients/"+birthe+"/timeline")), &tl); err != nil {
				t.Fatal(err)
			}
			starts := map[int64]string{}
			for _, ev := range cal.Events {
				if !ev.Start.Date {
					starts[ev.Start.Unix] = ev.Status
				}
			}
			want, restricted := 0, 0
			for _, e := range tl.Entries {
				if e.Sensitivity == "restricted" {
					restricted++
				}
				if e.Status == "cancelled" && e.Updated != nil && time.Since(*e.Updated) >= calendar.KeepCancelled {
					continue
				}
				want++
				if e.AllDay {
					continue
				}
				st, ok := starts[e.Start.Unix()]
				switch {
				case !ok:
					t.Errorf("%s (%v) is not in the feed", e.ID, e.Start)
				case (e.Status == "cancelled") != (st == "CANCELLED"):
					t.Errorf("%s: status %s in the timeline, %s in the feed", e.ID, e.Status, st)
				}
			}
			if len(cal.Events) != want {
				t.Errorf("%d events in the feed, %d entries to show", len(cal.Events), want)
			}
			if who == "relative" && (restricted != 0 || regexp.MustCompile(`(?i)psykiatri`).Match(ics)) {
				t.Error("the relative's feed names a restricted entry")
			}
			if who == "patient-1" && restricted == 0 {
				t.Error("the demo patient has no restricted entry: the relative's check would prove nothing")
			}

			req, _ := http.NewRequest(http.MethodGet, feed, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			again, err := app.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("a fetch with the ETag: %d, want 304", again.StatusCode)
			}
		})
	}
}
