package medcom

import (
	"context"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/sources"
)

// The source's own keys, read as serve reads them: a source that is posted
// to, by a hospital.

func kinds() []config.Kind {
	return []config.Kind{{Name: Kind, Section: func() config.Section { c := DefaultConfig(); return &c }}}
}

const keyHash = "78726d1cd080c7a6bb423be2c97471a2abaf326c9231efcbc8622bd481d8946a"

func TestConfig(t *testing.T) {
	secret := func(k string) string {
		if k == config.EnvHandleSecret {
			return "a handle secret of at least thirty-two bytes"
		}
		return ""
	}
	const subject = "CN=Herlev notifications,O=Region Hovedstaden,C=DK"
	c, err := config.Parse([]byte(`sources:
  - name: herlev
    display: Herlev Hospital
    sector: hospital
    kind: medcom-hospitalnotification
    client_cert_subjects: ["`+subject+`"]
api_keys: [{name: herlev, key_sha256: `+keyHash+`, role: source}]
`), secret, kinds())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CertSenders(); len(got) != 1 || got[subject] != "herlev" {
		t.Errorf("senders by certificate %v, want %s for herlev", got, subject)
	}
	if got := c.Sources[0].Section.(*Config).ClientCertSubjects; len(got) != 1 || got[0] != subject {
		t.Errorf("client_cert_subjects %q", got)
	}

	const src = "sources:\n  - {name: herlev, display: H, sector: hospital, kind: medcom-hospitalnotification"
	const key = "api_keys:\n  - {name: herlev, key_sha256: " + keyHash + ", role: source}\n"
	for _, tc := range []struct {
		name, yaml string
		getenv     func(string) string
		want       string
	}{
		{"a key of role source sends for it", src + "}\n" + key, secret, ""},
		{"without a lasting handle secret", src + "}\n" + key, nil,
			"sources[0].kind: a medcom-hospitalnotification source keeps messages under patient handles: set handle_secret_file or OVERBLIK_HANDLE_SECRET"},
		{"nobody may send", src + "}\n", secret, `sources[0].name: nobody can send to herlev: add an api_keys entry of role source named "herlev", or client_cert_subjects`},
		{"not a hospital", strings.Replace(src, "hospital, kind", "municipality, kind", 1) + "}\n" + key, secret,
			`sources[0].sector: a medcom-hospitalnotification source is a hospital, got "municipality"`},
		{"it is posted to: no base_url", src + ", base_url: https://x.dk}\n" + key, secret,
			"sources[0].base_url: unknown key (sources[0] takes change_feed, client_cert_subjects, detail, display, kind, max_bytes, name, phone, sector, timeout)"},
		{"an empty subject", src + `, client_cert_subjects: [""]}` + "\n" + key, secret, "sources[0].client_cert_subjects: an empty subject names no certificate"},
		{"a key of role source for no such source", src + "}\n" + key + "  - {name: other, key_sha256: " + keyHash + ", role: source}\n", secret,
			`api_keys[1].name: a key of role source sends for the medcom-hospitalnotification source of its name; there is none called "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), tc.getenv, kinds())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestStoreSource: the source a configuration opens reads back the
// inbox's messages; without an inbox (overblik check) every Fetch fails.
func TestStoreSource(t *testing.T) {
	var none *Store
	src, err := none.Source(DefaultConfig(), sources.Settings{Name: "herlev", Sector: aggregator.SectorHospital})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != "herlev" || src.Sector() != aggregator.SectorHospital {
		t.Errorf("source %s of %s", src.Name(), src.Sector())
	}
	if _, err := src.Fetch(context.Background(), aggregator.PatientRef{Handle: "h"}, aggregator.Window{}); aggregator.KindOf(err) != aggregator.Unavailable {
		t.Errorf("Fetch without an inbox: %v, want unavailable", err)
	}
	if _, err := none.Source(DefaultConfig(), sources.Settings{}); err == nil {
		t.Error("a source without a name was opened")
	}
}
