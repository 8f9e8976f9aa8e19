package fhir

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parsePage finds what encoding/json finds in the real Bundles of others
// (MedCom, Synthea): every entry's resource, byte for byte, in order.
func TestParsePageReadsRealBundles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	bundles := 0
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var want struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if want.ResourceType != "Bundle" {
			continue
		}
		bundles++
		got, err := parsePage(raw)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got.resourceType != "Bundle" || len(got.resources) != len(want.Entry) {
			t.Fatalf("%s: %q with %d resources, want Bundle with %d", p, got.resourceType, len(got.resources), len(want.Entry))
		}
		for i, e := range want.Entry {
			if !bytes.Equal(got.resources[i], e.Resource) {
				t.Fatalf("%s: resource %d differs from encoding/json's", p, i)
			}
		}
	}
	if bundles < 4 {
		t.Fatalf("%d Bundles among the examples, want the MedCom and Synthea ones", bundles)
	}
}

func TestParsePage(t *testing.T) {
	const doc = `{"resourceType":"Bundle","id":"x","link":[{"relation":"self","url":"a"},{"relation":"next","url":"b"}],
		"entry":[{"fullUrl":"u","resource":{"resourceType":"Appointment","id":"1"},"search":{"mode":"match"}},
		{"resource":null},{"fullUrl":"only"},{"resource" : {"resourceType":"Location","id":"2"}}]}`
	p, err := parsePage([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if p.resourceType != "Bundle" || p.next != "b" || len(p.resources) != 2 {
		t.Fatalf("got %+v", p)
	}
	if string(p.resources[0]) != `{"resourceType":"Appointment","id":"1"}` || string(p.resources[1]) != `{"resourceType":"Location","id":"2"}` {
		t.Fatalf("resources %q", p.resources)
	}
	// The resources are slices of the body: appending to one must not
	// write over what follows it.
	before := string(p.resources[1])
	_ = append(p.resources[0], `,"garbage"`...)
	if string(p.resources[1]) != before {
		t.Fatalf("appending to a resource changed the next: %q", p.resources[1])
	}

	for name, bad := range map[string]string{
		"truncated":       `{"resourceType":"Bundle","entry":[{"resource":{"id":"1"}`,
		"trailing data":   `{"resourceType":"Bundle"} {}`,
		"entry not array": `{"resourceType":"Bundle","entry":{"resource":{}}}`,
		"not an object":   `["Bundle"]`,
		"bad inner value": `{"resourceType":"Bundle","entry":[{"resource":{"id":tru}}]}`,
		"bad skipped":     `{"resourceType":"Bundle","meta":{"x":[1,}}`,
		"empty":           ``,
	} {
		if _, err := parsePage([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Names written with escapes are the same names; no entries is no resources.
	p, err = parsePage([]byte(`{"resourceTyp\u0065":"Bundle","entr\u0079":[{"resourc\u0065":{"id":"1"}}]}`))
	if err != nil || p.resourceType != "Bundle" || len(p.resources) != 1 {
		t.Fatalf("escaped names: %v %+v", err, p)
	}
	// Links as servers write them: escaped, null, more than one next (the
	// first counts), the relation after the URL.
	p, err = parsePage([]byte(`{"resourceType":"Bundle","link":[null,{"url":"a\/b?x=1\u0026y=2","relation":"next"},{"relation":"next","url":"c"}]}`))
	if err != nil || p.next != "a/b?x=1&y=2" {
		t.Fatalf("links: %v %q", err, p.next)
	}
	if p, err = parsePage([]byte(`{"resourceType":"Bundle","link":null}`)); err != nil || p.next != "" {
		t.Fatalf("null link: %v %+v", err, p)
	}
	if _, err = parsePage([]byte(`{"resourceType":"Bundle","link":[{"relation":1,"url":"c"}]}`)); err == nil {
		t.Fatal("a relation that is no string: no error")
	}
	if p, err = parsePage([]byte(`{"resourceType":"Bundle","entry":null}`)); err != nil || len(p.resources) != 0 {
		t.Fatalf("null entry: %v %+v", err, p)
	}
	// encoding/json's leniencies: a name twice, invalid UTF-8.
	p, err = parsePage([]byte("{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"id\":\"\xff\",\"id\":\"2\"}}]}"))
	if err != nil || len(p.resources) != 1 || !strings.Contains(string(p.resources[0]), `"2"`) {
		t.Fatalf("lenient page: %v %q", err, p.resources)
	}
}

// A page nests at most maxDepth deep wherever the deep value is: in a
// resource, a member of the Bundle, a link.
func TestParsePageNestsAtMostMaxDepth(t *testing.T) {
	for _, at := range []struct {
		name, before, after string
		outer               int // the objects and arrays before the deep value
	}{
		{"resource", `{"resourceType":"Bundle","entry":[{"resource":{"x":`, `}}]}`, 4},
		{"Bundle member", `{"resourceType":"Bundle","meta":`, `}`, 1},
		{"link member", `{"resourceType":"Bundle","link":[{"relation":"next","x":`, `}]}`, 3},
	} {
		page := func(d int) []byte {
			return []byte(at.before + strings.Repeat("[", d) + strings.Repeat("]", d) + at.after)
		}
		if _, err := parsePage(page(maxDepth - at.outer)); err != nil {
			t.Errorf("%s: %d deep in all: %v", at.name, maxDepth, err)
		}
		if _, err := parsePage(page(maxDepth - at.outer + 1)); err == nil {
			t.Errorf("%s: %d deep in all: no error", at.name, maxDepth+1)
		}
	}
}

// On JSON text, the scanner reads what jsontext's validating decoder
// reads (refParsePage): the same resources byte for byte, the same next
// link, the same refusals. On anything else it may refuse or not (it does
// not check the text inside strings) but never panics.
func FuzzParsePage(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "*", "*.json"))
	for _, p := range paths {
		// The small ones: the fuzzer mutates every seed, and a Synthea
		// record is megabytes.
		if raw, err := os.ReadFile(p); err == nil && len(raw) < 64<<10 && bytes.Contains(raw, []byte(`"Bundle"`)) {
			f.Add(raw)
		}
	}
	for _, doc := range []string{
		`{"resourceType":"Bundle","link":[null,{"url":"a\/b","relation":"next"}],"entry":[{"resource":{"id":"1","n":-0.5e+3,"b":[true,false,null]}},{"resource":null}]}`,
		`{"resourceTyp\u0065":"Bundle","entr\u0079":[{"resourc\u0065":{"id":"\"1\\"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"id":"1"}},]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"id":01}}]}`,
		`{"resourceType":"Bundle","entry":[1]}`, `{"resourceType":"Bundle"} x`, `[[[[]]]]`, `{"a":"\\\"}`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := parsePage(doc)
		if !json.Valid(doc) {
			return
		}
		want, wantErr := refParsePage(doc)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("scanner: %v; jsontext: %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if got.resourceType != want.resourceType || got.next != want.next || len(got.resources) != len(want.resources) {
			t.Fatalf("scanner read %q next %q with %d resources; jsontext %q next %q with %d",
				got.resourceType, got.next, len(got.resources), want.resourceType, want.next, len(want.resources))
		}
		for i := range got.resources {
			if !bytes.Equal(got.resources[i], want.resources[i]) {
				t.Fatalf("resource %d: scanner %q, jsontext %q", i, got.resources[i], want.resources[i])
			}
		}
	})
}
