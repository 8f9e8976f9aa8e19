package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/web"
)

// TestHospitalNotificationOverMutualTLS runs `overblik serve` terminating
// TLS itself, with client_ca_file, and a medcom source sent for only by a
// client certificate's subject. The hospital posts a MedCom example message
// with its certificate and gets the ok acknowledgement, and the admission
// reaches the clinician's timeline; the same subject from another CA, a
// subject no source lists, and no certificate at all are refused. Browsers
// without a certificate still get pages; TLS below 1.2 gets nothing.
func TestHospitalNotificationOverMutualTLS(t *testing.T) {
	fx := newMedcomFixture(t)
	dir := t.TempDir()
	ca := newTestCA(t, "Region Hovedstaden test CA")
	other := newTestCA(t, "Someone's own CA")
	srvCert := ca.issue(t, pkix.Name{CommonName: "overblik"}, true)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srvCert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "server.key"), "PRIVATE KEY", keyDER)

	hospital := pkix.Name{CommonName: "Herlev advis", Organization: []string{"Region Hovedstaden"}, Country: []string{"DK"}}
	cfg := `listen: 127.0.0.1:0
metrics_listen: off
tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
api_keys:
  - {name: journal, key_sha256: ` + keySum("clinician-key") + `, role: clinician}
database_path: ` + filepath.Join(dir, "overblik.db") + `
sources:
  - {name: kommune, display: Herlev Kommune, sector: municipality, kind: fhir, base_url: ` + fx.municipal + `}
  - name: herlev
    display: Herlev og Gentofte Hospital
    sector: hospital
    kind: medcom-hospitalnotification
    client_cert_subjects: ["` + hospital.String() + `"]
`
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvHandleSecret: "a handle secret of at least thirty-two bytes"}
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", path}, stdoutW, stderr, func(k string) string { return env[k] })
		stdoutW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("serve ended with %d: %s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("no start-up line: %v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdoutR)
	i := strings.Index(line, "https://")
	if i < 0 {
		t.Fatalf("start-up line %q: not https", line)
	}
	base := strings.TrimSpace(line[i:])

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(cert *tls.Certificate, maxVersion uint16) *http.Client {
		tc := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
		if cert != nil {
			// Sent whatever CAs the server names, as a client bent on it would.
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	}
	post := func(c *http.Client, body []byte) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/fhir/$process-message", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}

	// Refused: the subject from another CA (at the handshake), a subject
	// nobody listed, no certificate.
	if code, body, err := post(client(other.issue(t, hospital, false), 0), fx.messages[0]); err == nil && code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("the hospital's subject from another CA: %d %s, want refused", code, body)
	}
	for name, cert := range map[string]*tls.Certificate{
		"a subject no source lists": ca.issue(t, pkix.Name{CommonName: "Herlev advis", Organization: []string{"Region Sjælland"}, Country: []string{"DK"}}, false),
		"no certificate":            nil,
	} {
		if code, body, err := post(client(cert, 0), fx.messages[0]); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s %v, want 401", name, code, body, err)
		}
	}

	// The hospital's own certificate: the message is stored and acknowledged.
	herlev := client(ca.issue(t, hospital, false), 0)
	code, body, err := post(herlev, fx.messages[0])
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"code":"ok"`) {
		t.Fatalf("the hospital's certificate: %d %s %v, want 200 and an ok acknowledgement", code, body, err)
	}
	posted := time.Now()

	// A browser without a certificate gets pages, and the clinician's key
	// the admission the message told of.
	browser := client(nil, 0)
	if resp, err := browser.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("without a certificate: %v %v, want 200", resp, err)
	} else {
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Error("no HSTS over the server's own TLS")
		}
		resp.Body.Close()
	}
	api := func(method, url, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer clinician-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(web.ReasonHeader, "hjemmeplejen planlægger")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	_, b := api(http.MethodPost, base+"/api/v1/patients/lookup", `{"identifier":"`+fx.cpr+`","reason":"plan"}`)
	var h struct{ Handle string }
	if err := json.Unmarshal(b, &h); err != nil || h.Handle == "" {
		t.Fatalf("lookup: %s", b)
	}
	for {
		code, b := api(http.MethodGet, base+"/api/v1/patients/"+h.Handle+"/timeline", "")
		var tl struct {
			Entries []struct{ Source, Kind string }
		}
		if code != http.StatusOK || json.Unmarshal(b, &tl) != nil {
			t.Fatalf("timeline: %d %s", code, b)
		}
		admitted := false
		for _, e := range tl.Entries {
			admitted = admitted || e.Source == "herlev" && e.Kind == "admission"
		}
		if admitted {
			break
		}
		if time.Since(posted) > 5*time.Second {
			t.Fatalf("no admission from herlev 5 seconds after its message: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Below TLS 1.2: no connection.
	if resp, err := client(nil, tls.VersionTLS11).Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

// testCA is a certificate authority of a test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) testCA {
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
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// issue makes a certificate for subject: a server's for 127.0.0.1, or a
// client's.
func (ca testCA) issue(t *testing.T, subject pkix.Name, server bool) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
