package cachetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// fullTimeline returns a timeline with every exported field, down to each
// entry's place and provenance, set to a distinct non-zero value, with times
// in several offsets. A field added to the domain types is filled too, so a
// backend whose encoding forgets it fails the round trip.
func fullTimeline(handle string, gen time.Time) (*aggregator.Timeline, error) {
	zones := []*time.Location{
		time.UTC,
		time.FixedZone("CET", 3600),
		time.FixedZone("", -(9*3600 + 30*60)), // a half-hour offset west of UTC
		time.FixedZone("+0545", 5*3600+45*60),
	}
	if cph, err := time.LoadLocation("Europe/Copenhagen"); err == nil {
		zones = append(zones, cph)
	}
	f := &filler{gen: gen, zones: zones}
	t := &aggregator.Timeline{}
	if err := f.fill(reflect.ValueOf(t).Elem(), "Timeline"); err != nil {
		return nil, err
	}
	t.Patient = handle
	return t, nil
}

var timeType = reflect.TypeFor[time.Time]()

type filler struct {
	n     int
	gen   time.Time
	zones []*time.Location
}

func (f *filler) fill(v reflect.Value, path string) error {
	f.n++
	n := f.n
	if v.Type() == timeType {
		// Nanoseconds too: a backend must not round instants.
		tm := f.gen.Add(time.Duration(n)*time.Hour + time.Duration(n)*time.Nanosecond)
		v.Set(reflect.ValueOf(tm.In(f.zones[n%len(f.zones)])))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s «æøå» %d", path, n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n) * 1_000_003) // large enough to catch a truncation to seconds of a Duration
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.123456789)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		return f.fill(v.Elem(), path)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			if err := f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), 2)
		for i := range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			if err := f.fill(k, fmt.Sprintf("%s.key%d", path, i)); err != nil {
				return err
			}
			if err := f.fill(e, fmt.Sprintf("%s[key%d]", path, i)); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			if err := f.fill(v.Field(i), path+"."+sf.Name); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("cachetest: cannot fill %s of type %s; teach cachetest's filler", path, v.Type())
	}
	return nil
}

// diff lists where got differs from want. Times compare as instants (a
// backend may keep an offset rather than the zone's name) and a nil slice or
// map equals an empty one; everything else must be equal.
func diff(path string, got, want reflect.Value) []string {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) {
			return []string{fmt.Sprintf("%s = %v, want the instant %v", path, g, w)}
		}
		return nil
	}
	switch got.Kind() {
	case reflect.Pointer:
		switch {
		case got.IsNil() && want.IsNil():
			return nil
		case got.IsNil() || want.IsNil():
			return []string{fmt.Sprintf("%s = %v, want %v", path, show(got), show(want))}
		}
		return diff(path, got.Elem(), want.Elem())
	case reflect.Slice:
		if got.Len() != want.Len() {
			return []string{fmt.Sprintf("%s has %d elements, want %d", path, got.Len(), want.Len())}
		}
		var out []string
		for i := range got.Len() {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))...)
		}
		return out
	case reflect.Map:
		if got.Len() != want.Len() {
			return []string{fmt.Sprintf("%s has %d keys, want %d", path, got.Len(), want.Len())}
		}
		var out []string
		for _, k := range want.MapKeys() {
			g := got.MapIndex(k)
			if !g.IsValid() {
				out = append(out, fmt.Sprintf("%s lacks key %v", path, k))
				continue
			}
			out = append(out, diff(fmt.Sprintf("%s[%v]", path, k), g, want.MapIndex(k))...)
		}
		return out
	case reflect.Struct:
		var out []string
		for i := range got.NumField() {
			if sf := got.Type().Field(i); sf.IsExported() {
				out = append(out, diff(path+"."+sf.Name, got.Field(i), want.Field(i))...)
			}
		}
		return out
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return []string{fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface())}
	}
	return nil
}

func show(v reflect.Value) any {
	if v.IsNil() {
		return "nil"
	}
	return v.Elem().Interface()
}

// RunCodec checks that a back end's stored form keeps every field: enc
// turns a timeline into what is stored and back. Run it beside Run where
// the cache keeps what it put in memory too (a near cache), so that Run's
// round trip never reads the stored form.
func RunCodec(t *testing.T, roundTrip func(*aggregator.Timeline) (*aggregator.Timeline, error)) {
	t.Helper()
	full, err := fullTimeline("p1", time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got, err := roundTrip(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diff("Timeline", reflect.ValueOf(*got), reflect.ValueOf(*full)) {
		t.Error(d)
	}
}
