package config

import (
	"strings"
	"testing"
)

func TestMedComSourceConfig(t *testing.T) {
	const source = `  - {name: herlev, display: Herlev Hospital, sector: hospital, kind: medcom-hospitalnotification}
`
	const key = "api_keys:\n  - {name: herlev, key_sha256: " + keyHash + ", role: source}\n"
	secret := func(k string) string {
		if k == EnvHandleSecret {
			return "a handle secret of at least thirty-two bytes"
		}
		return ""
	}
	c := mustParseConfig(t, minimalConfig+source+key, secret)
	if s := c.Sources[1]; s.Kind != KindMedCom || s.Name != "herlev" {
		t.Errorf("source = %+v", s)
	}
	c = mustParseConfig(t, minimalConfig+`  - name: herlev
    display: Herlev Hospital
    sector: hospital
    kind: medcom-hospitalnotification
    client_cert_subjects: ["CN=Herlev notifications,O=Region Hovedstaden,C=DK"]
`, secret)
	if got := c.CertSenders(); got["CN=Herlev notifications,O=Region Hovedstaden,C=DK"] != "herlev" {
		t.Errorf("senders by certificate = %v", got)
	}

	tests := []struct {
		name, yaml string
		getenv     func(string) string
		want       string
	}{
		{"without a lasting handle secret", minimalConfig + source + key, nil,
			"sources[1].kind: a medcom-hospitalnotification source keeps messages under patient handles"},
		{"nobody may send", minimalConfig + source, secret, `sources[1].name: nobody can send to herlev: add an api_keys entry of role source named "herlev"`},
		{"a key of role source for no such source", minimalConfig + source + key + "  - {name: other, key_sha256: " + keyHash + ", role: source}\n", secret,
			`api_keys[1].name: a key of role source sends for the medcom-hospitalnotification source of its name; there is none called "other"`},
		{"not a hospital", minimalConfig + strings.Replace(source, "sector: hospital", "sector: municipality", 1) + key, secret,
			`sources[1].sector: a medcom-hospitalnotification source is a hospital, got "municipality"`},
		{"a base_url", minimalConfig + strings.Replace(source, "}", ", base_url: https://x.dk}", 1) + key, secret,
			"sources[1].kind: a medcom-hospitalnotification source is posted to, it takes no base_url or url"},
		{"certificates for a FHIR source", minimalConfig[:len(minimalConfig)-1] + "\n    client_cert_subjects: [CN=x]\n", secret,
			"sources[0].client_cert_subjects: is for kind medcom-hospitalnotification"},
		{"one certificate for two sources", minimalConfig +
			"  - {name: a, display: A, sector: hospital, kind: medcom-hospitalnotification, client_cert_subjects: [CN=x]}\n" +
			"  - {name: b, display: B, sector: hospital, kind: medcom-hospitalnotification, client_cert_subjects: [CN=x]}\n", secret,
			`sources[2].client_cert_subjects: the subject "CN=x" also sends for a`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseConfigErr(t, tc.yaml, tc.getenv); !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain %q", got, tc.want)
			}
		})
	}
}
