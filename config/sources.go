package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/aggregator"
)

// The `sources` section. The keys every source has are here; the rest of
// a source is its kind's: each connector owns a section of its own keys
// (fhirsource.Config, ical.Config, medcom.Config), which cmd/overblik hands
// in as Kinds. This package imports no connector.

// Source is one entry of `sources`: the keys every source has, and the
// section of its kind's own keys.
type Source struct {
	Name       string        // `name`: required, unique, lower-case letters, digits and '-' (it appears in entry IDs and URLs)
	Display    string        // `display`: required, human name, e.g. "Aarhus Universitetshospital"
	Phone      string        // `phone`: whom patients call about its appointments, e.g. "7845 0000"; said while the source fails
	Sector     string        // `sector`: required, hospital | municipality | gp | other
	Kind       string        // `kind`: required, the Name of one of the Kinds
	Timeout    time.Duration // `timeout`, default 10s: the most one fetch from this source may take
	ChangeFeed bool          // `change_feed`: the background refresh asks this source which patients changed (if its connector can tell)
	Detail     string        // `detail`: full (default) | generic: only time, place and a generic title
	MaxBytes   int64         // `max_bytes`: the most one fetch may read, all pages together, e.g. 32MiB; 0: the connector's default

	// Section holds the source's own keys: its Kind's section, decoded
	// from the keys of the source that are not the ones above.
	Section Section
}

// DefaultSource is a source with the defaults of the keys every source has
// and no section (Validate gives it its kind's).
func DefaultSource() Source {
	return Source{Timeout: DefaultTimeout, Detail: "full"}
}

// Kind is a kind of source: the value of `kind`, and a fresh section of
// its own keys holding their defaults.
type Kind struct {
	Name    string
	Section func() Section
}

// Section is a connector's own part of a source: a pointer to a struct
// whose fields tagged `yaml:"key"` are its keys, decoded as their type
// says: string, bool, int, float64, time.Duration (Go syntax or whole
// days), []string, or a struct of the same as a nested mapping. Fields
// without the tag are not configured. A string field also tagged
// `env:"WHAT"` is overridden by OVERBLIK_SOURCE_<NAME>_<WHAT>.
//
// A section may also have
//
//	ReadFiles(read func(key, path string) []byte, env func(what string) string)
//
// to read the files its keys name (a secret, a key): read gives a file's
// content relative to the configuration's folder, its last newline cut
// (nil for an empty path, or when it cannot be read: the problem is then
// reported on key), env(what) the variable OVERBLIK_SOURCE_<NAME>_<WHAT>;
//
//	Sector() aggregator.Sector
//
// when its source can be of that sector only; and
//
//	CertSubjects() []string
//
// when its source is posted to (POST /fhir/$process-message) rather than
// asked: then its messages are kept under patient handles, and it is sent
// for by an api_keys entry of role source named as the source, or by the
// client certificates of these subjects.
type Section interface {
	// Check reports each problem with the section, by its key in the
	// section ("base_url", "auth.token_file"). It never quotes a secret.
	Check(problem func(key, format string, args ...any))
}

// The optional methods of a Section.
type (
	fileReader interface {
		ReadFiles(read func(key, path string) []byte, env func(what string) string)
	}
	oneSector interface{ Sector() aggregator.Sector }
	pushed    interface{ CertSubjects() []string }
)

// SourceEnv names a per-source variable: OVERBLIK_SOURCE_<NAME>_<WHAT>,
// the name upper-cased, '-' written as '_'.
func SourceEnv(name, what string) string {
	return "OVERBLIK_SOURCE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + what
}

// CertSenders maps each client certificate subject to the source it sends
// for.
func (c *Config) CertSenders() map[string]string {
	out := map[string]string{}
	for _, s := range c.Sources {
		if p, ok := s.Section.(pushed); ok {
			for _, sub := range p.CertSubjects() {
				out[sub] = s.Name
			}
		}
	}
	return out
}

