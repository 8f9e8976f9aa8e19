package cachetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// The round trip is only as good as the filler: no field may stay zero.
func TestFullTimelineSetsEveryField(t *testing.T) {
	tl, err := fullTimeline("p1", time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if v.IsZero() {
			t.Errorf("%s is zero", path)
			return
		}
		switch {
		case v.Type() == timeType:
		case v.Kind() == reflect.Pointer:
			walk(path, v.Elem())
		case v.Kind() == reflect.Slice:
			for i := range v.Len() {
				walk(path+"[]", v.Index(i))
			}
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
			}
		}
	}
	walk("Timeline", reflect.ValueOf(*tl))
}

func TestDiff(t *testing.T) {
	gen := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lat := 56.0
	base := func() aggregator.Timeline {
		return aggregator.Timeline{Patient: "p1", GeneratedAt: gen, Entries: []aggregator.Entry{{ID: "a", Place: aggregator.Place{Lat: &lat}}}}
	}
	tests := []struct {
		name   string
		change func(*aggregator.Timeline)
		want   string // in the diff; empty for none
	}{
		{"same", func(*aggregator.Timeline) {}, ""},
		{"same instant in another zone", func(tl *aggregator.Timeline) { tl.GeneratedAt = gen.In(time.FixedZone("", 3600)) }, ""},
		{"nil and empty slices", func(tl *aggregator.Timeline) { tl.Sources = []aggregator.SourceStatus{} }, ""},
		{"another instant", func(tl *aggregator.Timeline) { tl.GeneratedAt = gen.Add(time.Second) }, "Timeline.GeneratedAt"},
		{"lost pointer", func(tl *aggregator.Timeline) { tl.Entries[0].Place.Lat = nil }, "Timeline.Entries[0].Place.Lat"},
		{"lost field", func(tl *aggregator.Timeline) { tl.Entries[0].ID = "" }, "Timeline.Entries[0].ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, want := base(), base()
			tc.change(&got)
			d := strings.Join(diff("Timeline", reflect.ValueOf(got), reflect.ValueOf(want)), "\n")
			if (tc.want == "") != (d == "") || !strings.Contains(d, tc.want) {
				t.Errorf("diff = %q, want it to name %q", d, tc.want)
			}
		})
	}
}
