// Package auth tells web who is asking: people log in with OpenID Connect
// (authorization code with PKCE) into a server-side session behind a
// cookie; apps send the same issuer's JWT access tokens; systems send API
// keys. Each becomes an access.Principal whose Handle is the handle of the
// person's identifier claim, so "own" and "delegated" match the grants.
//
// It implements web.Authenticator (web defines it) and serves /auth/login, /auth/callback and
// /auth/logout.
package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// Registrar turns a person's identifier into their opaque handle;
// *aggregator.Patients implements it.
type Registrar interface {
	Register(ctx context.Context, id aggregator.Identifier) (aggregator.PatientRef, error)
}

// Logins is told of each person's login; *access.Service implements it,
// storing the name the login gives beside the grants made to the person.
type Logins interface {
	SignedIn(ctx context.Context, p access.Principal) error
}

// APIKey is a key a system sends as "Authorization: Bearer <key>". Only its
// SHA-256 is configured.
type APIKey struct {
	Name         string // who it is in the audit log ("apikey:<name>")
	SHA256       [32]byte
	Role         access.Role
	Organization string // the workplace of a clinician's system, if any
}

// ParseKeySHA256 reads a key's SHA-256 written as 64 hex digits.
func ParseKeySHA256(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(out) {
		return out, errors.New("want 64 hex digits (the SHA-256 of the key)")
	}
	copy(out[:], b)
	return out, nil
}

// Config configures an Auth. OIDC nil means no login and no bearer JWTs:
// API keys only.
type Config struct {
	OIDC    *OIDCConfig
	APIKeys []APIKey
	// ClientCerts maps the subject of a client certificate (as
	// crypto/x509's Name.String writes it) to the source it sends for: a
	// request whose TLS connection verified such a certificate is that
	// source, role source, as its API key would be. The server's TLS
	// configuration does the verifying; an unverified or unmapped
	// certificate is nobody.
	ClientCerts map[string]string
	// IdleTimeout ends a session nobody used for that long (default 15m);
	// AbsoluteTimeout ends any session that old (default 12h).
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// Secure marks the cookies Secure: set it whenever users reach the
	// server over HTTPS.
	Secure bool
	// SealKey (at least 32 bytes) seals what a session holds of the person
	// (their identifier and name) before it reaches the store, so a copy
	// of Redis reveals no CPR number; replicas that share sessions need the
	// same key. Nil: a random one, and sessions end with the process.
	SealKey    []byte
	Sessions   Store
	Patients   Registrar
	Logins     Logins           // nil: nobody is told
	HTTPClient *http.Client     // for the provider; nil: http.DefaultClient
	Now        func() time.Time // nil: the real clock
	Logger     *slog.Logger
}

// Defaults.
const (
	DefaultIdleTimeout     = 15 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	sessionCookie          = "overblik_session"
	loginCookie            = "overblik_login"
	loginTTL               = 10 * time.Minute
	// touchEvery limits session writes: LastSeen moves at most this often.
	touchEvery = time.Minute
)

// Auth authenticates requests. It keeps no context.
type Auth struct {
	cfg  Config
	rp   *relyingParty // nil without OIDC
	keys []APIKey
	seal cipher.AEAD // of the sessions' personal data
	now  func() time.Time
	log  *slog.Logger
}

