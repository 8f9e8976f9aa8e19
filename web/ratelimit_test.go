package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/view"
)

// rateEnv is a server with access control whose limits the test sets, an
// /auth/ that answers like a login, and a clock the test moves.
type rateEnv struct {
	h   http.Handler
	mu  sync.Mutex
	now time.Time
}

func newRateEnv(t *testing.T, limits RateLimits, trusted ...string) *rateEnv {
	t.Helper()
	e := newSecEnv(t)
	ids := map[string]Identity{"bad": {}}
	for _, name := range []string{"clinician", "colleague"} {
		p := e.principals["clinician"]
		p.Subject = "sub-" + name
		ids[name] = Identity{Principal: p}
	}
	var proxies []netip.Prefix
	for _, s := range trusted {
		proxies = append(proxies, netip.MustParsePrefix(s))
	}
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://login.example.test/authorize", http.StatusFound)
	})
	re := &rateEnv{now: testNow(t)}
	fp := newFakePatients()
	s := New(Config{Location: cph(t), DefaultIdentifierSystem: testSystem, LoginPath: "/auth/login", RateLimits: limits, TrustedProxies: proxies},
		Deps{Views: view.New(fakeTimelines{tl: testTimeline(t)}, fp, view.Options{Access: e.svc}), Patients: fp,
			Auth: headerAuth{ids: ids}, Access: e.svc, AuthRoutes: login})
	s.now = func() time.Time { re.mu.Lock(); defer re.mu.Unlock(); return re.now }
	re.h = s.Handler()
	return re
}

func (e *rateEnv) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

