package fhir

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testClientID = "overblik-test"
	testSecret   = "s3cr3t+/=&value"
	testScope    = "system/Appointment.read system/Encounter.read"
)

// quietLog keeps refused TLS handshakes, which some tests are about, out of
// the test output.
var quietLog = log.New(io.Discard, "", 0)

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	rsa     *rsa.PrivateKey
	ec384   *ecdsa.PrivateKey
	ec256   *ecdsa.PrivateKey
	rsa1024 *rsa.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		panic(err)
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// verifyJWT checks a compact JWS with the standard library alone (not the
// library that signed it) and returns its header and claims.
func verifyJWT(token string, pub crypto.PublicKey) (header, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not three parts")
	}
	dec := func(s string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err := dec(parts[0], &header); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if err := dec(parts[1], &claims); err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	digest := sha512.Sum384([]byte(parts[0] + "." + parts[1]))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if header["alg"] != "RS384" {
			return nil, nil, fmt.Errorf("alg %v, want RS384", header["alg"])
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA384, digest[:], sig); err != nil {
			return nil, nil, err
		}
	case *ecdsa.PublicKey:
		if header["alg"] != "ES384" {
			return nil, nil, fmt.Errorf("alg %v, want ES384", header["alg"])
		}
		if len(sig) != 96 { // JWS: r and s, 48 bytes each, not ASN.1
			return nil, nil, fmt.Errorf("ES384 signature of %d bytes, want 96", len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:48]), new(big.Int).SetBytes(sig[48:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return nil, nil, errors.New("ES384 signature does not verify")
		}
	default:
		return nil, nil, fmt.Errorf("key %T", pub)
	}
	return header, claims, nil
}

// tokenEndpoint is an OAuth2 token endpoint that checks a client secret or
// a SMART Backend Services assertion, and issues tok-1, tok-2, ...
type tokenEndpoint struct {
	srv       *httptest.Server
	pub       crypto.PublicKey // set: expect private_key_jwt signed by it
	kid       string
	method    string // ClientSecretBasic or ClientSecretPost when pub is nil
	expiresIn int
	now       func() time.Time

	fail func(w http.ResponseWriter, r *http.Request) bool // answers instead when it returns true

	mu         sync.Mutex
	requests   int
	assertions []string
	issued     int
	jtis       map[string]bool
}

func newTokenEndpoint(t *testing.T, te *tokenEndpoint, tlsCfg *tls.Config) *tokenEndpoint {
	t.Helper()
	te.jtis = map[string]bool{}
	if te.now == nil {
		te.now = time.Now
	}
	te.srv = httptest.NewUnstartedServer(http.HandlerFunc(te.serve(t)))
	te.srv.TLS = tlsCfg
	te.srv.Config.ErrorLog = quietLog
	te.srv.StartTLS()
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) url() string { return te.srv.URL + "/oauth2/token" }

func (te *tokenEndpoint) count() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.issued
}

func (te *tokenEndpoint) serve(t *testing.T) func(w http.ResponseWriter, r *http.Request) {
	refuse := func(w http.ResponseWriter, status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	return func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		defer te.mu.Unlock()
		te.requests++
		if err := r.ParseForm(); err != nil {
			refuse(w, 400, "invalid_request", err.Error())
			return
		}
		te.assertions = append(te.assertions, r.PostForm.Get("client_assertion"))
		if te.fail != nil && te.fail(w, r) {
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			refuse(w, 400, "invalid_request", "want a form POST")
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != testScope {
			refuse(w, 400, "invalid_request", "grant_type or scope")
			return
		}
		switch {
		case te.pub != nil:
			if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				refuse(w, 400, "invalid_client", "client_assertion_type")
				return
			}
			header, claims, err := verifyJWT(r.PostForm.Get("client_assertion"), te.pub)
			if err != nil {
				refuse(w, 401, "invalid_client", "assertion: "+err.Error())
				return
			}
			now := te.now().Unix()
			exp, _ := claims["exp"].(float64)
			jti, _ := claims["jti"].(string)
			switch {
			case (te.kid == "" && header["kid"] != nil) || (te.kid != "" && header["kid"] != te.kid) || header["typ"] != "JWT":
				refuse(w, 401, "invalid_client", fmt.Sprintf("header %v", header))
			case claims["iss"] != testClientID || claims["sub"] != testClientID:
				refuse(w, 401, "invalid_client", "iss/sub")
			case claims["aud"] != te.url():
				refuse(w, 401, "invalid_client", fmt.Sprintf("aud %v", claims["aud"]))
			case int64(exp) <= now || int64(exp) > now+300:
				refuse(w, 401, "invalid_client", fmt.Sprintf("exp %v not within 5 minutes of %d", exp, now))
			case len(jti) < 16 || te.jtis[jti]:
				refuse(w, 401, "invalid_client", "jti missing or replayed")
			default:
				te.jtis[jti] = true
				te.issue(w)
			}
		case te.method == ClientSecretPost:
			if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testSecret {
				refuse(w, 401, "invalid_client", "bad client")
				return
			}
			te.issue(w)
		default:
			id, secret, ok := r.BasicAuth()
			if !ok || id != testClientID || secret != strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D", "&", "%26").Replace(testSecret) {
				refuse(w, 401, "invalid_client", "bad client")
				return
			}
			te.issue(w)
		}
	}
}

