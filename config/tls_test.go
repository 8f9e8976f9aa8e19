package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTLSFiles writes a CA (ca.pem) and a server certificate it signed
// (server.pem, server.key) into dir.
func writeTLSFiles(t *testing.T, dir string) {
	t.Helper()
	key := func(name string) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if name != "" {
			der, _ := x509.MarshalECPrivateKey(k)
			write(t, filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
		}
		return k
	}
	caKey := key("")
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	srvKey := key("server.key")
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "overblik"}, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "server.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}))
	write(t, filepath.Join(dir, "other.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: func() []byte {
		der, _ := x509.MarshalECPrivateKey(key(""))
		return der
	}()}))
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir)
	load := func(t *testing.T, yaml string) (*Config, error) {
		t.Helper()
		path := filepath.Join(dir, "overblik.yaml")
		write(t, path, []byte(yaml+minimalConfig))
		return Load(path, nil, testKinds())
	}
	c, err := load(t, "")
	if err != nil || c.TLS.On() || c.TLS.ClientCAs != nil {
		t.Fatalf("without tls: %+v, %v", c.TLS, err)
	}
	c, err = load(t, "tls: {cert_file: server.pem, key_file: server.key}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.On() || len(c.TLS.Certificate.Certificate) != 1 || c.TLS.ClientCAs != nil {
		t.Errorf("tls without client certificates: %+v", c.TLS)
	}
	c, err = load(t, "tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.ClientCAs == nil || !c.TLS.ClientCAs.Equal(func() *x509.CertPool {
		p := x509.NewCertPool()
		b, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
		p.AppendCertsFromPEM(b)
		return p
	}()) {
		t.Errorf("client CAs %v, want the one in ca.pem", c.TLS.ClientCAs)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"tls: {cert_file: server.pem}\n", "overblik.yaml:1: tls.key_file: required with tls.cert_file"},
		{"tls: {key_file: server.key}\n", "tls.cert_file: required with tls.key_file or tls.client_ca_file"},
		{"tls: {client_ca_file: ca.pem}\n", "tls.cert_file: required with tls.key_file or tls.client_ca_file"},
		{"tls: {cert_file: server.pem, key_file: other.key}\n", "tls.cert_file: not a PEM certificate whose key is in tls.key_file (tls: private key does not match public key)"},
		{"tls: {cert_file: server.key, key_file: server.key}\n", "tls.cert_file: not a PEM certificate whose key is in tls.key_file"},
		{"tls: {cert_file: server.pem, key_file: server.key, client_ca_file: server.key}\n", "tls.client_ca_file: holds no PEM certificate"},
		{"tls:\n  cert_file: missing.pem\n  key_file: server.key\n", "overblik.yaml:2: tls.cert_file: open " + filepath.Join(dir, "missing.pem")},
		{"tls: {cert_file: server.pem, key_file: server.key, ca_file: ca.pem}\n", "tls.ca_file: unknown key (tls takes cert_file, client_ca_file, key_file)"},
	} {
		_, err := load(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%q: the error quotes a key: %v", tc.yaml, err)
		}
	}
}

// TestCertSendersNeedAClientCA: a source sent for by certificates only
// needs tls.client_ca_file, or nobody can send for it.
func TestCertSendersNeedAClientCA(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir)
	src := minimalConfig + "  - {name: herlev, display: H, sector: hospital, kind: push, client_cert_subjects: [CN=herlev]}\n"
	secret := envFunc(map[string]string{EnvHandleSecret: "a handle secret of at least thirty-two bytes"})
	got := parseConfigErr(t, src, secret)
	assertErrContains(t, got, `sources[1].client_cert_subjects: nobody can send to herlev: client certificates are verified only with tls.client_ca_file`)
	// With a key of its own it can, and the subjects wait for the CA.
	mustParseConfig(t, src+"api_keys: [{name: herlev, key_sha256: "+keyHash+", role: source}]\n", secret)
	path := filepath.Join(dir, "overblik.yaml")
	write(t, path, []byte("tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}\n"+src))
	if c, err := Load(path, secret, testKinds()); err != nil || c.CertSenders()["CN=herlev"] != "herlev" {
		t.Errorf("with a client CA: %v", err)
	}
}
