// Package demoidp is the OpenID provider of `overblik demo`: the op package
// of github.com/zitadel/oidc on that module's in-memory storage, with demo
// users who carry a CPR number and roles as claims, and a login page that
// lists them without passwords. It exists for the demo and for tests; a
// real deployment logs in through a real provider.
package demoidp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a demo person. Made up: the CPR numbers are the demo data's.
type User struct {
	ID    string
	Name  string
	CPR   string   // empty for someone without one (an admin)
	Roles []string // access role names
	About string   // shown on the login page, e.g. "relative of Karen"
	// Organization is a clinician's workplace, as a regional login's
	// claim would name it; empty for others.
	Organization string
}

// Config is the provider's one client (overblik) and its users.
type Config struct {
	ClientID, ClientSecret string
	RedirectURI            string // overblik's /auth/callback
	PostLogoutURI          string // overblik's front page
	// APIAudience, when set, is put in the tokens' audience besides the
	// client ID: what overblik's API wants in a bearer access token.
	APIAudience string
	Users       []User
	Logger      *slog.Logger
}

// Claim names the provider puts in ID and access tokens.
const (
	ClaimCPR          = "cpr"
	ClaimRoles        = "roles"
	ClaimName         = "name"
	ClaimOrganization = "organization"
)

// Provider is a running demo provider.
type Provider struct {
	Issuer string
	srv    *http.Server
}

// Start serves the provider on addr (e.g. "127.0.0.1:0") until Close.
func Start(addr string, cfg Config) (*Provider, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo provider: %w", err)
	}
	issuer := "http://" + ln.Addr().String()
	h, err := newHandler(issuer, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{Issuer: issuer, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo provider stopped", "err", err)
		}
	}()
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() error { return p.srv.Close() }

func newHandler(issuer string, cfg Config) (http.Handler, error) {
	password, err := randomString()
	if err != nil {
		return nil, err
	}
	users := userStore{byID: map[string]User{}, password: password}
	for _, u := range cfg.Users {
		users.byID[u.ID] = u
	}
	web := storage.WebClient(cfg.ClientID, cfg.ClientSecret, cfg.RedirectURI)
	st := &store{
		Storage:  storage.NewStorageWithClients(users, map[string]*storage.Client{cfg.ClientID: web}),
		users:    users,
		client:   client{Client: web, postLogout: []string{cfg.PostLogoutURI}},
		audience: cfg.APIAudience,
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("demo provider key: %w", err)
	}
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.Danish, language.English},
	}, st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("demo provider: %w", err)
	}
	l := &loginPage{store: st, users: cfg.Users, callback: op.AuthCallbackURL(provider), client: origin(cfg.RedirectURI)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", l.show)
	mux.Handle("POST /login", op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(l.choose))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "Logget ud / Logged out")
	})
	mux.Handle("/", provider)
	return mux, nil
}

// store is the module's in-memory storage with the demo users' claims
// added and the client made to issue JWT access tokens (which overblik's
// API verifies) and to carry the claims in the ID token.
type store struct {
	*storage.Storage
	users    userStore
	client   client
	audience string // of overblik's API
}

// AuthRequestByCode hands the token endpoint a request whose audience
// names overblik's API. The op module takes one audience for the access
// and the ID token alike, so the ID token names the API too, as with a
// provider whose audience mapper adds to both; overblik refuses an ID token
// as a bearer by its nonce and at_hash.
func (s *store) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil || s.audience == "" {
		return r, err
	}
	return apiRequest{AuthRequest: r, audience: s.audience}, nil
}

// The module's storage knows its own request type only.
func unwrap(r op.TokenRequest) op.TokenRequest {
	if a, ok := r.(apiRequest); ok {
		return a.AuthRequest
	}
	return r
}

func (s *store) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	return s.Storage.CreateAccessToken(ctx, unwrap(r))
}

func (s *store) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, refresh string) (string, string, time.Time, error) {
	return s.Storage.CreateAccessAndRefreshTokens(ctx, unwrap(r), refresh)
}

