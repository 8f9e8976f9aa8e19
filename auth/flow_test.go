package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/access/sqlstore"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/auth"
	"github.com/overblik/overblik/auth/demoidp"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

// The whole login flow against a real OpenID provider (zitadel's op, on
// loopback) and overblik's real web server, access service and SQLite store.

const (
	system   = "urn:oid:1.2.208.176.1.2"
	cprA     = "3002410148"
	cprB     = "3102380127"
	cprR     = "3002500246"
	clientID = "overblik"
	apiKey   = "a-long-random-key-for-the-journal-system"
	// apiAudience is what the provider names overblik's API in access tokens.
	apiAudience = "overblik-api"
)

type stubTimelines struct{}

func (stubTimelines) Timeline(_ context.Context, p aggregator.PatientRef) (*aggregator.Timeline, error) {
	return &aggregator.Timeline{Patient: p.Handle, Entries: []aggregator.Entry{{
		ID: "h/Appointment/1", Source: "h", Sector: aggregator.SectorHospital, Kind: aggregator.KindAppointment,
		Status: aggregator.StatusBooked, Start: time.Now().Add(time.Hour), End: time.Now().Add(2 * time.Hour),
		Title: "Kontrol i ortopædkirurgisk ambulatorium",
	}}}, nil
}

func (s stubTimelines) Cached(ctx context.Context, h string) (*aggregator.Timeline, bool, error) {
	t, err := s.Timeline(ctx, aggregator.PatientRef{Handle: h})
	return t, true, err
}

func (stubTimelines) Changes(context.Context, string, time.Time) ([]aggregator.Change, error) {
	return nil, nil
}

func (stubTimelines) Conflicts(*aggregator.Timeline) []aggregator.Conflict { return nil }

type flowEnv struct {
	auth     *auth.Auth
	base     string
	idp      *demoidp.Provider
	svc      *access.Service
	patients *aggregator.Patients
	handle   map[string]string // cpr -> handle
}

// flowOpts change what newFlowEnv wires; the zero value is the usual.
type flowOpts struct {
	sessions   auth.Store
	noAudience bool // accept no bearer JWTs
	client     *http.Client
	now        func() time.Time
	requireAT  bool
}

