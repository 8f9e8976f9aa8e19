package config

import (
	"fmt"
	"slices"
)

// validateMedCom checks a source of kind medcom-hospitalnotification: a
// hospital that posts its HospitalNotifications to us, kept under patient
// handles, so the handle secret must outlive a restart.
func (c *Config) validateMedCom(s SourceConfig, key func(string) string, add func(key, format string, args ...any)) {
	if s.Sector != "" && s.Sector != "hospital" {
		add(key("sector"), "a %s source is a hospital, got %q", KindMedCom, s.Sector)
	}
	if s.BaseURL != "" || s.URL != "" {
		add(key("kind"), "a %s source is posted to, it takes no base_url or url", KindMedCom)
	}
	if c.HandleSecret == nil {
		add(key("kind"), "a %s source keeps messages under patient handles: set handle_secret_file or %s, "+
			"or they are lost at the next restart", KindMedCom, EnvHandleSecret)
	}
	keyed := slices.ContainsFunc(c.APIKeys, func(k APIKeyConfig) bool { return k.Role == "source" && k.Name == s.Name })
	if !keyed && len(s.ClientCertSubjects) == 0 {
		add(key("name"), "nobody can send to %s: add an api_keys entry of role source named %q, or client_cert_subjects", s.Name, s.Name)
	}
}

// validateSenders: a key of role source sends for the medcom source of its
// name, so there must be one; a certificate sends for one source only.
func (c *Config) validateSenders(add func(key, format string, args ...any)) {
	subjects := map[string]string{}
	for i, s := range c.Sources {
		for _, sub := range s.ClientCertSubjects {
			if other, dup := subjects[sub]; dup && other != s.Name {
				add(fmt.Sprintf("sources[%d].client_cert_subjects", i), "the subject %q also sends for %s", sub, other)
			}
			subjects[sub] = s.Name
		}
	}
	for i, k := range c.APIKeys {
		if k.Role != "source" {
			continue
		}
		if !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Kind == KindMedCom && s.Name == k.Name }) {
			add(fmt.Sprintf("api_keys[%d].name", i), "a key of role source sends for the %s source of its name; there is none called %q", KindMedCom, k.Name)
		}
	}
}

// CertSenders maps each client certificate subject to the medcom source it sends for.
func (c *Config) CertSenders() map[string]string {
	out := map[string]string{}
	for _, s := range c.Sources {
		if s.Kind == KindMedCom {
			for _, sub := range s.ClientCertSubjects {
				out[sub] = s.Name
			}
		}
	}
	return out
}
