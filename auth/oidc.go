package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/overblik/overblik/access"
)

// OIDCConfig names the provider, this client and the claims that carry the
// person's identifier, name and roles.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this server's /auth/callback as the provider knows it.
	RedirectURL string
	// PostLogoutURL is where the provider sends the browser after logout
	// (this server's front page); empty leaves it to the provider.
	PostLogoutURL string
	Scopes        []string // besides "openid"
	// Claims; defaults "cpr", "name" and "roles".
	IdentifierClaim string
	NameClaim       string
	RolesClaim      string
	// OrganizationClaim names the claim with a clinician's workplace, which
	// widens their worklist and is shown in the patients' logs; empty: none.
	OrganizationClaim string
	// IdentifierSystem is the system of the identifier claim (CPR).
	IdentifierSystem string
	// Audience is what the provider names overblik's API in the access
	// tokens it issues for it. Bearer JWTs are accepted only with it set,
	// and it must not be ClientID: ID tokens carry that.
	Audience string
	// RequireATJWT refuses bearer JWTs without the header typ "at+jwt",
	// for a provider that types its access tokens (RFC 9068). Without it a
	// token typed as any other kind of JWT is still refused.
	RequireATJWT bool
}

type relyingParty struct {
	a          *Auth
	cfg        OIDCConfig
	provider   *oidc.Provider
	oauth      oauth2.Config
	ids        *oidc.IDTokenVerifier
	tokens     *oidc.IDTokenVerifier // nil: no bearer JWTs
	endSession string
}