type apiRequest struct {
	op.AuthRequest
	audience string
}

func (r apiRequest) GetAudience() []string {
	return append(r.AuthRequest.GetAudience(), r.audience)
}

func (s *store) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == s.client.GetID() {
		return s.client, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

func (s *store) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	s.addClaims(ui, req.GetSubject())
	return nil
}

func (s *store) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	s.addClaims(ui, subject)
	return nil
}

func (s *store) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	claims, err := s.Storage.GetPrivateClaimsFromScopes(ctx, userID, clientID, scopes)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	if u, ok := s.users.byID[userID]; ok {
		claims[ClaimRoles] = u.Roles
		claims[ClaimName] = u.Name
		if u.CPR != "" {
			claims[ClaimCPR] = u.CPR
		}
		if u.Organization != "" {
			claims[ClaimOrganization] = u.Organization
		}
	}
	return claims, nil
}

func (s *store) addClaims(ui *oidc.UserInfo, subject string) {
	u, ok := s.users.byID[subject]
	if !ok {
		return
	}
	ui.Name = u.Name
	ui.AppendClaims(ClaimRoles, u.Roles)
	if u.CPR != "" {
		ui.AppendClaims(ClaimCPR, u.CPR)
	}
	if u.Organization != "" {
		ui.AppendClaims(ClaimOrganization, u.Organization)
	}
}

type client struct {
	op.Client
	postLogout []string
}

func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c client) PostLogoutRedirectURIs() []string     { return c.postLogout }
func (c client) LoginURL(id string) string            { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// userStore gives the storage its users; the password is random and never
// shown: the login page picks a user without one.
type userStore struct {
	byID     map[string]User
	password string
}

func (u userStore) GetUserByID(id string) *storage.User {
	if d, ok := u.byID[id]; ok {
		return u.user(d)
	}
	return nil
}

func (u userStore) GetUserByUsername(name string) *storage.User { return u.GetUserByID(name) }

func (u userStore) ExampleClientID() string { return "" }

func (u userStore) user(d User) *storage.User {
	first, last, _ := strings.Cut(d.Name, " ")
	return &storage.User{ID: d.ID, Username: d.ID, Password: u.password, FirstName: first, LastName: last,
		Email: d.ID + "@demo.invalid", EmailVerified: true, PreferredLanguage: language.Danish}
}

type loginPage struct {
	store    *store
	users    []User
	callback func(context.Context, string) string
	// client is the origin of overblik's callback. Browsers apply
	// form-action to the redirects that follow a form's POST too, and the
	// chosen user's POST ends at the client's /auth/callback.
	client string
}

// loginTmpl is the provider's page. Its landmark is a div with role main,
// not <main>: the browser tests know they are back at overblik by its
// "main h1".
var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="da"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo-login</title></head>
<body>
<div role="main">
<h1>Demo-login / <span lang="en">Demo login</span></h1>
<p>Vælg en demobruger. Alle personer er opdigtede. / <span lang="en">Pick a demo user. Everyone here is made up.</span></p>
<ul>
{{- range .Users}}
<li><form method="post" action="/login">
<input type="hidden" name="authRequestID" value="{{$.ID}}"><input type="hidden" name="user" value="{{.ID}}">
<button type="submit">{{.Name}}</button> {{.About}}
</form></li>
{{- end}}
</ul>
</div>
</body></html>
`))

func (l *loginPage) show(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self' "+l.client+"; frame-ancestors 'none'")
	_ = loginTmpl.Execute(w, struct {
		ID    string
		Users []User
	}{r.URL.Query().Get("authRequestID"), l.users})
}

func (l *loginPage) choose(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("authRequestID")
	if err := l.store.CheckUsernamePassword(r.PostFormValue("user"), l.store.users.password, id); err != nil {
		http.Error(w, "unknown login request or user", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

func randomString() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("demo provider: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// origin is scheme://host[:port] of u, for a CSP source list.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
