package fhir

import (
	"net/http"
	"net/url"
)

// AuthConfig is a source's `auth` section of the configuration, the one
// every connector that asks a server over HTTP takes: where the secrets
// are, not the secrets. Its fields tagged yaml are its keys; ReadFiles
// fills the rest.
type AuthConfig struct {
	Kind             string `yaml:"kind"`               // none (default) | bearer | client_credentials | smart_backend | mtls
	TokenFile        string `yaml:"token_file"`         // bearer
	TokenURL         string `yaml:"token_url"`          // client_credentials, smart_backend
	ClientID         string `yaml:"client_id"`          //
	Scope            string `yaml:"scope"`              //
	ClientSecretFile string `yaml:"client_secret_file"` // client_credentials
	ClientAuthMethod string `yaml:"client_auth_method"` // client_secret_basic (default) | client_secret_post
	PrivateKeyFile   string `yaml:"private_key_file"`   // smart_backend: PEM, RSA or EC P-384
	KeyID            string `yaml:"key_id"`             // the kid of the key at the server's JWKS
	Alg              string `yaml:"alg"`                // RS384 | ES384
	CertFile         string `yaml:"cert_file"`          // client certificate for mutual TLS (any kind)
	KeyFile          string `yaml:"key_file"`           // its private key
	CAFile           string `yaml:"ca_file"`            // CA bundle for the server, when not a public CA

	// Read from the files, or the token and client secret from the
	// environment (OVERBLIK_SOURCE_<NAME>_TOKEN, _CLIENT_SECRET).
	Token, ClientSecret, PrivateKey, Cert, Key, CA []byte
}

// ReadFiles fills the secrets: read gives a file's content (nil, and the
// problem reported on key, when it cannot be read), env a variable of the
// source (env("TOKEN") is OVERBLIK_SOURCE_<NAME>_TOKEN), which wins over
// the file.
func (a *AuthConfig) ReadFiles(read func(key, path string) []byte, env func(what string) string) {
	secret := func(what, key, path string) []byte {
		if v := env(what); v != "" {
			return []byte(v)
		}
		return read(key, path)
	}
	a.Token = secret("TOKEN", "token_file", a.TokenFile)
	a.ClientSecret = secret("CLIENT_SECRET", "client_secret_file", a.ClientSecretFile)
	a.PrivateKey = read("private_key_file", a.PrivateKeyFile)
	a.Cert = read("cert_file", a.CertFile)
	a.Key = read("key_file", a.KeyFile)
	a.CA = read("ca_file", a.CAFile)
}

// Check reports what each kind of authentication lacks, by its key in the
// section ("token_file"). It never quotes a secret.
func (a *AuthConfig) Check(problem func(key, format string, args ...any)) {
	need := func(v []byte, key, what string) {
		if len(v) == 0 {
			problem(key, "required for auth kind %s (%s)", a.Kind, what)
		}
	}
	needStr := func(v, key string) {
		if v == "" {
			problem(key, "required for auth kind %s", a.Kind)
		}
	}
	switch a.Kind {
	case "", AuthNone:
	case AuthBearer:
		need(a.Token, "token_file", "or the environment variable _TOKEN")
	case AuthClientCredentials:
		needStr(a.TokenURL, "token_url")
		needStr(a.ClientID, "client_id")
		need(a.ClientSecret, "client_secret_file", "or the environment variable _CLIENT_SECRET")
		switch a.ClientAuthMethod {
		case "", ClientSecretBasic, ClientSecretPost:
		default:
			problem("client_auth_method", "unknown method %q (want client_secret_basic or client_secret_post)", a.ClientAuthMethod)
		}
	case AuthSMARTBackend:
		needStr(a.TokenURL, "token_url")
		needStr(a.ClientID, "client_id")
		need(a.PrivateKey, "private_key_file", "a PEM private key")
		if a.Alg != "RS384" && a.Alg != "ES384" {
			problem("alg", "want RS384 or ES384, got %q", a.Alg)
		}
	case AuthMTLS:
		need(a.Cert, "cert_file", "a PEM client certificate")
	default:
		problem("kind", "unknown kind %q (want none, bearer, client_credentials, smart_backend or mtls)", a.Kind)
	}
	if (len(a.Cert) > 0) != (len(a.Key) > 0) {
		problem("key_file", "cert_file and key_file go together")
	}
	if a.TokenURL != "" {
		if u, err := url.Parse(a.TokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			problem("token_url", "must be an absolute https URL")
		}
	}
}

// Auth is the section with its secrets, as NewHTTPClient takes it.
func (a AuthConfig) Auth() Auth {
	return Auth{
		Kind: a.Kind, Token: a.Token, TokenURL: a.TokenURL, ClientID: a.ClientID, Scope: a.Scope,
		ClientSecret: a.ClientSecret, ClientAuthMethod: a.ClientAuthMethod,
		PrivateKeyPEM: a.PrivateKey, KeyID: a.KeyID, Alg: a.Alg,
		CertPEM: a.Cert, KeyPEM: a.Key, CAPEM: a.CA,
	}
}

// Client is NewHTTPClient for the section.
func (a *AuthConfig) Client() (*http.Client, error) { return NewHTTPClient(a.Auth()) }

// String hides the secrets, in case a section is printed.
func (a AuthConfig) String() string { return a.Auth().String() }

// GoString hides the secrets from %#v too.
func (a AuthConfig) GoString() string { return a.String() }