func newFlowEnv(t *testing.T, opts ...flowOpts) *flowEnv {
	t.Helper()
	var o flowOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	audience := apiAudience
	if o.noAudience {
		audience = ""
	}
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	idp, err := demoidp.Start("127.0.0.1:0", demoidp.Config{
		ClientID: clientID, ClientSecret: "demo-secret", RedirectURI: base + "/auth/callback", PostLogoutURI: base + "/",
		APIAudience: apiAudience,
		Users: []demoidp.User{
			{ID: "anna", Name: "Birthe Østergaard Madsen", CPR: cprA, Roles: []string{"patient"}},
			{ID: "bo", Name: "Jørgen Bækgaard Nielsen", CPR: cprB, Roles: []string{"patient"}},
			{ID: "rasmus", Name: "Åse Lund Kjærsgaard", CPR: cprR, Roles: []string{"patient", "relative"}, About: "pårørende"},
			{ID: "clara", Name: "Clara Klinik", Roles: []string{"clinician"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })

	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "access.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := access.NewService(st, access.Options{})
	pats, err := aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	e := &flowEnv{base: base, idp: idp, svc: svc, patients: pats, handle: map[string]string{}}
	for _, cpr := range []string{cprA, cprB, cprR} {
		e.handle[cpr] = pats.Handle(aggregator.Identifier{System: system, Value: cpr})
	}
	// A delegated to R.
	if _, err := svc.Grant(ctx, access.Principal{Subject: "anna", Roles: []access.Role{access.RolePatient}, Handle: e.handle[cprA]},
		access.GrantRequest{Grantee: e.handle[cprR]}); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(ctx, auth.Config{
		OIDC: &auth.OIDCConfig{
			Issuer: idp.Issuer, ClientID: clientID, ClientSecret: "demo-secret",
			RedirectURL: base + "/auth/callback", PostLogoutURL: base + "/", Scopes: []string{"profile"},
			IdentifierSystem: system, Audience: audience, RequireATJWT: o.requireAT,
		},
		APIKeys:  []auth.APIKey{{Name: "journal", SHA256: sha256.Sum256([]byte(apiKey)), Role: access.RoleClinician}},
		Patients: pats, Sessions: o.sessions, HTTPClient: o.client, Now: o.now, Logins: svc,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.auth = a
	srv := web.New(web.Config{DefaultIdentifierSystem: system, LoginPath: "/auth/login"},
		web.Deps{Views: view.New(stubTimelines{}, pats, view.Options{Access: svc}), Patients: pats, Auth: a, Access: svc, AuthRoutes: a.Handler()})
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	hs.Start()
	t.Cleanup(hs.Close)
	return e
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hiddenAuthRequest = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// login opens target, is sent to the provider, picks user on its login page
// and follows the redirects back; it returns the last response.
func (e *flowEnv) login(t *testing.T, c *http.Client, user, target string) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, c, e.base+target)
	if !strings.HasPrefix(resp.Request.URL.String(), e.idp.Issuer+"/login") {
		t.Fatalf("opening %s without a session ended at %s, want the provider's login page", target, resp.Request.URL)
	}
	m := hiddenAuthRequest.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Clara Klinik") {
		t.Fatalf("login page does not list the demo users: %s", body)
	}
	resp, err := c.PostForm(e.idp.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {user}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLoginFlow(t *testing.T) {
	e := newFlowEnv(t)

	// Without a session: pages go to the login, the API answers 401.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, noRedirect, e.base+"/p/"+e.handle[cprA])
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/login?next=") {
		t.Fatalf("page without session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, noRedirect, e.base+"/api/v1/patients/"+e.handle[cprA]+"/timeline"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without credentials: %d", resp.StatusCode)
	}

	// Patient A logs in and lands where they were going.
	anna := newBrowser(t)
	resp, body := e.login(t, anna, "anna", "/p/"+e.handle[cprA])
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/p/"+e.handle[cprA] || !strings.Contains(body, "Kontrol i ortopædkirurgisk") {
		t.Fatalf("after login: %d at %s: %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	var session *http.Cookie
	for _, h := range resp.Request.Response.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(h); err == nil && c.Name == "overblik_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie = %+v, want HttpOnly and SameSite=Lax", session)
	}
	// A cannot reach B.
	if resp, _ := get(t, anna, e.base+"/p/"+e.handle[cprB]); resp.StatusCode != http.StatusNotFound {
		t.Errorf("A on B's timeline: %d, want 404", resp.StatusCode)
	}

	// The relative logs in and sees A's timeline, with A and their own to switch between.
	rasmus := newBrowser(t)
	e.login(t, rasmus, "rasmus", "/auth/login?next=/")
	resp, body = get(t, rasmus, e.base+"/p/"+e.handle[cprA])
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/p/`+e.handle[cprR]+`"`) {
		t.Errorf("relative on A: %d, switcher missing: %.500s", resp.StatusCode, body)
	}
	if resp, _ := get(t, rasmus, e.base+"/p/"+e.handle[cprB]); resp.StatusCode != http.StatusNotFound {
		t.Errorf("relative on B: %d, want 404", resp.StatusCode)
	}

	// A's log shows the relative's view.
	_, body = get(t, anna, e.base+"/account/log?lang=en")
	if !strings.Contains(body, "Åse Lund Kjærsgaard") || !strings.Contains(body, "relative") {
		t.Errorf("A's log lacks the relative's view: %.800s", body)
	}

	// Logout ends the session here and at the provider, then comes back.
	_, page := get(t, anna, e.base+"/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the front page")
	}
	resp, err := anna.PostForm(e.base+"/auth/logout", url.Values{"csrf": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, err = anna.PostForm(e.base+"/auth/logout", url.Values{"csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	end := regexp.MustCompile(`url=([^"]+)"`).FindStringSubmatch(string(b))
	if end == nil || !strings.HasPrefix(strings.ReplaceAll(end[1], "&amp;", "&"), e.idp.Issuer) {
		t.Fatalf("logout page does not go on to the provider's end_session_endpoint: %s", b)
	}
	// The page (and so the browser's history and the provider's log) holds
	// no token: the ID token's payload names the person and their CPR.
	if strings.Contains(string(b), "eyJ") || strings.Contains(string(b), "id_token_hint") {
		t.Errorf("logout page carries a token: %s", b)
	}
	endURL, _ := url.Parse(strings.ReplaceAll(end[1], "&amp;", "&"))
	if q := endURL.Query(); q.Get("client_id") != clientID || q.Get("post_logout_redirect_uri") != e.base+"/" {
		t.Errorf("end_session request %s lacks client_id or post_logout_redirect_uri", endURL)
	}
	resp, _ = get(t, anna, strings.ReplaceAll(end[1], "&amp;", "&"))
	if resp.Request.URL.String() != e.base+"/" {
		t.Errorf("after the provider's logout the browser is at %s, want overblik's front page", resp.Request.URL)
	}
	resp, _ = get(t, anna, e.base+"/p/"+e.handle[cprA])
	if !strings.HasPrefix(resp.Request.URL.String(), e.idp.Issuer+"/login") {
		t.Errorf("after logout the timeline opened without a login: %s", resp.Request.URL)
	}
}

// appTokens does the code flow with PKCE as an app does for itself, as
// user, and returns the tokens it gets (an ID token among their extras).
func appTokens(t *testing.T, e *flowEnv, user string, opts ...oauth2.AuthCodeOption) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	conf := oauth2.Config{ClientID: clientID, ClientSecret: "demo-secret", RedirectURL: e.base + "/auth/callback",
		Scopes:   []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: e.idp.Issuer + "/authorize", TokenURL: e.idp.Issuer + "/oauth/token"}}
	verifier := oauth2.GenerateVerifier()
	app := newBrowser(t)
	app.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), e.base) {
			return http.ErrUseLastResponse // the code is for the app, not the web server
		}
		return nil
	}
	_, body := get(t, app, conf.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(verifier))...))
	m := hiddenAuthRequest.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login page: %s", body)
	}
	resp, err := app.PostForm(e.idp.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {user}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in %q", resp.Header.Get("Location"))
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("access token is not a JWT")
	}
	return tok
}

