package config

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Duration is a time.Duration in YAML: Go syntax (90s, 2m, 1h30m) or a
// whole number of days (90d), since windows are naturally told in days.
type Duration time.Duration

// UnmarshalYAML accepts a scalar in either form.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration, got %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go duration syntax or whole days such as "90d" or "-1d".
// The sign is kept: the caller decides whether negative makes sense.
func ParseDuration(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	if digits, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
			if n > math.MaxInt64/int64(day) || n < math.MinInt64/int64(day) {
				return 0, fmt.Errorf("duration %q is out of range", s)
			}
			return time.Duration(n) * day, nil
		}
	} else if v, err := time.ParseDuration(s); err == nil {
		return v, nil
	}
	return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 90s, 2m, 1h30m, or whole days such as 90d", s)
}

// decoder walks the YAML tree, collecting problems instead of stopping at
// the first, and remembers the line of every key for later validation errors.
type decoder struct {
	probs []*FieldError
	warns []*FieldError   // what is ignored but works
	lines map[string]int  // key path -> line
	bad   map[string]bool // key paths whose value could not be decoded
}

// field decodes the value n found at key path.
type field func(n *yaml.Node, path string)

func (d *decoder) problem(line int, key, format string, args ...any) {
	d.probs = append(d.probs, &FieldError{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(line int, key, format string, args ...any) {
	d.warns = append(d.warns, &FieldError{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.problem(n.Line, path, format, args...)
}

// line finds the line of key, or of its closest ancestor when the key itself
// is missing from the file.
func (d *decoder) line(key string) int {
	for ; key != ""; key = parentKey(key) {
		if l, ok := d.lines[key]; ok {
			return l
		}
	}
	return 0
}

func (d *decoder) isBad(key string) bool {
	for ; key != ""; key = parentKey(key) {
		if d.bad[key] {
			return true
		}
	}
	return false
}

// parentKey: "sources[1].base_url" -> "sources[1]" -> "sources" -> "".
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

func keyPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping decodes a mapping with the given keys; a null value leaves the
// defaults, as if the key were absent.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) {
	d.mappingOr(n, path, fields, nil)
}

// mappingOr is mapping, asking unknown what to say of a key not in fields:
// a message, nothing when known is true and the message empty (the key is
// left alone), or the usual "unknown key" when known is false.
func (d *decoder) mappingOr(n *yaml.Node, path string, fields map[string]field, unknown func(key string) (msg string, known bool)) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := keyPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problem(k.Line, p, "repeated key, first given on line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			if unknown != nil {
				if msg, known := unknown(k.Value); known {
					if msg != "" {
						d.problem(k.Line, p, "%s", msg)
					}
					continue
				}
			}
			where := path
			if where == "" {
				where = "the top level"
			}
			d.problem(k.Line, p, "unknown key (%s takes %s)", where, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			continue
		}
		f(v, p)
	}
}

// scalar resolves n and reports whether it holds a value to decode.
func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = resolveAlias(n)
	if isNull(n) {
		return n, false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, kindName(n))
		return n, false
	}
	return n, true
}

func (d *decoder) str(dst *string) field {
	return func(n *yaml.Node, path string) {
		if n, ok := d.scalar(n, path, "a string"); ok {
			*dst = n.Value
		}
	}
}

func (d *decoder) integer(dst *int) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected an integer, got %q", n.Value)
		}
	}
}

// size reads a number of bytes: a whole number, optionally with a unit
// (KiB, MiB, GiB; kB, MB, GB).
func (d *decoder) size(dst *int64) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a size")
		if !ok {
			return
		}
		v, err := parseSize(n.Value)
		if err != nil {
			d.fail(n, path, "expected a size such as 32MiB, got %q", n.Value)
			return
		}
		*dst = v
	}
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func (d *decoder) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected true or false, got %q", n.Value)
		}
	}
}

func (d *decoder) duration(dst *time.Duration) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a duration")
		if !ok {
			return
		}
		var v Duration
		if err := n.Decode(&v); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		*dst = time.Duration(v)
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (d *decoder) number(dst *float64) field {
	return func(n *yaml.Node, path string) {
		n, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		if err := n.Decode(dst); err != nil {
			d.fail(n, path, "expected a number, got %q", n.Value)
		}
	}
}

// readFile reads the file a key names, relative to dir (the
// configuration's folder), without the newline at its end that editors
// and `openssl rand -hex 32 > file` leave: nil for no file, and for one
// that cannot be read, reported on key without its content.
func (d *decoder) readFile(key, path, dir string) []byte {
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		d.problem(d.line(key), key, "%v", err)
		d.bad[key] = true // "required" would only repeat it
		return nil
	}
	return bytes.TrimRight(b, "\r\n")
}
