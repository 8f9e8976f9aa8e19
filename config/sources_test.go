package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSourceSections: a source's own keys go to its kind's section, by
// their Go type; variables and files fill it as its tags and ReadFiles say.
func TestSourceSections(t *testing.T) {
	dir := t.TempDir()
	writeTLSFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "token.txt"), []byte("a-token-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `sources:
  - name: a
    display: A
    sector: hospital
    kind: feed
    base_url: https://a.example/r4
    page_size: 100
    every: 2d
    ratio: 0.5
    include: false
    tags: [x, y]
    detail: generic
    max_bytes: 8MiB
    change_feed: true
    auth: {kind: bearer, token_file: token.txt, token_url: https://a.example/token}
  - name: b-2
    display: B
    sector: gp
    kind: feed
    auth: {kind: bearer}
  - {name: c, display: C, sector: hospital, kind: push, client_cert_subjects: ["CN=c"]}
handle_secret_file: handle.key
tls: {cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
`
	if err := os.WriteFile(filepath.Join(dir, "handle.key"), []byte(strings.Repeat("h", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "overblik.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OVERBLIK_SOURCE_B_2_BASE_URL":  "http://127.0.0.1:9/r4", // fills the missing base_url
		"OVERBLIK_SOURCE_B_2_TOKEN":     "a-token-from-the-environment",
		"OVERBLIK_SOURCE_B_2_TOKEN_URL": "https://b.example/token", // a variable over a nested key
		"OVERBLIK_SOURCE_A_NOTE":        "not a key",
	}
	c, err := Load(path, envFunc(env), testKinds())
	if err != nil {
		t.Fatal(err)
	}
	a, b := feed(c, 0), feed(c, 1)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"string", a.BaseURL, "https://a.example/r4"},
		{"int", a.PageSize, 100},
		{"duration in days", a.Every, 48 * time.Hour},
		{"number", a.Ratio, 0.5},
		{"bool", a.Include, false},
		{"default kept", b.Include, true},
		{"list", strings.Join(a.Tags, ","), "x,y"},
		{"nested", a.Auth.TokenURL, "https://a.example/token"},
		{"secret file, relative to the configuration, newline cut", string(a.Auth.Token), "a-token-from-a-file"},
		{"untagged field left alone", a.Note, ""},
		{"variable over a key", b.BaseURL, "http://127.0.0.1:9/r4"},
		{"variable over a nested key", b.Auth.TokenURL, "https://b.example/token"},
		{"secret from the environment", string(b.Auth.Token), "a-token-from-the-environment"},
		{"detail", c.Sources[0].Detail, "generic"},
		{"max_bytes", c.Sources[0].MaxBytes, int64(8 << 20)},
		{"change_feed", c.Sources[0].ChangeFeed, true},
		{"certificate senders", c.CertSenders()["CN=c"], "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestAKeyOfAnotherKindIsIgnoredAndSaid: a file that loaded before a
// connector owned its keys still loads; what it gives a kind that does not
// take it is a warning with its line, not an error.
func TestAKeyOfAnotherKindIsIgnoredAndSaid(t *testing.T) {
	const yml = "sources:\n  - name: s\n    display: S\n    sector: gp\n    kind: feed\n    base_url: https://f.example\n    client_cert_subjects: [CN=x]\n"
	c, err := Parse([]byte(yml), nil, testKinds())
	if err != nil {
		t.Fatalf("Parse: %v, want the file to load", err)
	}
	want := "line 7: sources[0].client_cert_subjects: is for kind push, not feed: ignored (sources[0] takes auth, base_url, change_feed, detail, display, every, include, kind, max_bytes, name, odd, page_size, phone, ratio, sector, tags, timeout)"
	// The file has no site section either: TestSiteSection says so.
	warnings := slices.DeleteFunc(slices.Clone(c.Warnings), func(w string) bool { return strings.HasPrefix(w, "site: ") })
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("Warnings = %q, want [%q]", c.Warnings, want)
	}
}

func TestSourceSectionErrors(t *testing.T) {
	const src = "sources:\n  - name: s\n    display: S\n    sector: gp\n"
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       []string
		notWant    []string
	}{
		{
			name: "a key of no kind",
			yaml: src + "    kind: feed\n    base_url: https://f.example\n    bse_url: x\n",
			want: []string{"line 7: sources[0].bse_url: unknown key (sources[0] takes auth, base_url,"},
		},
		{
			name:    "without a kind, its keys wait for one",
			yaml:    src + "    base_url: https://f.example\n    colour: blue\n",
			want:    []string{"sources[0].kind: required", "line 6: sources[0].colour: unknown key (sources[0] takes change_feed, detail, display, kind, max_bytes, name, phone, sector, timeout, and the keys of its kind)"},
			notWant: []string{"sources[0].base_url"},
		},
		{
			name:    "an unknown kind",
			yaml:    src + "    kind: soap\n    page_size: 3\n",
			want:    []string{`line 5: sources[0].kind: unknown kind "soap" (want feed or push)`},
			notWant: []string{"page_size"},
		},
		{
			name: "a problem of the section, on its key's line",
			yaml: src + "    kind: feed\n    base_url: https://f.example\n    page_size: 0\n",
			want: []string{"line 7: sources[0].page_size: must be between 1 and 1000, got 0"},
		},
		{
			name: "a missing key of the section, on its source's line",
			yaml: src + "    kind: feed\n",
			want: []string{"line 2: sources[0].base_url: required for kind feed"},
		},
		{
			name:    "a value of the wrong type, reported once",
			yaml:    src + "    kind: feed\n    base_url: https://f.example\n    include: maybe\n    page_size: many\n    every: soon\n    tags: {a: b}\n",
			want:    []string{`sources[0].include: expected true or false, got "maybe"`, `sources[0].page_size: expected an integer, got "many"`, `sources[0].every: invalid duration "soon"`, "sources[0].tags: expected a list of strings, got a mapping"},
			notWant: []string{"between 1 and 1000"},
		},
		{
			name: "nested: unknown key, and its section's problem",
			yaml: src + "    kind: feed\n    base_url: https://f.example\n    auth: {kind: bearer, token: abc}\n",
			want: []string{"sources[0].auth.token: unknown key (sources[0].auth takes kind, token_file, token_url)", "sources[0].auth.token_file: required for auth kind bearer"},
		},
		{
			name:    "a missing secret file names its key, not its content",
			yaml:    src + "    kind: feed\n    base_url: https://f.example\n    auth: {kind: bearer, token_file: /nonexistent/token}\n",
			want:    []string{"line 7: sources[0].auth.token_file: open /nonexistent/token"},
			notWant: []string{"required for auth kind"},
		},
		{
			name:    "a bad value from a variable names the variable",
			yaml:    src + "    kind: feed\n    base_url: https://f.example\n",
			env:     map[string]string{"OVERBLIK_SOURCE_S_BASE_URL": "ftp://hunter2.example"},
			want:    []string{"OVERBLIK_SOURCE_S_BASE_URL: must be an absolute http or https URL (overrides sources[0].base_url)"},
			notWant: []string{"hunter2", "line 6"},
		},
		{
			name: "a field no configuration can hold",
			yaml: src + "    kind: feed\n    base_url: https://f.example\n    odd: x\n",
			want: []string{"line 7: sources[0].odd: a key of type map[string]string, which a configuration cannot hold"},
		},
		{
			name: "the one sector of a kind",
			yaml: "handle_secret_file: /dev/null\n" + src + "    kind: push\n    client_cert_subjects: [CN=x]\n",
			want: []string{`line 5: sources[0].sector: a push source is a hospital, got "gp"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseConfigErr(t, tc.yaml, envFunc(tc.env))
			assertErrContains(t, got, tc.want...)
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("error contains %q; got:\n%s", nw, got)
				}
			}
		})
	}
}