// New returns an Auth; with OIDC configured it asks the provider for its
// discovery document, so the provider must be up.
func New(ctx context.Context, cfg Config) (*Auth, error) {
	if cfg.OIDC == nil && len(cfg.APIKeys) == 0 {
		return nil, errors.New("auth: no authentication method (neither OIDC nor API keys)")
	}
	if cfg.Patients == nil {
		return nil, errors.New("auth: no Registrar")
	}
	if cfg.Sessions == nil {
		cfg.Sessions = NewMemoryStore(cfg.Now)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	seal, err := sessionSeal(cfg.SealKey)
	if err != nil {
		return nil, err
	}
	a := &Auth{cfg: cfg, keys: cfg.APIKeys, seal: seal, now: cfg.Now, log: cfg.Logger}
	for _, k := range a.keys {
		if _, ok := access.ParseRole(string(k.Role)); !ok || k.Name == "" {
			return nil, fmt.Errorf("auth: API key %q: needs a name and a known role", k.Name)
		}
	}
	if cfg.OIDC != nil {
		rp, err := newRelyingParty(ctx, a, *cfg.OIDC)
		if err != nil {
			return nil, err
		}
		a.rp = rp
	}
	return a, nil
}

// session is what the store keeps for a logged-in person: the handle and
// roles in clear (what every request needs), the rest sealed.
type session struct {
	Subject  string        `json:"sub"`
	Roles    []access.Role `json:"roles"`
	Handle   string        `json:"handle,omitempty"`
	Org      string        `json:"org,omitempty"` // a clinician's workplace: not personal data
	CSRF     string        `json:"csrf"`
	Created  time.Time     `json:"created"`
	LastSeen time.Time     `json:"last_seen"`
	// Person is a sealed person: AES-GCM under the seal key, bound to the
	// session's store key, so it opens in this session only.
	Person []byte `json:"person,omitempty"`
}

// person is the personal data of a session. The identifier lets the
// person's handle resolve again after a restart of this process (the
// handle map is in memory, the session may be in Redis); the name is shown
// in the pages' header and in the audit logs of the patients they view.
type person struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Name   string `json:"name,omitempty"`
}

// sessionSeal is the AEAD of the sessions' personal data, under a key
// derived from key (random when nil).
func sessionSeal(key []byte) (cipher.AEAD, error) {
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key) // never fails since Go 1.24
	}
	if len(key) < 32 {
		return nil, errors.New("auth: the session seal key needs at least 32 bytes")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("overblik session seal"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return cipher.NewGCM(block)
}

func (a *Auth) sealPerson(storeKey string, p person) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	nonce := make([]byte, a.seal.NonceSize())
	rand.Read(nonce)
	return a.seal.Seal(nonce, nonce, plain, []byte(storeKey)), nil
}

func (a *Auth) openPerson(storeKey string, sealed []byte) (person, error) {
	var p person
	if len(sealed) == 0 {
		return p, nil
	}
	n := a.seal.NonceSize()
	if len(sealed) < n {
		return p, errors.New("sealed person too short")
	}
	plain, err := a.seal.Open(nil, sealed[:n], sealed[n:], []byte(storeKey))
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(plain, &p)
}

// loaded is a session as a request sees it: opened.
type loaded struct {
	session
	principal access.Principal
	id        aggregator.Identifier
}

// Identify implements web.Authenticator (web defines it): a bearer credential first (an API
// key, else a JWT access token), then the session cookie, then a verified
// client certificate (ambient, as a cookie is: a person signed in on a
// machine that holds one stays that person).
func (a *Auth) Identify(ctx context.Context, r *http.Request) (access.Identity, bool, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
			return access.Identity{}, false, fmt.Errorf("authorization scheme not Bearer: %w", access.ErrBadCredentials)
		}
		p, err := a.bearer(ctx, strings.TrimSpace(cred))
		if err != nil {
			return access.Identity{}, false, err
		}
		return access.Identity{Principal: p}, true, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return a.clientCert(r)
	}
	s, ok, err := a.session(ctx, c.Value)
	if err != nil {
		return access.Identity{}, false, err
	}
	if !ok {
		return a.clientCert(r)
	}
	if s.id.Value != "" {
		if _, err := a.cfg.Patients.Register(ctx, s.id); err != nil {
			return access.Identity{}, false, fmt.Errorf("register session's person: %w", err)
		}
	}
	return access.Identity{Principal: s.principal, CSRF: s.CSRF, Session: true}, true, nil
}

// clientCert is the source a verified client certificate sends for.
func (a *Auth) clientCert(r *http.Request) (access.Identity, bool, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return access.Identity{}, false, nil
	}
	name, ok := a.cfg.ClientCerts[r.TLS.VerifiedChains[0][0].Subject.String()]
	if !ok {
		return access.Identity{}, false, nil
	}
	return access.Identity{Principal: access.Principal{Subject: "cert:" + name, Roles: []access.Role{access.RoleSource}, Name: name}}, true, nil
}

// bearer checks every API key in constant time (so timing tells nothing of
// which key came close), then tries the credential as a JWT.
func (a *Auth) bearer(ctx context.Context, cred string) (access.Principal, error) {
	sum := sha256.Sum256([]byte(cred))
	var match *APIKey
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].SHA256[:]) == 1 {
			match = &a.keys[i]
		}
	}
	if match != nil {
		return access.Principal{Subject: "apikey:" + match.Name, Roles: []access.Role{match.Role}, Name: match.Name,
			Organization: match.Organization}, nil
	}
	if a.rp != nil && strings.Count(cred, ".") == 2 {
		return a.rp.accessToken(ctx, cred)
	}
	return access.Principal{}, fmt.Errorf("unknown bearer credential: %w", access.ErrBadCredentials)
}