func newRelyingParty(ctx context.Context, a *Auth, cfg OIDCConfig) (*relyingParty, error) {
	if cfg.IdentifierClaim == "" {
		cfg.IdentifierClaim = "cpr"
	}
	if cfg.NameClaim == "" {
		cfg.NameClaim = "name"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	if cfg.Audience != "" && cfg.Audience == cfg.ClientID {
		return nil, errors.New("auth: the access tokens' audience must not be the client ID, which ID tokens carry too")
	}
	ctx = oidc.ClientContext(ctx, a.cfg.HTTPClient)
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		EndSession string   `json:"end_session_endpoint"`
		JWKS       string   `json:"jwks_uri"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("auth: read discovery document: %w", err)
	}
	keys, err := newKeySet(ctx, meta.JWKS, a.cfg.HTTPClient, supportedAlgs(meta.Algs), a.now)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	scopes := append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	rp := &relyingParty{
		a: a, cfg: cfg, provider: provider, endSession: meta.EndSession,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: scopes},
		ids: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.ClientID, Now: a.now, SupportedSigningAlgs: keys.names()}),
	}
	if cfg.Audience != "" {
		rp.tokens = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.Audience, Now: a.now, SupportedSigningAlgs: keys.names()})
	}
	return rp, nil
}

// supportedAlgs keeps the asymmetric algorithms among a provider's: a
// shared-secret one would let anyone with the client secret sign tokens.
func supportedAlgs(algs []string) []string {
	var out []string
	for _, a := range algs {
		switch a {
		case oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA:
			out = append(out, a)
		}
	}
	return out
}

// idTokenClaims are in ID tokens and never in access tokens (RFC 9068
// lets access tokens carry auth_time, acr and amr, so those tell nothing).
var idTokenClaims = []string{"nonce", "at_hash", "c_hash", "s_hash"}

// accessToken verifies a JWT access token meant for overblik: signed by
// the provider, for the configured audience, not typed as another kind of
// JWT, and not an ID token (which an app holds too, names the person, and
// outlives the session it started).
func (rp *relyingParty) accessToken(ctx context.Context, raw string) (access.Principal, error) {
	if rp.tokens == nil {
		return access.Principal{}, fmt.Errorf("bearer JWT, but no audience is configured for access tokens: %w", access.ErrBadCredentials)
	}
	if err := rp.checkType(raw); err != nil {
		return access.Principal{}, fmt.Errorf("access token: %w: %w", access.ErrBadCredentials, err)
	}
	tok, err := rp.tokens.Verify(ctx, raw)
	if err != nil {
		return access.Principal{}, fmt.Errorf("access token: %w: %w", access.ErrBadCredentials, err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return access.Principal{}, fmt.Errorf("access token claims: %w", access.ErrBadCredentials)
	}
	for _, c := range idTokenClaims {
		if _, has := claims[c]; has {
			return access.Principal{}, fmt.Errorf("an ID token (it has %s), not an access token: %w", c, access.ErrBadCredentials)
		}
	}
	p, _, err := rp.a.principal(ctx, tok.Subject, claims, rp.cfg)
	return p, err
}

// checkType reads the token's header typ: "at+jwt" is an access token
// (RFC 9068); another "+jwt" type is some other kind of token; "JWT" or
// none is what providers that do not type their tokens send, accepted
// unless RequireATJWT.
func (rp *relyingParty) checkType(raw string) error {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return errors.New("malformed header")
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return errors.New("malformed header")
	}
	typ := strings.TrimPrefix(strings.ToLower(h.Typ), "application/")
	switch {
	case typ == "at+jwt":
		return nil
	case rp.cfg.RequireATJWT:
		return fmt.Errorf("typ %q, want at+jwt", h.Typ)
	case strings.HasSuffix(typ, "+jwt"):
		return fmt.Errorf("typ %q is not an access token", h.Typ)
	}
	return nil
}

// pending is a login on its way through the provider.
type pending struct {
	Nonce    string
	Verifier string
	Next     string
}

// Handler serves /auth/login, /auth/callback and /auth/logout. Without OIDC
// there is nothing to log in to and it answers 404.
func (a *Auth) Handler() http.Handler {
	mux := http.NewServeMux()
	if a.rp != nil {
		mux.HandleFunc("GET /auth/login", a.rp.login)
		mux.HandleFunc("GET /auth/callback", a.rp.callback)
	}
	mux.HandleFunc("POST /auth/logout", a.logout)
	return mux
}

// login starts the authorization code flow with PKCE. The state is bound to
// this browser by a cookie, so nobody can log a victim into their account.
func (rp *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	state, err1 := randomToken()
	nonce, err2 := randomToken()
	if err := errors.Join(err1, err2); err != nil {
		rp.a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p := pending{Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Next: safeNext(r.URL.Query().Get("next"))}
	b, _ := json.Marshal(p)
	if err := rp.a.cfg.Sessions.Set(r.Context(), storeKey("login", state), b, loginTTL); err != nil {
		rp.a.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	http.SetCookie(w, rp.a.cookie(loginCookie, state, int(loginTTL.Seconds())))
	http.Redirect(w, r, rp.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// callback finishes the flow: the code for tokens, the ID token checked,
// the claims turned into a principal, and a new session.
func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	ctx := oidc.ClientContext(r.Context(), rp.a.cfg.HTTPClient)
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		rp.a.fail(w, r, http.StatusUnauthorized, fmt.Errorf("provider refused the login: %q", e))
		return
	}
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		rp.a.fail(w, r, http.StatusBadRequest, errors.New("login state does not match this browser"))
		return
	}
	http.SetCookie(w, rp.a.cookie(loginCookie, "", -1))
	key := storeKey("login", state)
	b, ok, err := rp.a.cfg.Sessions.Get(ctx, key)
	if err != nil || !ok {
		rp.a.fail(w, r, http.StatusBadRequest, fmt.Errorf("login expired or unknown: %w", err))
		return
	}
	_ = rp.a.cfg.Sessions.Delete(ctx, key) // a state is good for one callback
	var p pending
	if err := json.Unmarshal(b, &p); err != nil {
		rp.a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	tok, err := rp.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		rp.a.fail(w, r, http.StatusUnauthorized, fmt.Errorf("exchange code: %w", err))
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := rp.ids.Verify(ctx, rawID)
	if err != nil {
		rp.a.fail(w, r, http.StatusUnauthorized, fmt.Errorf("verify id token: %w", err))
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		rp.a.fail(w, r, http.StatusUnauthorized, errors.New("id token nonce does not match"))
		return
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		rp.a.fail(w, r, http.StatusUnauthorized, err)
		return
	}
	if _, has := claims[rp.cfg.RolesClaim]; !has {
		// Some providers put only the essentials in the ID token.
		ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			rp.a.fail(w, r, http.StatusBadGateway, fmt.Errorf("userinfo: %w", err))
			return
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil || ui.Subject != idt.Subject {
			rp.a.fail(w, r, http.StatusBadGateway, errors.New("userinfo does not match the id token"))
			return
		}
		maps.Copy(claims, extra)
	}
	pr, ident, err := rp.a.principal(ctx, idt.Subject, claims, rp.cfg)
	if err != nil {
		rp.a.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if len(pr.Roles) == 0 {
		rp.a.fail(w, r, http.StatusForbidden, errors.New("no known role in the claims"))
		return
	}
	// The ID token is not kept: it names the person, and the logout needs
	// no hint of it.
	id, err := rp.a.newSession(ctx, pr, ident)
	if err != nil {
		rp.a.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	http.SetCookie(w, rp.a.cookie(sessionCookie, id, 0))
	rp.a.log.InfoContext(ctx, "logged in", "principal", pr)
	if l := rp.a.cfg.Logins; l != nil {
		// Not worth failing the login over: the name is stored at the next.
		if err := l.SignedIn(ctx, pr); err != nil {
			rp.a.log.WarnContext(ctx, "telling of a login failed", "principal", pr, "err", err)
		}
	}
	// Not http.Redirect, which would path.Clean what safeNext serialised.
	w.Header().Set("Location", safeNext(p.Next))
	w.WriteHeader(http.StatusSeeOther)
}

// logout ends the session here and, when the provider has an
// end_session_endpoint, there too. The form must carry the session's CSRF
// token, so no other site can log anyone out.
func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s, ok, err := a.session(ctx, c.Value)
	if err != nil {
		a.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	if ok && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
		a.fail(w, r, http.StatusForbidden, errors.New("logout without the session's CSRF token"))
		return
	}
	if err := a.cfg.Sessions.Delete(ctx, storeKey("session", c.Value)); err != nil {
		a.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	http.SetCookie(w, a.cookie(sessionCookie, "", -1))
	if !ok || a.rp == nil || a.rp.endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.log.InfoContext(ctx, "logged out", "principal", s.principal)
	u, err := url.Parse(a.rp.endSession)
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, err)
		return
	}
	// RP-Initiated Logout without id_token_hint: the client_id says whose
	// post_logout_redirect_uri it is, and the URL (in the browser's history
	// and the provider's logs) carries nothing of the person.
	v := u.Query()
	v.Set("client_id", a.rp.cfg.ClientID)
	if a.rp.cfg.PostLogoutURL != "" {
		v.Set("post_logout_redirect_uri", a.rp.cfg.PostLogoutURL)
	}
	u.RawQuery = v.Encode()
	// A page that moves on by itself rather than a redirect: the CSP's
	// form-action 'self' would stop a form's redirect to the provider.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = endSessionPage.Execute(w, u.String())
}

var endSessionPage = template.Must(template.New("logout").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={{.}}"><title>Overblik</title></head>
<body><p><a href="{{.}}">Log ud / Log out</a></p></body></html>
`))

// fail logs the cause and answers with a bare status: the details may name
// the provider's complaint, which is for the log.
func (a *Auth) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	a.log.WarnContext(r.Context(), "login failed", "status", status, "path", r.URL.Path, "err", err)
	http.Error(w, http.StatusText(status), status)
}

// safeNext keeps a post-login destination on this site: a path (with its
// query) and nothing else, re-serialised. Browsers drop tabs and newlines
// from a Location and read a backslash as a slash, so "/\t/evil.example"
// or "/\\evil.example" would lead to another host: anything with a control
// character or a backslash, raw or escaped, a scheme, a host or a path
// that starts with two slashes goes to the front page instead.
func safeNext(next string) string {
	const home = "/"
	if !strings.HasPrefix(next, "/") || unsafeInPath(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || unsafeInPath(u.Path) {
		return home
	}
	out := url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.Query().Encode()}
	s := out.RequestURI()
	if strings.HasPrefix(s, "//") || unsafeInPath(s) { // cannot happen; cheap to be sure
		return home
	}
	return s
}

func unsafeInPath(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || unicode.IsControl(r) })
}