// TestPushedSources: a source that posts to us keeps its messages under
// patient handles and needs someone who may send for it; a key of role
// source names such a source; a certificate sends for one.
func TestPushedSources(t *testing.T) {
	const source = "  - {name: herlev, display: Herlev Hospital, sector: hospital, kind: push}\n"
	const key = "api_keys:\n  - {name: herlev, key_sha256: " + keyHash + ", role: source}\n"
	secret := envFunc(map[string]string{EnvHandleSecret: "a handle secret of at least thirty-two bytes"})
	c := mustParseConfig(t, minimalConfig+source+key, secret)
	if got := c.CertSenders(); len(got) != 0 {
		t.Errorf("senders by certificate %v, want none", got)
	}
	c = mustParseConfig(t, minimalConfig+"  - {name: herlev, display: H, sector: hospital, kind: push, client_cert_subjects: [\"CN=Herlev,O=Region Hovedstaden,C=DK\"]}\n"+key, secret)
	if got := c.CertSenders(); got["CN=Herlev,O=Region Hovedstaden,C=DK"] != "herlev" || len(got) != 1 {
		t.Errorf("senders by certificate = %v", got)
	}
	tests := []struct {
		name, yaml string
		getenv     func(string) string
		want       string
	}{
		{"without a lasting handle secret", minimalConfig + source + key, nil,
			"sources[1].kind: a push source keeps messages under patient handles: set handle_secret_file or OVERBLIK_HANDLE_SECRET"},
		{"nobody may send", minimalConfig + source, secret, `sources[1].name: nobody can send to herlev: add an api_keys entry of role source named "herlev"`},
		{"a key of role source for no such source", minimalConfig + source + key + "  - {name: other, key_sha256: " + keyHash + ", role: source}\n", secret,
			`api_keys[1].name: a key of role source sends for the push source of its name; there is none called "other"`},
		{"a key of role source for a source that is asked", minimalConfig + "api_keys:\n  - {name: rh, key_sha256: " + keyHash + ", role: source}\n", secret,
			`api_keys[0].name: a key of role source sends for the push source of its name; there is none called "rh"`},
		{"one certificate for two sources", minimalConfig +
			"  - {name: a, display: A, sector: hospital, kind: push, client_cert_subjects: [CN=x]}\n" +
			"  - {name: b, display: B, sector: hospital, kind: push, client_cert_subjects: [CN=x]}\n" + key, secret,
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

func TestSourceEnv(t *testing.T) {
	got := []string{SourceEnv("aarhus-uh", "BASE_URL"), SourceEnv("gp", "TOKEN")}
	if want := []string{"OVERBLIK_SOURCE_AARHUS_UH_BASE_URL", "OVERBLIK_SOURCE_GP_TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestOrList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a or b"}, {[]string{"a", "b", "c"}, "a, b or c"}} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
