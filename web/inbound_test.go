package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/view"
)

// recordingReceiver answers every message with 200 and remembers who sent it.
type recordingReceiver struct {
	mu      sync.Mutex
	senders []string
}

func (r *recordingReceiver) ServeMessage(w http.ResponseWriter, _ *http.Request, sender string) {
	r.mu.Lock()
	r.senders = append(r.senders, sender)
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *recordingReceiver) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.senders
	r.senders = nil
	return s
}

const senderSubject = "CN=Herlev Hospital notifications,O=Region Hovedstaden,C=DK"

// inboundServer is a secured server with a message receiver, whose test
// users include a source's API key and a person who holds the source role.
func inboundServer(t *testing.T) (*Server, *recordingReceiver, string) {
	t.Helper()
	st := backends["sqlite"](t)
	t.Cleanup(func() { st.Close() })
	pats, err := aggregator.NewPatients([]byte("0123456789abcdef0123456789abcdef"), memcache.NewDirectory())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pats.Register(context.Background(), aggregator.Identifier{System: testSystem, Value: cprA})
	if err != nil {
		t.Fatal(err)
	}
	source := access.Principal{Subject: "apikey:herlev", Roles: []access.Role{access.RoleSource}, Name: "herlev"}
	ids := map[string]Identity{
		"source-key":    {Principal: source},
		"clinician-key": {Principal: access.Principal{Subject: "apikey:journal", Roles: []access.Role{access.RoleClinician}}},
		"person-source": {Principal: access.Principal{Subject: "sub-x", Roles: []access.Role{access.RoleSource}, Handle: p.Handle}, Session: true, CSRF: testCSRF},
	}
	rec := &recordingReceiver{}
	svc := access.NewService(st, access.Options{})
	s := New(Config{Location: cph(t), DefaultIdentifierSystem: testSystem, SenderCerts: map[string]string{senderSubject: "herlev"},
		Demo: []DemoPatient{{Handle: p.Handle, Name: "Demo"}}, RateLimits: RateLimits{Login: 1000, Lookup: 1000}},
		Deps{Views: view.New(fakeTimelines{tl: testTimeline(t)}, pats, view.Options{Access: svc}), Patients: pats,
			Auth: headerAuth{ids: ids}, Access: svc, Messages: rec, Outages: fakeOutages{}})
	return s, rec, p.Handle
}

type fakeOutages struct{}

func (fakeOutages) Sources() []SimulatedSource                  { return nil }
func (fakeOutages) SetDown(context.Context, string, bool) error { return nil }

func TestProcessMessageNeedsASource(t *testing.T) {
	s, rec, _ := inboundServer(t)
	tests := []struct {
		user   string
		status int
		sender []string
	}{
		{"", http.StatusUnauthorized, nil},
		{"bad", http.StatusUnauthorized, nil},
		{"source-key", http.StatusOK, []string{"herlev"}},
		{"clinician-key", http.StatusUnauthorized, nil},
		{"person-source", http.StatusUnauthorized, nil}, // a login is not a system
	}
	for _, tc := range tests {
		t.Run("user "+tc.user, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/fhir/$process-message", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/fhir+json")
			if tc.user != "" {
				req.Header.Set("X-Test-User", tc.user)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := rec.take(); strings.Join(got, ",") != strings.Join(tc.sender, ",") {
				t.Errorf("receiver got senders %v, want %v", got, tc.sender)
			}
		})
	}
}

// TestSourceKeyOpensNothingElse tries every route the server has with a
// source's key: apart from posting messages, it gets what a stranger gets
// at most, and never patient data.
func TestSourceKeyOpensNothingElse(t *testing.T) {
	s, _, handle := inboundServer(t)
	open := map[string]bool{"GET /": true, "GET /static/:name": true, "GET /healthz": true, "GET /readyz": true,
		"POST /fhir/$process-message": true}
	n := 0
	for _, r := range s.e.Routes() {
		if open[r.Method+" "+r.Path] || r.Method == echoRouteNotFound {
			continue
		}
		n++
		path := strings.NewReplacer(":handle", handle, ":name", "hospital", ":id", "x", "*", "x").Replace(r.Path)
		req := httptest.NewRequest(r.Method, path, strings.NewReader(`{"identifier":"`+cprA+`","reason":"x"}`))
		req.Header.Set("X-Test-User", "source-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(ReasonHeader, "x")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusNotFound {
			t.Errorf("%s %s with a source's key: %d, want 404: %.200s", r.Method, path, w.Code, w.Body)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes tried", n)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Test-User", "source-key")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if body, _ := io.ReadAll(w.Body); w.Code != http.StatusOK || strings.Contains(string(body), handle) {
		t.Errorf("front page for a source: %d, links a patient: %v", w.Code, strings.Contains(string(body), handle))
	}
}

// echoRouteNotFound is the method Echo lists its own not-found routes under.
const echoRouteNotFound = "echo_route_not_found"

// TestProcessMessageWithClientCertificate: over mutual TLS, the client
// certificate's subject names the source; any other certificate is nobody.
func TestProcessMessageWithClientCertificate(t *testing.T) {
	s, rec, _ := inboundServer(t)
	ca, caKey := newCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	post := func(cert *tls.Certificate) int {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/fhir/$process-message", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(clientCert(t, ca, caKey, pkix.Name{CommonName: "Herlev Hospital notifications", Organization: []string{"Region Hovedstaden"}, Country: []string{"DK"}})); got != http.StatusOK {
		t.Errorf("mapped certificate: %d, want 200", got)
	}
	if got := rec.take(); strings.Join(got, ",") != "herlev" {
		t.Errorf("senders %v, want herlev", got)
	}
	if got := post(clientCert(t, ca, caKey, pkix.Name{CommonName: "Someone else"})); got != http.StatusUnauthorized {
		t.Errorf("unmapped certificate: %d, want 401", got)
	}
	if got := post(nil); got != http.StatusUnauthorized {
		t.Errorf("no certificate: %d, want 401", got)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("the receiver was called for %v", got)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func clientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
