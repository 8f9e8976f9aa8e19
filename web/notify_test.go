package web

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/notify"
	"github.com/overblik/overblik/view"
)

// newNoticeEnv is secEnv with notices on: a real notifier whose store sits
// beside the access store, delivering e-mail into a mailbox.
func newNoticeEnv(t *testing.T) (*secEnv, *notify.Notifier, *notify.Mailbox) {
	t.Helper()
	e := newSecEnv(t)
	st := e.store.Store.(*sqlstore.Store)
	ns, err := notify.OpenStore(context.Background(), st.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return *e.now }
	mb := notify.NewMailbox(10)
	n, err := notify.New(ns, e.tl, e.pats, e.svc, notify.Options{Senders: map[notify.Channel]notify.Sender{notify.ChannelEmail: mb},
		BaseURL: "https://overblik.example", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Location: cph(t), DefaultIdentifierSystem: testSystem, LoginPath: "/auth/login", RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{Views: view.New(e.tl, e.pats, view.Options{Access: e.svc, Now: clock}), Patients: e.pats,
			Auth: e.auth, Access: e.svc, Logger: slog.New(slog.DiscardHandler), Notices: n, Mailbox: mb})
	s.now = clock
	e.h = s.Handler()
	return e, n, mb
}

func TestNoticePreferencesOnAccount(t *testing.T) {
	e, n, _ := newNoticeEnv(t)
	ctx := context.Background()

	// Rasmus may follow himself and Anna, who delegated to him; nobody else.
	page := html.UnescapeString(e.do(t, "relative", http.MethodGet, "/account", "").Body.String())
	for _, want := range []string{`action="/account/notices"`, `value="` + e.r + `"`, `value="` + e.a + `"`, "Anna", "Beskeder om dine aftaler"} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	if strings.Contains(page, `value="`+e.b+`"`) {
		t.Error("the account page offers a patient who delegated nothing")
	}

	post := func(user string, kv ...string) int {
		t.Helper()
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1]) // follow comes once per patient
		}
		return e.do(t, user, http.MethodPost, "/account/notices?lang=en", v.Encode(), formCT).Code
	}
	if got := post("relative", "channel", "email", "address", "rasmus@example.test", "follow", e.a); got != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", got)
	}
	if got := post("relative", "csrf", testCSRF, "channel", "email", "address", "rasmus@example.test", "changes", "1",
		"reminders", "1", "quiet_from", "21:30", "quiet_to", "06:45", "follow", e.r, "follow", e.a, "follow", e.b); got != http.StatusSeeOther {
		t.Fatalf("saving: %d, want 303", got)
	}
	p, err := n.Preferences(ctx, e.r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Follow, sorted(e.a, e.r)) || p.Address != "rasmus@example.test" || p.Lang != "en" || !p.Changes || p.Conflicts ||
		!p.Reminders || p.QuietFrom.String() != "21:30" || p.QuietTo.String() != "06:45" || p.Name != "Rasmus" || p.Subject != "sub-r" {
		t.Errorf("saved %+v", p)
	}
	for _, bad := range [][]string{
		{"csrf", testCSRF, "channel", "email", "address", "not an address", "follow", e.r},
		{"csrf", testCSRF, "channel", "webhook", "address", "+4512345678", "follow", e.r}, // not configured
		{"csrf", testCSRF, "channel", "email", "address", "r@example.test", "quiet_from", "25:00", "quiet_to", "07:00"},
	} {
		if got := post("relative", bad...); got != http.StatusBadRequest {
			t.Errorf("POST %v: %d, want 400", bad, got)
		}
	}
	if got, _ := n.Preferences(ctx, e.r); got.Address != "rasmus@example.test" {
		t.Errorf("a refused form changed the preferences: %+v", got)
	}
	if got := post("clinician", "csrf", testCSRF, "channel", "email", "address", "c@example.test"); got != http.StatusForbidden && got != http.StatusNotFound {
		t.Errorf("a clinician saving notice preferences: %d", got)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestFailedNoticesOnAdmin(t *testing.T) {
	e, _, _ := newNoticeEnv(t)
	page := e.do(t, "admin", http.MethodGet, "/admin", "").Body.String()
	if !strings.Contains(page, "Beskeder, der ikke kunne sendes") || !strings.Contains(page, "Ingen.") {
		t.Errorf("the admin page lacks the failed notices: %.2000s", page)
	}
}

func TestDemoMailbox(t *testing.T) {
	e, _, mb := newNoticeEnv(t)
	mb.Send(context.Background(), notify.Message{Key: "k1", Kind: notify.KindChange, To: "birthe@example.test", Lang: "da",
		Subject: "Overblik: en ændring i aftalerne", Text: "Der er en ændring i dine aftaler. Se Overblik.", Link: "https://overblik.example/p/" + url.PathEscape(e.a),
		Created: *e.now})
	if home := e.do(t, "relative", http.MethodGet, "/", "").Body.String(); !strings.Contains(home, `href="/demo/mail"`) {
		t.Error("the front page does not link to the demo's mailbox")
	}
	page := html.UnescapeString(e.do(t, "relative", http.MethodGet, "/demo/mail", "").Body.String())
	for _, want := range []string{"birthe@example.test", "Overblik: en ændring i aftalerne", "Der er en ændring i dine aftaler. Se Overblik."} {
		if !strings.Contains(page, want) {
			t.Errorf("/demo/mail lacks %q", want)
		}
	}
	// Without a mailbox (serve) there is no such page.
	if got := newSecEnv(t).do(t, "relative", http.MethodGet, "/demo/mail", "").Code; got != http.StatusNotFound {
		t.Errorf("/demo/mail without a mailbox: %d, want 404", got)
	}
}
