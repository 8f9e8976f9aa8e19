package config

import (
	"crypto/tls"
	"crypto/x509"

	yaml "go.yaml.in/yaml/v3"
)

// The `tls` section: serve terminates TLS itself, and with client_ca_file
// verifies the client certificates of the sources that post to it.

// TLSConfig is `tls`. Without cert_file the server speaks plain HTTP, for
// a reverse proxy in front of it.
type TLSConfig struct {
	CertFile string // `cert_file`: the server's certificate chain, PEM
	KeyFile  string // `key_file`: its private key, PEM
	// ClientCAFile is `client_ca_file`: the CAs (PEM) whose client
	// certificates a sender may present; a verified one whose subject a
	// source lists in client_cert_subjects sends for that source. Without
	// it no client certificate is asked for.
	ClientCAFile string

	// Read by Load and checked by Validate.
	CertPEM, KeyPEM, ClientCAPEM []byte
	Certificate                  tls.Certificate
	ClientCAs                    *x509.CertPool // nil without client_ca_file
}

// On says whether serve terminates TLS.
func (t *TLSConfig) On() bool { return t.CertFile != "" || len(t.CertPEM) > 0 }

func (d *decoder) tls(n *yaml.Node, path string, t *TLSConfig) {
	d.mapping(n, path, map[string]field{
		"cert_file":      d.str(&t.CertFile),
		"key_file":       d.str(&t.KeyFile),
		"client_ca_file": d.str(&t.ClientCAFile),
	})
}

// readTLS reads the files `tls` names, relative to the configuration's folder.
func (d *decoder) readTLS(t *TLSConfig, dir string) {
	t.CertPEM = d.readFile("tls.cert_file", t.CertFile, dir)
	t.KeyPEM = d.readFile("tls.key_file", t.KeyFile, dir)
	t.ClientCAPEM = d.readFile("tls.client_ca_file", t.ClientCAFile, dir)
}

// validateTLS parses what readTLS read. The errors never quote a key.
func (c *Config) validateTLS(add func(key, format string, args ...any)) {
	t := &c.TLS
	t.Certificate, t.ClientCAs = tls.Certificate{}, nil
	if !t.On() {
		if t.KeyFile != "" || t.ClientCAFile != "" {
			add("tls.cert_file", "required with tls.key_file or tls.client_ca_file")
		}
		return
	}
	switch {
	case t.KeyFile == "" && len(t.KeyPEM) == 0:
		add("tls.key_file", "required with tls.cert_file")
	case len(t.CertPEM) > 0 && len(t.KeyPEM) > 0:
		cert, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
		if err != nil {
			add("tls.cert_file", "not a PEM certificate whose key is in tls.key_file (%v)", err)
		} else {
			t.Certificate = cert
		}
	}
	if len(t.ClientCAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.ClientCAPEM) {
			add("tls.client_ca_file", "holds no PEM certificate")
		} else {
			t.ClientCAs = pool
		}
	}
}