// session loads a session, applies the idle and absolute timeouts and
// opens what is sealed. One that does not open (sealed under another key,
// or stored by an older version in clear) is ended.
func (a *Auth) session(ctx context.Context, id string) (loaded, bool, error) {
	key := storeKey("session", id)
	b, ok, err := a.cfg.Sessions.Get(ctx, key)
	if err != nil || !ok {
		return loaded{}, false, err
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return loaded{}, false, fmt.Errorf("decode session: %w", err)
	}
	now := a.now()
	per, perr := a.openPerson(key, s.Person)
	if s.Subject == "" || perr != nil || now.Sub(s.LastSeen) >= a.cfg.IdleTimeout || now.Sub(s.Created) >= a.cfg.AbsoluteTimeout {
		if err := a.cfg.Sessions.Delete(ctx, key); err != nil {
			return loaded{}, false, err
		}
		return loaded{}, false, nil
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		s.LastSeen = now
		if err := a.putSession(ctx, key, s); err != nil {
			return loaded{}, false, err
		}
	}
	l := loaded{session: s, principal: access.Principal{Subject: s.Subject, Roles: s.Roles, Handle: s.Handle, Name: per.Name,
		Organization: s.Org}}
	if per.Value != "" {
		l.id = aggregator.Identifier{System: per.System, Value: per.Value}
	}
	return l, true, nil
}

func (a *Auth) putSession(ctx context.Context, key string, s session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	// The store forgets it when neither timeout could still let it in.
	ttl := min(a.cfg.IdleTimeout, s.Created.Add(a.cfg.AbsoluteTimeout).Sub(s.LastSeen))
	return a.cfg.Sessions.Set(ctx, key, b, ttl)
}

// newSession stores a session for p (whose identifier is id, if any) and
// returns its cookie value.
func (a *Auth) newSession(ctx context.Context, p access.Principal, id aggregator.Identifier) (string, error) {
	sid, err := randomToken()
	if err != nil {
		return "", err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", err
	}
	key := storeKey("session", sid)
	sealed, err := a.sealPerson(key, person{System: id.System, Value: id.Value, Name: p.Name})
	if err != nil {
		return "", err
	}
	now := a.now()
	s := session{Subject: p.Subject, Roles: p.Roles, Handle: p.Handle, Org: p.Organization, CSRF: csrf, Created: now, LastSeen: now, Person: sealed}
	if err := a.putSession(ctx, key, s); err != nil {
		return "", err
	}
	return sid, nil
}

func (a *Auth) cookie(name, val string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: val, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: a.cfg.Secure, SameSite: http.SameSiteLaxMode}
}

// principal builds the principal of a person from their claims: the
// identifier claim becomes their handle, never stored or logged as such.
func (a *Auth) principal(ctx context.Context, sub string, claims map[string]any, oc OIDCConfig) (access.Principal, aggregator.Identifier, error) {
	p := access.Principal{Subject: sub}
	var id aggregator.Identifier
	for _, r := range stringsClaim(claims[oc.RolesClaim]) {
		if role, ok := access.ParseRole(r); ok {
			p.Roles = append(p.Roles, role)
		}
	}
	if name, ok := claims[oc.NameClaim].(string); ok {
		p.Name = name
	}
	if org, ok := claims[oc.OrganizationClaim].(string); ok && oc.OrganizationClaim != "" {
		p.Organization = strings.TrimSpace(org)
	}
	if v, ok := claims[oc.IdentifierClaim].(string); ok && strings.TrimSpace(v) != "" {
		id = aggregator.Identifier{System: oc.IdentifierSystem, Value: strings.TrimSpace(v)}
		ref, err := a.cfg.Patients.Register(ctx, id)
		if err != nil {
			return access.Principal{}, aggregator.Identifier{}, fmt.Errorf("register logged-in person: %w", err)
		}
		p.Handle = ref.Handle
	}
	return p, id, nil
}

// stringsClaim reads a claim that is a list of strings or one
// space-separated string.
func stringsClaim(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
