package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/web"
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
	// IdentifierSystem is the system of the identifier claim (CPR).
	IdentifierSystem string
	// Audience an access token must carry; default ClientID.
	Audience string
}

type relyingParty struct {
	a          *Auth
	cfg        OIDCConfig
	provider   *oidc.Provider
	oauth      oauth2.Config
	ids        *oidc.IDTokenVerifier
	tokens     *oidc.IDTokenVerifier
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
	if cfg.Audience == "" {
		cfg.Audience = cfg.ClientID
	}
	ctx = oidc.ClientContext(ctx, a.cfg.HTTPClient)
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("auth: read discovery document: %w", err)
	}
	scopes := append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	return &relyingParty{
		a: a, cfg: cfg, provider: provider, endSession: meta.EndSession,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: scopes},
		// The verifiers keep fetching the provider's keys with the client
		// of ctx, which must outlive this call: it carries no deadline.
		ids:    provider.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), a.cfg.HTTPClient), &oidc.Config{ClientID: cfg.ClientID, Now: a.now}),
		tokens: provider.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), a.cfg.HTTPClient), &oidc.Config{ClientID: cfg.Audience, Now: a.now}),
	}, nil
}

// accessToken verifies a JWT access token against the provider's keys.
func (rp *relyingParty) accessToken(ctx context.Context, raw string) (access.Principal, error) {
	tok, err := rp.tokens.Verify(ctx, raw)
	if err != nil {
		return access.Principal{}, fmt.Errorf("access token: %w: %w", web.ErrBadCredentials, err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return access.Principal{}, fmt.Errorf("access token claims: %w", web.ErrBadCredentials)
	}
	p, _, err := rp.a.principal(ctx, tok.Subject, claims, rp.cfg)
	return p, err
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
	id, err := rp.a.newSession(ctx, pr, ident, rawID)
	if err != nil {
		rp.a.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	http.SetCookie(w, rp.a.cookie(sessionCookie, id, 0))
	rp.a.log.InfoContext(ctx, "logged in", "principal", pr)
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
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
	a.log.InfoContext(ctx, "logged out", "principal", s.Principal)
	u, err := url.Parse(a.rp.endSession)
	if err != nil {
		a.fail(w, r, http.StatusBadGateway, err)
		return
	}
	v := u.Query()
	v.Set("client_id", a.rp.cfg.ClientID)
	if s.IDToken != "" {
		v.Set("id_token_hint", s.IDToken)
	}
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

// safeNext keeps a post-login destination on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