func (d *decoder) sources(n *yaml.Node, path string, kinds []Kind) []Source {
	n = resolveAlias(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list of sources, got %s", kindName(n))
		return nil
	}
	// Which kinds take each key, to say so of a key given to another kind.
	owners := map[string][]string{}
	for _, k := range kinds {
		for _, key := range sectionKeys(k.Section()) {
			owners[key] = append(owners[key], k.Name)
		}
	}
	out := make([]Source, 0, len(n.Content))
	for i, item := range n.Content {
		out = append(out, d.source(item, fmt.Sprintf("%s[%d]", path, i), kinds, owners)) // even when broken, so later indices stay right
	}
	return out
}

func (d *decoder) source(n *yaml.Node, p string, kinds []Kind, owners map[string][]string) Source {
	s := DefaultSource()
	d.lines[p] = n.Line
	fields := map[string]field{
		"name":        d.str(&s.Name),
		"display":     d.str(&s.Display),
		"phone":       d.str(&s.Phone),
		"sector":      d.str(&s.Sector),
		"kind":        d.str(&s.Kind),
		"timeout":     d.duration(&s.Timeout),
		"change_feed": d.boolean(&s.ChangeFeed),
		"detail":      d.str(&s.Detail),
		"max_bytes":   d.size(&s.MaxBytes),
	}
	common := strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
	kind := findKind(kinds, kindOf(n))
	if kind != nil {
		s.Section = kind.Section()
		own, err := d.sectionFields(s.Section)
		if err != nil {
			d.problem(n.Line, p, "kind %s: %v", kind.Name, err)
		}
		for k, f := range own {
			fields[k] = f
		}
	}
	takes := strings.Join(slices.Sorted(maps.Keys(fields)), ", ")
	d.mappingOr(n, p, fields, func(key string) (string, bool) {
		switch others := owners[key]; {
		case kind == nil && len(others) == 0:
			return fmt.Sprintf("unknown key (%s takes %s, and the keys of its kind)", p, common), true
		case kind == nil:
			return "", true // a key of some kind, and the kind is missing or wrong: that is reported
		case len(others) > 0:
			// Ignored, as it always was: a file that worked keeps working,
			// and the operator is told. A key the kind needs instead is
			// reported as missing.
			d.warn(d.lines[p+"."+key], p+"."+key, "is for kind %s, not %s: ignored (%s takes %s)", orList(others), kind.Name, p, takes)
			return "", true
		}
		return "", false
	})
	return s
}

// kindOf is the value of a source's kind key, if it has one.
func kindOf(n *yaml.Node) string {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], resolveAlias(n.Content[i+1]); k.Value == "kind" && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

func findKind(kinds []Kind, name string) *Kind {
	for i := range kinds {
		if kinds[i].Name == name {
			return &kinds[i]
		}
	}
	return nil
}

// yamlKey is the key of a section's field, "" when it has none.
func yamlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if !f.IsExported() || key == "-" {
		return ""
	}
	return key
}

// sectionKeys are the keys of a section, its own and not those of its
// nested mappings.
func sectionKeys(sec Section) []string {
	v := reflect.ValueOf(sec)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for _, f := range reflect.VisibleFields(v.Elem().Type()) {
		if k := yamlKey(f); k != "" && len(f.Index) == 1 {
			keys = append(keys, k)
		}
	}
	return keys
}

// sectionFields decodes into a section's fields.
func (d *decoder) sectionFields(sec Section) (map[string]field, error) {
	v := reflect.ValueOf(sec)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("its section is a %T, not a pointer to a struct", sec)
	}
	return d.structFields(v.Elem()), nil
}

func (d *decoder) structFields(v reflect.Value) map[string]field {
	fields := map[string]field{}
	for i := range v.NumField() {
		if key := yamlKey(v.Type().Field(i)); key != "" {
			fields[key] = d.valueField(v.Field(i))
		}
	}
	return fields
}