// TestLoginNamesTheGrantee: A granted R by number only; once R signs in,
// A's grant names R as R's login does, and nobody else's login changes it.
func TestLoginNamesTheGrantee(t *testing.T) {
	e := newFlowEnv(t)
	annaP := access.Principal{Subject: "anna", Roles: []access.Role{access.RolePatient}, Handle: e.handle[cprA]}
	granteeName := func() string {
		t.Helper()
		gs, err := e.svc.Grants(context.Background(), annaP)
		if err != nil || len(gs) != 1 {
			t.Fatalf("A's grants: %+v, %v", gs, err)
		}
		return gs[0].GranteeName
	}
	e.login(t, newBrowser(t), "bo", "/auth/login?next=/")
	if n := granteeName(); n != "" {
		t.Fatalf("after B signed in, A's grant to R names %q", n)
	}
	e.login(t, newBrowser(t), "rasmus", "/auth/login?next=/")
	if n := granteeName(); n != "Åse Lund Kjærsgaard" {
		t.Errorf("after R signed in, A's grant to R names %q, want R's name", n)
	}
}

func TestBearerAccessTokenFromTheSameIssuer(t *testing.T) {
	e := newFlowEnv(t)
	tok := appTokens(t, e, "clara")

	call := func(token, reason string) int {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/api/v1/patients/"+e.handle[cprB]+"/timeline", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(web.ReasonHeader, reason)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(tok.AccessToken, "referral"); got != http.StatusNotFound {
		// B's handle is unknown to the server until someone looks B up.
		t.Fatalf("timeline before look-up: %d, want 404", got)
	}
	if got := lookup(t, e, "Bearer "+tok.AccessToken, cprB, "referral"); got != http.StatusOK {
		t.Fatalf("look-up with the access token: %d", got)
	}
	if got := call(tok.AccessToken, "referral"); got != http.StatusOK {
		t.Errorf("clinician's token with a reason: %d, want 200", got)
	}
	if got := call(tok.AccessToken, ""); got != http.StatusBadRequest {
		t.Errorf("clinician's token without a reason: %d, want 400", got)
	}
	tampered := tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"
	if got := call(tampered, "referral"); got != http.StatusUnauthorized {
		t.Errorf("tampered token: %d, want 401", got)
	}
}