func (te *tokenEndpoint) issue(w http.ResponseWriter) {
	te.issued++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d,"scope":%q}`, te.issued, te.expiresIn, testScope)
}

// fhirServer answers searches to requests whose bearer token it accepts.
type fhirServer struct {
	srv    *httptest.Server
	accept func(tok string) bool

	mu     sync.Mutex
	tokens []string // Authorization of every request
	cns    []string // client certificate common names
}

func newFHIRServer(t *testing.T, accept func(string) bool, tlsCfg *tls.Config) *fhirServer {
	t.Helper()
	fs := &fhirServer{accept: accept}
	fs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.tokens = append(fs.tokens, r.Header.Get("Authorization"))
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			fs.cns = append(fs.cns, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		fs.mu.Unlock()
		if !fs.accept(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, searchset("", "a1"))
	}))
	fs.srv.TLS = tlsCfg
	fs.srv.Config.ErrorLog = quietLog
	fs.srv.StartTLS()
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fhirServer) seen() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.tokens...)
}

func serverCAPEM(srvs ...*httptest.Server) []byte {
	var b []byte
	for _, s := range srvs {
		b = append(b, certPEM(s.Certificate())...)
	}
	return b
}

func TestAuthKinds(t *testing.T) {
	keys := testKeys()
	tests := []struct {
		name       string
		auth       Auth
		endpoint   *tokenEndpoint // nil: no token endpoint
		wantHeader string         // Authorization the FHIR server must see
	}{
		{name: "none", auth: Auth{}, wantHeader: ""},
		{name: "explicit none", auth: Auth{Kind: AuthNone}, wantHeader: ""},
		{name: "static bearer", auth: Auth{Kind: AuthBearer, Token: []byte("static-token")}, wantHeader: "Bearer static-token"},
		{name: "client credentials, basic", auth: Auth{Kind: AuthClientCredentials, ClientID: testClientID, ClientSecret: []byte(testSecret), Scope: testScope},
			endpoint: &tokenEndpoint{expiresIn: 300}, wantHeader: "Bearer tok-1"},
		{name: "client credentials, post", auth: Auth{Kind: AuthClientCredentials, ClientID: testClientID, ClientSecret: []byte(testSecret), Scope: testScope, ClientAuthMethod: ClientSecretPost},
			endpoint: &tokenEndpoint{expiresIn: 300, method: ClientSecretPost}, wantHeader: "Bearer tok-1"},
		{name: "SMART backend RS384", auth: Auth{Kind: AuthSMARTBackend, ClientID: testClientID, Scope: testScope, PrivateKeyPEM: pkcs8PEM(t, keys.rsa), KeyID: "rsa-1", Alg: "RS384"},
			endpoint: &tokenEndpoint{expiresIn: 300, pub: &keys.rsa.PublicKey, kid: "rsa-1"}, wantHeader: "Bearer tok-1"},
		{name: "SMART backend ES384, alg from the key", auth: Auth{Kind: AuthSMARTBackend, ClientID: testClientID, Scope: testScope, PrivateKeyPEM: pkcs8PEM(t, keys.ec384), KeyID: "ec-1"},
			endpoint: &tokenEndpoint{expiresIn: 300, pub: &keys.ec384.PublicKey, kid: "ec-1"}, wantHeader: "Bearer tok-1"},
		{name: "SMART backend ES384, SEC 1 key", auth: Auth{Kind: AuthSMARTBackend, ClientID: testClientID, Scope: testScope, PrivateKeyPEM: sec1PEM(t, keys.ec384), KeyID: "ec-2", Alg: "ES384"},
			endpoint: &tokenEndpoint{expiresIn: 300, pub: &keys.ec384.PublicKey, kid: "ec-2"}, wantHeader: "Bearer tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFHIRServer(t, func(tok string) bool { return tt.wantHeader == "" || "Bearer "+tok == tt.wantHeader }, nil)
			a := tt.auth
			a.CAPEM = serverCAPEM(fs.srv)
			if tt.endpoint != nil {
				newTokenEndpoint(t, tt.endpoint, nil)
				a.TokenURL = tt.endpoint.url()
			}
			hc, err := NewHTTPClient(a)
			if err != nil {
				t.Fatalf("NewHTTPClient: %v", err)
			}
			c, err := NewClient(fs.srv.URL, hc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 4 { // concurrent first uses share one token
				wg.Go(func() {
					if _, err := c.Search(context.Background(), "Appointment", nil); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for i, got := range fs.seen() {
				if got != tt.wantHeader {
					t.Errorf("request %d: Authorization %q, want %q", i, got, tt.wantHeader)
				}
			}
			if tt.endpoint != nil {
				if n := tt.endpoint.count(); n != 1 {
					t.Errorf("%d tokens fetched, want 1 (cached)", n)
				}
			}
		})
	}
}

func sec1PEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	clock := newFakeClock()
	clock.t = time.Now().Truncate(time.Second) // the endpoint checks exp against real time
	te := newTokenEndpoint(t, &tokenEndpoint{expiresIn: 300, pub: &testKeys().ec384.PublicKey, now: clock.Now}, nil)
	fs := newFHIRServer(t, func(string) bool { return true }, nil)
	hc, err := NewHTTPClient(Auth{Kind: AuthSMARTBackend, ClientID: testClientID, Scope: testScope, TokenURL: te.url(),
		PrivateKeyPEM: pkcs8PEM(t, testKeys().ec384), Now: clock.Now, CAPEM: serverCAPEM(fs.srv, te.srv)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(fs.srv.URL, hc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance   time.Duration
		wantToken string
	}{
		{0, "Bearer tok-1"},
		{200 * time.Second, "Bearer tok-1"},
		{39 * time.Second, "Bearer tok-1"}, // 239s: renewal is due 60s before the 300s expiry
		{time.Second, "Bearer tok-2"},      // 240s
		{100 * time.Second, "Bearer tok-2"},
		{200 * time.Second, "Bearer tok-3"},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if _, err := c.Search(context.Background(), "Appointment", nil); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		seen := fs.seen()
		if got := seen[len(seen)-1]; got != st.wantToken {
			t.Errorf("step %d (+%v): Authorization %q, want %q", i, st.advance, got, st.wantToken)
		}
	}
}

func TestTokenRenewedOnce(t *testing.T) {
	tests := []struct {
		name       string
		accept     func(tok string) bool
		wantErr    bool
		wantTokens int
		wantSeen   []string
	}{
		{name: "revoked token renewed on 401", accept: func(tok string) bool { return tok != "tok-1" },
			wantTokens: 2, wantSeen: []string{"Bearer tok-1", "Bearer tok-2"}},
		{name: "a second 401 is the answer", accept: func(string) bool { return false }, wantErr: true,
			wantTokens: 2, wantSeen: []string{"Bearer tok-1", "Bearer tok-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t, &tokenEndpoint{expiresIn: 3600}, nil)
			fs := newFHIRServer(t, tt.accept, nil)
			hc, err := NewHTTPClient(Auth{Kind: AuthClientCredentials, ClientID: testClientID, ClientSecret: []byte(testSecret),
				Scope: testScope, TokenURL: te.url(), CAPEM: serverCAPEM(fs.srv, te.srv)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(fs.srv.URL, hc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Search(context.Background(), "Appointment", nil)
			var fe *Error
			if tt.wantErr != (err != nil) || (tt.wantErr && (!errors.As(err, &fe) || fe.StatusCode != 401)) {
				t.Fatalf("err = %v, want error %v (a 401)", err, tt.wantErr)
			}
			if n := te.count(); n != tt.wantTokens {
				t.Errorf("%d tokens fetched, want %d", n, tt.wantTokens)
			}
			if got := fs.seen(); strings.Join(got, ",") != strings.Join(tt.wantSeen, ",") {
				t.Errorf("FHIR server saw %q, want %q", got, tt.wantSeen)
			}
		})
	}
}

func TestTokenEndpointErrorsHideSecrets(t *testing.T) {
	keys := testKeys()
	echo := func(status int) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			// A careless server echoing all it was sent.
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
				"error_description": "bad client: got " + r.PostForm.Encode() + " and " + r.Header.Get("Authorization") +
					"; secret " + r.PostForm.Get("client_secret") + " assertion " + r.PostForm.Get("client_assertion")})
			return true
		}
	}
	tests := []struct {
		name      string
		auth      Auth
		fail      func(w http.ResponseWriter, r *http.Request) bool
		closed    bool
		wantAuth  bool // errors.Is(err, ErrAuth)
		wantTries int  // token requests (503 is retried like any unavailable server)
		wantInMsg string
	}{
		{name: "401 echoing the secret", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret), ClientAuthMethod: ClientSecretPost},
			fail: echo(401), wantAuth: true, wantTries: 1, wantInMsg: "HTTP 401 Unauthorized: invalid_client"},
		{name: "400 echoing, basic", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret)},
			fail: echo(400), wantAuth: true, wantTries: 1, wantInMsg: "invalid_client"},
		{name: "503 is retried, not ErrAuth", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret)},
			fail: echo(503), wantTries: DefaultMaxAttempts, wantInMsg: "HTTP 503"},
		{name: "HTML error page", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret)},
			fail: func(w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(403)
				fmt.Fprint(w, "<html>"+testSecret+"</html>")
				return true
			},
			wantAuth: true, wantTries: 1, wantInMsg: "HTTP 403"},
		{name: "200 without a token", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret)},
			fail: func(w http.ResponseWriter, _ *http.Request) bool {
				fmt.Fprint(w, `{"token_type":"bearer","note":"`+testSecret+`"}`)
				return true
			},
			wantAuth: true, wantTries: 1, wantInMsg: "no usable access_token"},
		{name: "a MAC token", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret)},
			fail: func(w http.ResponseWriter, _ *http.Request) bool {
				fmt.Fprint(w, `{"access_token":"x","token_type":"mac"}`)
				return true
			},
			wantAuth: true, wantTries: 1, wantInMsg: `token_type "mac"`},
		{name: "SMART assertion refused", auth: Auth{Kind: AuthSMARTBackend, PrivateKeyPEM: pkcs8PEM(t, keys.rsa)},
			fail: echo(401), wantAuth: true, wantTries: 1, wantInMsg: "invalid_client"},
		{name: "token endpoint down", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret), ClientAuthMethod: ClientSecretPost},
			closed: true, wantTries: 0, wantInMsg: "token endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTokenEndpoint(t, &tokenEndpoint{expiresIn: 300, fail: tt.fail}, nil)
			fs := newFHIRServer(t, func(string) bool { return true }, nil)
			a := tt.auth
			a.ClientID, a.Scope, a.TokenURL, a.CAPEM = testClientID, testScope, te.url(), serverCAPEM(fs.srv, te.srv)
			if tt.closed {
				te.srv.Close()
			}
			hc, err := NewHTTPClient(a)
			if err != nil {
				t.Fatal(err)
			}
			c := newTestClientWith(t, fs.srv.URL, hc)
			_, err = c.Search(context.Background(), "Appointment", nil)
			if err == nil {
				t.Fatal("search succeeded, want an error")
			}
			if got := errors.Is(err, ErrAuth); got != tt.wantAuth {
				t.Errorf("errors.Is(err, ErrAuth) = %v, want %v: %v", got, tt.wantAuth, err)
			}
			te.mu.Lock()
			gotTries, assertions := te.requests, te.assertions
			te.mu.Unlock()
			if gotTries != tt.wantTries {
				t.Errorf("%d token requests, want %d", gotTries, tt.wantTries)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("error %q does not say %q", msg, tt.wantInMsg)
			}
			secrets := []string{testSecret, "s3cr3t", url.QueryEscape(testSecret),
				base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + testSecret)),
				base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + url.QueryEscape(testSecret)))}
			for _, secret := range append(secrets, assertions...) {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error text contains a secret (%.10s…): %s", secret, msg)
				}
			}
			if n := len(fs.seen()); n != 0 {
				t.Errorf("FHIR server got %d requests without a token", n)
			}
		})
	}
}

// newTestClientWith is newTestClient with an HTTP client.
func newTestClientWith(t *testing.T, base string, hc *http.Client) *Client {
	t.Helper()
	c, err := NewClient(base, hc, Options{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// issueClient returns a client certificate and its key, as PEM.
func (ca *testCA) issueClient(t *testing.T, cn string) (certPEMBytes, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pkcs8PEM(t, key)
}

func (ca *testCA) requireClientCert() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "Test sundhedsCA")
	other := newTestCA(t, "Someone else")
	goodCert, goodKey := ca.issueClient(t, "overblik")
	badCert, badKey := other.issueClient(t, "intruder")
	tests := []struct {
		name     string
		auth     Auth
		token    bool // also a client-credentials token endpoint behind the same mTLS
		wantOK   bool
		wantSeen string // Authorization at the FHIR server
	}{
		{name: "client certificate", auth: Auth{Kind: AuthMTLS, CertPEM: goodCert, KeyPEM: goodKey}, wantOK: true},
		{name: "client certificate with kind none", auth: Auth{CertPEM: goodCert, KeyPEM: goodKey}, wantOK: true},
		{name: "certificate and client credentials", auth: Auth{Kind: AuthClientCredentials, ClientID: testClientID, ClientSecret: []byte(testSecret), Scope: testScope, CertPEM: goodCert, KeyPEM: goodKey},
			token: true, wantOK: true, wantSeen: "Bearer tok-1"},
		{name: "no certificate", auth: Auth{}},
		{name: "certificate from another CA", auth: Auth{Kind: AuthMTLS, CertPEM: badCert, KeyPEM: badKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFHIRServer(t, func(string) bool { return true }, ca.requireClientCert())
			a := tt.auth
			a.CAPEM = serverCAPEM(fs.srv)
			if tt.token {
				te := newTokenEndpoint(t, &tokenEndpoint{expiresIn: 300}, ca.requireClientCert())
				a.TokenURL = te.url()
			}
			hc, err := NewHTTPClient(a)
			if err != nil {
				t.Fatal(err)
			}
			c := newTestClientWith(t, fs.srv.URL, hc)
			_, err = c.Search(context.Background(), "Appointment", nil)
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want success %v", err, tt.wantOK)
			}
			if !tt.wantOK {
				return
			}
			fs.mu.Lock()
			defer fs.mu.Unlock()
			if len(fs.cns) != 1 || fs.cns[0] != "overblik" || fs.tokens[0] != tt.wantSeen {
				t.Errorf("server saw certificates %q and Authorization %q, want [overblik] and %q", fs.cns, fs.tokens, tt.wantSeen)
			}
		})
	}
}

func TestRedirectKeepsTheToken(t *testing.T) {
	var elsewhere []string
	var mu sync.Mutex
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, searchset(""))
	}))
	defer thief.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved/Appointment" {
			fmt.Fprint(w, searchset("", "a1"))
			return
		}
		target := "/moved/Appointment"
		if r.URL.Path == "/away/Appointment" {
			target = thief.URL + "/Appointment"
		}
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer home.Close()
	hc, err := NewHTTPClient(Auth{Kind: AuthBearer, Token: []byte("static-token")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newTestClientWith(t, home.URL+"/here", hc).Search(context.Background(), "Appointment", nil); err != nil {
		t.Errorf("redirect on the same server: %v", err)
	}
	_, err = newTestClientWith(t, home.URL+"/away", hc).Search(context.Background(), "Appointment", nil)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("redirect to another server: err = %v, want ErrInvalid", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(elsewhere) != 0 {
		t.Errorf("the other server got %d requests (Authorization %q)", len(elsewhere), elsewhere)
	}
}

func TestNewHTTPClientErrors(t *testing.T) {
	keys := testKeys()
	ca := newTestCA(t, "ca")
	cert, _ := ca.issueClient(t, "c")
	const tokenURL = "https://auth.example/token"
	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{name: "unknown kind", auth: Auth{Kind: "kerberos"}, want: "unknown kind"},
		{name: "bearer without token", auth: Auth{Kind: AuthBearer}, want: "needs a token"},
		{name: "bearer with a newline", auth: Auth{Kind: AuthBearer, Token: []byte("abc\r\nX-Evil: 1")}, want: "printable"},
		{name: "mtls without certificate", auth: Auth{Kind: AuthMTLS}, want: "client certificate"},
		{name: "certificate without key", auth: Auth{Kind: AuthMTLS, CertPEM: cert}, want: "client certificate"},
		{name: "key of another certificate", auth: Auth{Kind: AuthMTLS, CertPEM: cert, KeyPEM: pkcs8PEM(t, keys.ec256)}, want: "client certificate"},
		{name: "CA that is not PEM", auth: Auth{CAPEM: []byte("nope")}, want: "CA"},
		{name: "client credentials without secret", auth: Auth{Kind: AuthClientCredentials, ClientID: "c", TokenURL: tokenURL}, want: "client secret"},
		{name: "client credentials without id", auth: Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret), TokenURL: tokenURL}, want: "client id"},
		{name: "unknown client auth method", auth: Auth{Kind: AuthClientCredentials, ClientID: "c", ClientSecret: []byte(testSecret), TokenURL: tokenURL, ClientAuthMethod: "private_key"}, want: "client auth method"},
		{name: "token URL over plain http", auth: Auth{Kind: AuthClientCredentials, ClientID: "c", ClientSecret: []byte(testSecret), TokenURL: "http://auth.example/token"}, want: "https"},
		{name: "token URL relative", auth: Auth{Kind: AuthClientCredentials, ClientID: "c", ClientSecret: []byte(testSecret), TokenURL: "/token"}, want: "absolute"},
		{name: "token URL with credentials", auth: Auth{Kind: AuthClientCredentials, ClientID: "c", ClientSecret: []byte(testSecret), TokenURL: "https://u:" + testSecret + "@auth.example/"}, want: "without credentials"},
		{name: "SMART without key", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL}, want: "no PEM private key"},
		{name: "SMART key not a key", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL, PrivateKeyPEM: cert}, want: "not PKCS#8"},
		{name: "SMART ES384 asked with an RSA key", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL, PrivateKeyPEM: pkcs8PEM(t, keys.rsa), Alg: "ES384"}, want: "RSA key"},
		{name: "SMART RS256 is not offered", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL, PrivateKeyPEM: pkcs8PEM(t, keys.rsa), Alg: "RS256"}, want: "want RS384"},
		{name: "SMART P-256 key", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL, PrivateKeyPEM: pkcs8PEM(t, keys.ec256)}, want: "P-384"},
		{name: "SMART short RSA key", auth: Auth{Kind: AuthSMARTBackend, ClientID: "c", TokenURL: tokenURL, PrivateKeyPEM: pkcs8PEM(t, keys.rsa1024)}, want: "2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHTTPClient(tt.auth)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "X-Evil") {
				t.Errorf("error repeats a secret: %v", err)
			}
		})
	}
	t.Run("plain http token URL on loopback is allowed", func(t *testing.T) {
		if _, err := NewHTTPClient(Auth{Kind: AuthClientCredentials, ClientID: "c", ClientSecret: []byte(testSecret), TokenURL: "http://127.0.0.1:9/token"}); err != nil {
			t.Error(err)
		}
	})
}

func TestAuthPrintsNoSecrets(t *testing.T) {
	a := Auth{Kind: AuthClientCredentials, ClientSecret: []byte(testSecret), Token: []byte("tok-secret"), PrivateKeyPEM: pkcs8PEM(t, testKeys().ec384), KeyPEM: []byte("key-secret")}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("source", "auth", a)
	for _, out := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), logged.String()} {
		for _, secret := range []string{testSecret, "tok-secret", "PRIVATE KEY", "key-secret"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows %q", out, secret)
			}
		}
		if !strings.Contains(out, "client_credentials") {
			t.Errorf("%q does not show the kind", out)
		}
	}
}