// valueField decodes into v as its type says.
func (d *decoder) valueField(v reflect.Value) field {
	switch p := v.Addr().Interface().(type) {
	case *time.Duration:
		return d.duration(p)
	case *string:
		return d.str(p)
	case *bool:
		return d.boolean(p)
	case *int:
		return d.integer(p)
	case *float64:
		return d.number(p)
	case *[]string:
		return d.stringList(p)
	}
	if v.Kind() == reflect.Struct {
		return func(n *yaml.Node, path string) { d.mapping(n, path, d.structFields(v)) }
	}
	return func(n *yaml.Node, path string) {
		d.fail(n, path, "a key of type %s, which a configuration cannot hold", v.Type())
	}
}

// readSources applies the sources' variables and reads the files their
// sections name.
func (d *decoder) readSources(c *Config, dir string, getenv func(string) string, renames map[string]rename) {
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Section == nil {
			continue
		}
		p := fmt.Sprintf("sources[%d]", i)
		env := func(string) string { return "" }
		if validName(s.Name) { // a bad name gets its own error; don't guess its variables
			env = func(what string) string { return getenv(SourceEnv(s.Name, what)) }
			if v := reflect.ValueOf(s.Section); v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
				overrideFromEnv(v.Elem(), p, s.Name, getenv, renames)
			}
		}
		if f, ok := s.Section.(fileReader); ok {
			f.ReadFiles(func(key, path string) []byte { return d.readFile(keyPath(p, key), path, dir) }, env)
		}
	}
}

// overrideFromEnv sets each string field tagged env from its variable, and
// has its problems shown under the variable's name.
func overrideFromEnv(v reflect.Value, path, name string, getenv func(string) string, renames map[string]rename) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key := yamlKey(f)
		if key == "" {
			continue
		}
		switch fv := v.Field(i); {
		case fv.Kind() == reflect.Struct:
			overrideFromEnv(fv, keyPath(path, key), name, getenv, renames)
		case fv.Kind() == reflect.String && f.Tag.Get("env") != "":
			env := SourceEnv(name, f.Tag.Get("env"))
			if val := getenv(env); val != "" {
				fv.SetString(val)
				renames[keyPath(path, key)] = rename{env, "overrides " + keyPath(path, key)}
			}
		}
	}
}

// validateSources checks the keys every source has, and each source's
// section with its kind's Check.
func (c *Config) validateSources(kinds []Kind, add func(key, format string, args ...any)) {
	if len(c.Sources) == 0 {
		add("sources", "at least one source is required")
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.Name)
	}
	firstUse := map[string]int{}
	for i := range c.Sources {
		s := &c.Sources[i]
		key := func(field string) string { return fmt.Sprintf("sources[%d].%s", i, field) }
		switch {
		case s.Name == "":
			add(key("name"), "required")
		case !validName(s.Name):
			add(key("name"), "%q must be lower-case letters, digits and '-' (not first or last), as it appears in URLs", s.Name)
		default:
			if j, dup := firstUse[s.Name]; dup {
				add(key("name"), "duplicate name %q, also used by sources[%d]", s.Name, j)
			} else {
				firstUse[s.Name] = i
			}
		}
		if strings.TrimSpace(s.Display) == "" {
			add(key("display"), "required")
		}
		if s.Phone != "" && !validPhone(s.Phone) {
			add(key("phone"), "%q is not a phone number: digits, spaces and + - ( ) only, at most 32", s.Phone)
		}
		if s.Sector == "" {
			add(key("sector"), "required")
		} else if _, ok := aggregator.ParseSector(s.Sector); !ok {
			add(key("sector"), "unknown sector %q (want hospital, municipality, gp or other)", s.Sector)
		}
		if s.Detail != "full" && s.Detail != "generic" {
			add(key("detail"), "want full or generic, got %q", s.Detail)
		}
		if s.Timeout <= 0 {
			add(key("timeout"), "must be positive, got %v", s.Timeout)
		}
		if s.MaxBytes < 0 {
			add(key("max_bytes"), "must not be negative")
		}
		kind := findKind(kinds, s.Kind)
		switch {
		case s.Kind == "":
			add(key("kind"), "required")
			continue
		case kind == nil:
			add(key("kind"), "unknown kind %q (want %s)", s.Kind, orList(names))
			continue
		case s.Section == nil:
			s.Section = kind.Section()
		case reflect.TypeOf(s.Section) != reflect.TypeOf(kind.Section()):
			add(key("kind"), "the source's section is a %T, not kind %s's", s.Section, s.Kind)
			continue
		}
		s.Section.Check(func(k, format string, args ...any) { add(key(k), format, args...) })
		if one, ok := s.Section.(oneSector); ok && s.Sector != "" && s.Sector != string(one.Sector()) {
			add(key("sector"), "a %s source is a %s, got %q", s.Kind, one.Sector(), s.Sector)
		}
		if p, ok := s.Section.(pushed); ok {
			c.validatePushed(*s, p, key, add)
		}
	}
	c.validateSenders(kinds, add)
}