// do sends a request from the connection address from, with headers as
// "Name: value".
func (e *rateEnv) do(method, target, from string, headers ...string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"identifier":"` + cprA + `","reason":"henvisning"}`)
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = from
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *rateEnv) lookup(from, user string, headers ...string) int {
	return e.do(http.MethodPost, "/api/v1/patients/lookup", from, append(headers, "X-Test-User: "+user)...).Code
}

// TestLoginFloodDoesNotStopLookups: 100 anonymous logins from one address
// (a hospital's NAT) use up the login's limit, not a signed-in clinician's
// look-ups from the same address.
func TestLoginFloodDoesNotStopLookups(t *testing.T) {
	e := newRateEnv(t, RateLimits{})
	const nat = "192.0.2.10:40000"
	refused := 0
	for range 100 {
		switch code := e.do(http.MethodGet, "/auth/login?next=/", nat).Code; code {
		case http.StatusFound:
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("login: %d", code)
		}
	}
	if refused != 100-DefaultLoginPerMinute {
		t.Errorf("%d of 100 logins refused, want %d", refused, 100-DefaultLoginPerMinute)
	}
	if got := e.lookup(nat, "clinician"); got != http.StatusOK {
		t.Errorf("clinician's look-up after the login flood: %d, want 200", got)
	}
}

// TestLookupLimitIsPerPrincipal: a clinician who uses up their look-ups
// does not use up a colleague's behind the same address.
func TestLookupLimitIsPerPrincipal(t *testing.T) {
	e := newRateEnv(t, RateLimits{Lookup: 2})
	const nat = "192.0.2.10:40000"
	var got []int
	for range 3 {
		got = append(got, e.lookup(nat, "clinician"))
	}
	if want := []int{200, 200, 429}; !slices.Equal(got, want) {
		t.Errorf("clinician's look-ups: %v, want %v", got, want)
	}
	if code := e.lookup(nat, "colleague"); code != http.StatusOK {
		t.Errorf("colleague's look-up: %d, want 200", code)
	}
	e.advance(time.Minute)
	if code := e.lookup(nat, "clinician"); code != http.StatusOK {
		t.Errorf("clinician's look-up a minute later: %d, want 200", code)
	}
}

// TestClientAddress: X-Forwarded-For counts only when the connection comes
// from a configured proxy, and then its nearest untrusted address is the
// client; an IPv6 client counts by its /64.
func TestClientAddress(t *testing.T) {
	type req struct {
		from, xff string
		want      int
	}
	for _, tc := range []struct {
		name    string
		trusted []string
		reqs    []req
	}{
		{"behind a trusted proxy each client has its own limit", []string{"10.0.0.0/8"}, []req{
			{"10.0.0.2:1000", "203.0.113.1", 302},
			{"10.0.0.3:1000", "203.0.113.2", 302},
			{"10.0.0.2:1001", "203.0.113.1", 429},
		}},
		{"what the client wrote before the proxy's entry does not count", []string{"10.0.0.0/8"}, []req{
			{"10.0.0.2:1000", "198.51.100.1, 203.0.113.1", 302},
			{"10.0.0.2:1001", "198.51.100.2, 203.0.113.1", 429},
		}},
		{"a chain of trusted proxies", []string{"10.0.0.0/8", "192.0.2.0/24"}, []req{
			{"10.0.0.2:1000", "203.0.113.1, 192.0.2.7", 302},
			{"10.0.0.2:1001", "203.0.113.1, 192.0.2.8", 429},
		}},
		{"from an untrusted address the header is ignored", []string{"10.0.0.0/8"}, []req{
			{"198.51.100.7:1000", "203.0.113.9", 302},
			{"198.51.100.7:1001", "203.0.113.10", 429},
		}},
		{"without trusted proxies the header is ignored, private networks too", nil, []req{
			{"10.0.0.2:1000", "203.0.113.1", 302},
			{"10.0.0.2:1001", "203.0.113.2", 429},
		}},
		{"an IPv6 client counts by its /64", nil, []req{
			{"[2001:db8:1:2::1]:1000", "", 302},
			{"[2001:db8:1:2::ffff]:1000", "", 429},
			{"[2001:db8:1:3::1]:1000", "", 302},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRateEnv(t, RateLimits{Login: 1}, tc.trusted...)
			for i, r := range tc.reqs {
				var h []string
				if r.xff != "" {
					h = append(h, "X-Forwarded-For: "+r.xff)
				}
				if got := e.do(http.MethodGet, "/auth/login", r.from, h...).Code; got != r.want {
					t.Errorf("request %d from %s (X-Forwarded-For %q): %d, want %d", i, r.from, r.xff, got, r.want)
				}
			}
		})
	}
}

// TestFailedBearerAttempts: past its budget of wrong bearer credentials an
// address gets 429 without the credential being checked, until the
// minute is over; other addresses are not affected.
func TestFailedBearerAttempts(t *testing.T) {
	e := newRateEnv(t, RateLimits{FailedBearer: 3})
	const attacker, other = "198.51.100.66:5000", "192.0.2.20:5000"
	timeline := "/api/v1/patients/" + testHandle + "/timeline"
	var got []int
	for range 5 {
		got = append(got, e.do(http.MethodGet, timeline, attacker, "Authorization: Bearer forged", "X-Test-User: bad").Code)
	}
	if want := []int{401, 401, 401, 429, 429}; !slices.Equal(got, want) {
		t.Errorf("wrong bearer credentials: %v, want %v", got, want)
	}
	rec := e.do(http.MethodGet, timeline, attacker, "Authorization: Bearer forged", "X-Test-User: bad")
	if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without a Retry-After: %q", ra)
	}
	if code := e.lookup(other, "clinician", "Authorization: Bearer key"); code != http.StatusOK {
		t.Errorf("a caller from another address: %d, want 200", code)
	}
	if code := e.do(http.MethodGet, "/", attacker).Code; code != http.StatusOK {
		t.Errorf("the attacker's address without a bearer credential: %d, want 200", code)
	}
	e.advance(time.Minute)
	if code := e.do(http.MethodGet, timeline, attacker, "Authorization: Bearer forged", "X-Test-User: bad").Code; code != http.StatusUnauthorized {
		t.Errorf("a minute later: %d, want 401", code)
	}
}
