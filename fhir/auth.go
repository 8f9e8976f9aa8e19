package fhir

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Auth kinds.
const (
	AuthNone              = "none"               // no credential (a client certificate may still be set)
	AuthMTLS              = "mtls"               // a client certificate only; CertPEM and KeyPEM required
	AuthBearer            = "bearer"             // a static token
	AuthClientCredentials = "client_credentials" // OAuth2 client credentials with a client secret
	AuthSMARTBackend      = "smart_backend"      // SMART Backend Services: client credentials with a private_key_jwt assertion
)

// Client authentication methods at the token endpoint, for AuthClientCredentials.
const (
	ClientSecretBasic = "client_secret_basic" // HTTP Basic (RFC 6749's default)
	ClientSecretPost  = "client_secret_post"  // client_id and client_secret in the form
)

// Auth says how to authenticate to one source. Secrets arrive resolved (the
// caller reads files or environment variables); none of them ever appears in
// an error, and String and LogValue hide them.
//
// A client certificate (CertPEM and KeyPEM) works with every Kind: mutual
// TLS to the FHIR server and to the token endpoint.
type Auth struct {
	Kind string // AuthNone (also ""), AuthMTLS, AuthBearer, AuthClientCredentials, AuthSMARTBackend

	Token []byte // AuthBearer

	// Token endpoint (AuthClientCredentials, AuthSMARTBackend). The URL
	// must be https, except on loopback.
	TokenURL string
	ClientID string
	Scope    string // e.g. "system/Appointment.read system/Encounter.read"; optional

	ClientSecret     []byte // AuthClientCredentials
	ClientAuthMethod string // ClientSecretBasic (default) or ClientSecretPost

	PrivateKeyPEM []byte // AuthSMARTBackend: PKCS#8, PKCS#1 (RSA) or SEC 1 (EC)
	KeyID         string // kid header of the assertion, as registered with the server
	Alg           string // "RS384" or "ES384"; empty: from the key

	CertPEM, KeyPEM []byte // client certificate (chain) and its key
	CAPEM           []byte // roots to trust instead of the system's; optional

	// Now is the clock for token lifetimes and assertions; nil means
	// time.Now. For tests.
	Now func() time.Time
}

// String hides the secrets, in case an Auth is printed.
func (a Auth) String() string {
	return "fhir.Auth{Kind: " + strconv.Quote(a.Kind) + ", secrets hidden}"
}

// GoString hides the secrets from %#v too.
func (a Auth) GoString() string { return a.String() }

// LogValue hides the secrets from slog.
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", a.Kind), slog.Bool("client_cert", len(a.CertPEM) > 0))
}

// tokenLifetimeDefault is assumed when a token answer has no expires_in.
const tokenLifetimeDefault = 5 * time.Minute

// assertionLifetime is the exp of a private_key_jwt: SMART allows at most
// five minutes; less leaves room for clock skew.
const assertionLifetime = 4 * time.Minute

// tokenBodyLimit bounds a token endpoint's answer.
const tokenBodyLimit = 64 << 10

// NewHTTPClient returns an HTTP client that authenticates to a source as a
// says, for NewClient. Tokens from a token endpoint are fetched on first use,
// cached, renewed before they expire, and renewed once when the server
// answers 401. Redirects to another host, or from https to http, are
// refused, so a credential only goes where it was meant to.
func NewHTTPClient(a Auth) (*http.Client, error) {
	tr, err := a.transport()
	if err != nil {
		return nil, err
	}
	noRedirect := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	var src *tokenSource
	switch a.Kind {
	case "", AuthNone:
	case AuthMTLS:
		if len(a.CertPEM) == 0 {
			return nil, errors.New("fhir auth: mtls needs a client certificate and key")
		}
	case AuthBearer:
		tok := string(a.Token)
		if tok == "" || !headerSafe(tok) {
			return nil, errors.New("fhir auth: bearer needs a token of printable ASCII")
		}
		src = &tokenSource{static: tok}
	case AuthClientCredentials:
		if err := a.checkTokenEndpoint(); err != nil {
			return nil, err
		}
		if len(a.ClientSecret) == 0 {
			return nil, errors.New("fhir auth: client_credentials needs a client secret")
		}
		switch a.ClientAuthMethod {
		case "", ClientSecretBasic, ClientSecretPost:
		default:
			return nil, fmt.Errorf("fhir auth: client auth method %q: want %s or %s", a.ClientAuthMethod, ClientSecretBasic, ClientSecretPost)
		}
		src = &tokenSource{fetch: (&tokenClient{auth: a, hc: noRedirect, now: a.now()}).fetch}
	case AuthSMARTBackend:
		if err := a.checkTokenEndpoint(); err != nil {
			return nil, err
		}
		signer, err := newAssertionSigner(a.PrivateKeyPEM, a.Alg)
		if err != nil {
			return nil, err
		}
		src = &tokenSource{fetch: (&tokenClient{auth: a, hc: noRedirect, now: a.now(), signer: signer}).fetch}
	default:
		return nil, fmt.Errorf("fhir auth: unknown kind %q: want none, mtls, bearer, client_credentials or smart_backend", a.Kind)
	}
	var rt http.RoundTripper = tr
	if src != nil {
		src.now = a.now()
		src.lock = make(chan struct{}, 1)
		rt = &authTransport{base: tr, src: src}
	}
	return &http.Client{Transport: rt, CheckRedirect: sameServer}, nil
}

