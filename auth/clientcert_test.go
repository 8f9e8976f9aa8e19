package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/overblik/overblik/access"
	"github.com/overblik/overblik/aggregator"
)

// TestClientCertificateIdentifiesItsSource: over TLS that verifies client
// certificates if given, a mapped subject is its source with role source,
// as the source's key would be; a certificate of another CA never gets
// through the handshake; an unmapped one, or none, is nobody; a bearer
// credential and a session come first.
func TestClientCertificateIdentifiesItsSource(t *testing.T) {
	ca, caKey := testCA(t, "test CA")
	other, otherKey := testCA(t, "another CA")
	const subject = "CN=Herlev notifications,O=Region Hovedstaden,C=DK"
	a, err := New(context.Background(), Config{
		APIKeys:     []APIKey{{Name: "journal", SHA256: sha256.Sum256([]byte("journal-key")), Role: access.RoleClinician}},
		ClientCerts: map[string]string{subject: "herlev"},
		Patients:    &aggregator.Patients{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok, err := a.Identify(r.Context(), r)
		json.NewEncoder(w).Encode(map[string]any{"ok": ok, "err": err != nil, "subject": id.Principal.Subject,
			"roles": id.Principal.Roles, "name": id.Principal.Name, "session": id.Session})
	}))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	type answer struct {
		OK, Err, Session bool
		Subject, Name    string
		Roles            []access.Role
	}
	ask := func(cert *tls.Certificate, bearer string) (answer, error) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			// Sent whatever CAs the server names, as a client bent on it would.
			tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		var got answer
		return got, json.NewDecoder(resp.Body).Decode(&got)
	}
	herlev := testClientCert(t, ca, caKey, pkix.Name{CommonName: "Herlev notifications", Organization: []string{"Region Hovedstaden"}, Country: []string{"DK"}})

	got, err := ask(herlev, "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.OK || got.Subject != "cert:herlev" || got.Name != "herlev" || len(got.Roles) != 1 || got.Roles[0] != access.RoleSource || got.Session {
		t.Errorf("mapped certificate: %+v, want the source herlev with role source", got)
	}
	if got, err := ask(herlev, "journal-key"); err != nil || got.Subject != "apikey:journal" {
		t.Errorf("a key and a certificate: %+v %v, want the key", got, err)
	}
	for name, cert := range map[string]*tls.Certificate{
		"unmapped subject": testClientCert(t, ca, caKey, pkix.Name{CommonName: "Someone else"}),
		"no certificate":   nil,
	} {
		if got, err := ask(cert, ""); err != nil || got.OK || got.Subject != "" {
			t.Errorf("%s: %+v %v, want nobody", name, got, err)
		}
	}
	// The same subject from another CA: the handshake refuses it.
	if got, err := ask(testClientCert(t, other, otherKey, pkix.Name{CommonName: "Herlev notifications", Organization: []string{"Region Hovedstaden"}, Country: []string{"DK"}}), ""); err == nil {
		t.Errorf("a certificate of another CA got an answer: %+v", got)
	}
}

func testCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
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

func testClientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name) *tls.Certificate {
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