func lookup(t *testing.T, e *flowEnv, authz, cpr, reason string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/patients/lookup",
		strings.NewReader(`{"identifier":"`+cpr+`","reason":"`+reason+`"}`))
	req.Header.Set("Authorization", authz)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAPIKeyClinicianIsAudited(t *testing.T) {
	e := newFlowEnv(t)
	if got := lookup(t, e, "Bearer "+apiKey, cprB, "discharge planning"); got != http.StatusOK {
		t.Fatalf("look-up with the API key: %d", got)
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+"/api/v1/patients/"+e.handle[cprB]+"/timeline", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set(web.ReasonHeader, "discharge planning")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("timeline with the API key: %d", resp.StatusCode)
	}
	pg, err := e.svc.AuditLog(context.Background(), access.Principal{Subject: "bo", Roles: []access.Role{access.RolePatient}, Handle: e.handle[cprB]}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range pg.Events {
		got = append(got, string(ev.Action)+"/"+ev.Actor+"/"+string(ev.ActorRole)+"/"+ev.Reason)
	}
	want := []string{"view/apikey:journal/clinician/discharge planning", "lookup/apikey:journal/clinician/discharge planning"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("B's log = %v, want %v", got, want)
	}
	for _, bad := range []string{"Bearer wrong-key", "Basic " + apiKey, "Bearer "} {
		if got := lookup(t, e, bad, cprB, "x"); got != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", bad, got)
		}
	}
}

func TestNoAuthenticationMethodIsRefused(t *testing.T) {
	_, err := auth.New(context.Background(), auth.Config{Patients: &aggregator.Patients{}})
	if err == nil {
		t.Fatal("auth.New without OIDC or API keys succeeded")
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestLoginRedirectStaysHere: /auth/login?next=/%09/evil.example/phish
// used to end in "303 Location: /<TAB>/evil.example/phish", which browsers
// read as http://evil.example/phish. Now the callback sends the browser to
// a path on this site.
func TestLoginRedirectStaysHere(t *testing.T) {
	e := newFlowEnv(t)
	for _, tc := range []struct{ next, want string }{
		{"/%09/evil.example/phish", "/"},
		{"/%5C/evil.example", "/"},
		{"%2F%2Fevil.example", "/"},
		{"https://evil.example/", "/"},
		{"/p/" + e.handle[cprA] + "%3Flang%3Den", "/p/" + e.handle[cprA] + "?lang=en"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			c := newBrowser(t)
			var callback *http.Response
			c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
				if req.Response != nil && req.Response.Request.URL.Path == "/auth/callback" {
					callback = req.Response
					return http.ErrUseLastResponse
				}
				return nil
			}
			_, page := get(t, c, e.base+"/auth/login?next="+tc.next)
			m := hiddenAuthRequest.FindStringSubmatch(page)
			if m == nil {
				t.Fatal("no login page")
			}
			resp, err := c.PostForm(e.idp.Issuer+"/login", url.Values{"authRequestID": {m[1]}, "user": {"anna"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if callback == nil {
				t.Fatalf("the login did not come back through /auth/callback (ended at %s)", resp.Request.URL)
			}
			if got := callback.Header.Get("Location"); callback.StatusCode != http.StatusSeeOther || got != tc.want {
				t.Errorf("callback: %d Location %q, want 303 %q", callback.StatusCode, got, tc.want)
			}
		})
	}
}