func (a Auth) now() func() time.Time {
	if a.Now != nil {
		return a.Now
	}
	return time.Now
}

// idlePerSource is how many idle connections to a source are kept:
// refresh.per_source refreshes at once each search Appointments and
// Encounters together, and viewers' builds come on top. net/http keeps two
// per host, so most requests opened a connection and left one in TIME_WAIT.
const idlePerSource = 64

// transport is net/http's default transport, keeping idlePerSource idle
// connections, with the client certificate and roots of a.
func (a Auth) transport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idlePerSource
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(a.CertPEM) > 0 || len(a.KeyPEM) > 0 {
		cert, err := tls.X509KeyPair(a.CertPEM, a.KeyPEM)
		if err != nil {
			// crypto/tls's messages name the problem, never the key's bytes.
			return nil, fmt.Errorf("fhir auth: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if len(a.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(a.CAPEM) {
			return nil, errors.New("fhir auth: CA: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

func (a Auth) checkTokenEndpoint() error {
	if a.ClientID == "" {
		return fmt.Errorf("fhir auth: %s needs a client id", a.Kind)
	}
	u, err := url.Parse(a.TokenURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return fmt.Errorf("fhir auth: %s needs an absolute https token URL without credentials", a.Kind) // the URL is not repeated: it might hold some
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return errors.New("fhir auth: token URL must be https (plain http only on loopback)")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameServer is the CheckRedirect of an authenticated client: the transport
// adds the credential to every request, so a redirect must not leave the
// server or drop TLS.
func sameServer(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 10:
		return errors.New("stopped after 10 redirects")
	case !strings.EqualFold(req.URL.Host, first.Host) || (first.Scheme == "https" && req.URL.Scheme != "https"):
		return fmt.Errorf("redirect to another server refused: %w", ErrInvalid)
	}
	return nil
}

// headerSafe: visible ASCII only, so a token cannot split a header.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// authTransport adds "Authorization: Bearer" to every request.
type authTransport struct {
	base http.RoundTripper
	src  *tokenSource
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.src.token(ctx, "")
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || t.src.fetch == nil || !replayable(req) {
		return resp, err
	}
	// The token was revoked or expired early: renew it once and retry.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	tok, err = t.src.token(ctx, tok)
	if err != nil {
		return nil, err
	}
	r2 := withToken(req, tok)
	if req.GetBody != nil {
		if r2.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.base.RoundTrip(r2)
}

// withToken clones req (a RoundTripper must not change its request) with
// the token set.
func withToken(req *http.Request, tok string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// tokenSource caches one access token. A static one never changes.
type tokenSource struct {
	static string
	fetch  func(ctx context.Context) (tok string, lifetime time.Duration, err error)
	now    func() time.Time
	lock   chan struct{} // one fetch at a time, waiting honours ctx

	mu      sync.Mutex
	tok     string
	renewAt time.Time
}

// token returns a valid token. A non-empty stale is a token the server just
// refused: it is renewed unless another caller already did.
func (s *tokenSource) token(ctx context.Context, stale string) (string, error) {
	if s.fetch == nil {
		return s.static, nil
	}
	if tok, ok := s.cached(stale); ok {
		return tok, nil
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.lock }()
	if tok, ok := s.cached(stale); ok {
		return tok, nil // fetched while we waited
	}
	start := s.now()
	tok, lifetime, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renew a while before expiry: a quarter of the lifetime, at most a minute.
	margin := min(lifetime/4, time.Minute)
	s.mu.Lock()
	s.tok, s.renewAt = tok, start.Add(lifetime-margin)
	s.mu.Unlock()
	return tok, nil
}

func (s *tokenSource) cached(stale string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && s.tok != stale && s.now().Before(s.renewAt) {
		return s.tok, true
	}
	return "", false
}

// tokenClient gets tokens from an OAuth2 token endpoint with the client
// credentials grant.
type tokenClient struct {
	auth   Auth
	hc     *http.Client
	now    func() time.Time
	signer *assertionSigner // nil: client secret
}

func (c *tokenClient) fetch(ctx context.Context) (string, time.Duration, error) {
	a := c.auth
	form := url.Values{"grant_type": {"client_credentials"}}
	if a.Scope != "" {
		form.Set("scope", a.Scope)
	}
	secrets := []string{}
	basic := false
	switch {
	case c.signer != nil:
		assertion, err := c.signer.sign(a.ClientID, a.TokenURL, a.KeyID, c.now())
		if err != nil {
			return "", 0, err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
		secrets = append(secrets, assertion)
	case a.ClientAuthMethod == ClientSecretPost:
		form.Set("client_id", a.ClientID)
		form.Set("client_secret", string(a.ClientSecret))
		secrets = append(secrets, string(a.ClientSecret), url.QueryEscape(string(a.ClientSecret)))
	default:
		basic = true
		secrets = append(secrets, string(a.ClientSecret), url.QueryEscape(string(a.ClientSecret)),
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(a.ClientID)+":"+url.QueryEscape(string(a.ClientSecret)))),
			base64.StdEncoding.EncodeToString([]byte(a.ClientID+":"+string(a.ClientSecret))))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, errors.New("token endpoint: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 2.3.1: both form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(string(a.ClientSecret)))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// Not ErrAuth: the endpoint may be back in a moment, so the FHIR
		// client retries and counts it against the breaker.
		return "", 0, fmt.Errorf("token endpoint: %w", Scrub(unwrapURLError(err), secrets...))
	}
	defer resp.Body.Close()
	body, err := readAll(&limitReader{r: resp.Body, n: tokenBodyLimit}, 1024)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", 0, fmt.Errorf("token endpoint: answer over %d bytes: %w", tokenBodyLimit, ErrAuth)
		}
		return "", 0, fmt.Errorf("token endpoint: %w", Scrub(err, secrets...))
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, tokenError(resp.StatusCode, body, secrets)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("token endpoint: answer is not a JSON token response: %w", ErrAuth)
	}
	switch {
	case tr.AccessToken == "" || !headerSafe(tr.AccessToken):
		return "", 0, fmt.Errorf("token endpoint: no usable access_token: %w", ErrAuth)
	case tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return "", 0, fmt.Errorf("token endpoint: token_type %q is not bearer: %w", shortToken(strings.ToLower(tr.TokenType)), ErrAuth)
	}
	return tr.AccessToken, expiresIn(tr.ExpiresIn), nil
}

// expiresIn reads expires_in, which some servers send as a string.
func expiresIn(raw json.RawMessage) time.Duration {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n > 366*24*3600 {
		return tokenLifetimeDefault
	}
	return time.Duration(n * float64(time.Second))
}

// tokenError describes a refusal from the token endpoint. 4xx is ErrAuth;
// 429 and 5xx are not, so they are retried like any unavailable server.
func tokenError(status int, body []byte, secrets []string) error {
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &oe) // an HTML error page says nothing useful
	msg := fmt.Sprintf("token endpoint: HTTP %d %s", status, http.StatusText(status))
	if code := shortToken(oe.Error); code != "" && code != "?" {
		msg += ": " + code
	}
	if d := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(oe.Description)); d != "" {
		msg += ": " + truncateRunes(Redact(d, secrets...), 200)
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", msg, ErrAuth)
}

// assertionSigner signs SMART Backend Services client assertions.
type assertionSigner struct {
	method jwt.SigningMethod
	key    any
}

func newAssertionSigner(keyPEM []byte, alg string) (*assertionSigner, error) {
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg != "" && alg != "RS384" {
			return nil, fmt.Errorf("fhir auth: alg %q does not fit an RSA key: want RS384", alg)
		}
		if k.N.BitLen() < 2048 {
			return nil, errors.New("fhir auth: RSA key shorter than 2048 bits")
		}
		return &assertionSigner{method: jwt.SigningMethodRS384, key: k}, nil
	case *ecdsa.PrivateKey:
		if alg != "" && alg != "ES384" {
			return nil, fmt.Errorf("fhir auth: alg %q does not fit an EC key: want ES384", alg)
		}
		if k.Curve != elliptic.P384() {
			return nil, errors.New("fhir auth: ES384 needs a P-384 key")
		}
		return &assertionSigner{method: jwt.SigningMethodES384, key: k}, nil
	}
	return nil, errors.New("fhir auth: private key is neither RSA nor EC")
}

func parsePrivateKey(keyPEM []byte) (any, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("fhir auth: no PEM private key found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("fhir auth: private key is not PKCS#8, PKCS#1 or SEC 1")
}

// sign makes a client assertion (SMART Backend Services, RFC 7523): the
// client is issuer and subject, the token URL the audience, a random jti
// so it cannot be replayed.
func (s *assertionSigner) sign(clientID, tokenURL, keyID string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("client assertion: jti: %w", err)
	}
	t := jwt.NewWithClaims(s.method, jwt.MapClaims{
		"iss": clientID,
		"sub": clientID,
		"aud": tokenURL,
		"jti": hex.EncodeToString(jti[:]),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	})
	if keyID != "" {
		t.Header["kid"] = keyID
	}
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", errors.New("client assertion: signing failed")
	}
	return signed, nil
}