// validatePushed checks a source that posts to us: its messages are kept
// under patient handles, so the handle secret must outlive a restart, and
// someone must be able to send for it.
func (c *Config) validatePushed(s Source, p pushed, key func(string) string, add func(key, format string, args ...any)) {
	if c.HandleSecret == nil {
		add(key("kind"), "a %s source keeps messages under patient handles: set handle_secret_file or %s, "+
			"or they are lost at the next restart", s.Kind, EnvHandleSecret)
	}
	keyed := slices.ContainsFunc(c.APIKeys, func(k APIKeyConfig) bool { return k.Role == "source" && k.Name == s.Name })
	switch {
	case keyed:
	case len(p.CertSubjects()) == 0:
		add(key("name"), "nobody can send to %s: add an api_keys entry of role source named %q, or client_cert_subjects with tls.client_ca_file", s.Name, s.Name)
	case c.TLS.ClientCAFile == "" && c.TLS.ClientCAPEM == nil:
		add(key("client_cert_subjects"), "nobody can send to %s: client certificates are verified only with tls.client_ca_file; set it, or add an api_keys entry of role source named %q", s.Name, s.Name)
	}
}

// validateSenders: a key of role source sends for the source of its name
// that is posted to, so there must be one; a certificate sends for one
// source only.
func (c *Config) validateSenders(kinds []Kind, add func(key, format string, args ...any)) {
	subjects := map[string]string{}
	for i, s := range c.Sources {
		p, ok := s.Section.(pushed)
		if !ok {
			continue
		}
		for _, sub := range p.CertSubjects() {
			if other, dup := subjects[sub]; dup && other != s.Name {
				add(fmt.Sprintf("sources[%d].client_cert_subjects", i), "the subject %q also sends for %s", sub, other)
			}
			subjects[sub] = s.Name
		}
	}
	var posted []string
	for _, k := range kinds {
		if _, ok := k.Section().(pushed); ok {
			posted = append(posted, k.Name)
		}
	}
	for i, k := range c.APIKeys {
		if k.Role != "source" {
			continue
		}
		if !slices.ContainsFunc(c.Sources, func(s Source) bool { _, ok := s.Section.(pushed); return ok && s.Name == k.Name }) {
			add(fmt.Sprintf("api_keys[%d].name", i), "a key of role source sends for the %s source of its name; there is none called %q",
				orList(posted), k.Name)
		}
	}
}

// orList writes "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// validPhone accepts a phone number as people write it: digits with spaces,
// '+', '-' and parentheses, at least three digits and at most 32 characters.
func validPhone(s string) bool {
	if len(s) > 32 {
		return false
	}
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ' || c == '+' || c == '-' || c == '(' || c == ')':
		default:
			return false
		}
	}
	return digits >= 3
}
