package cpr

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		typed   string
		want    string // the 10 digits
		err     error
		born    Date
		ageOn1D int // age on 1 December 2026
	}{
		{"3002410148", "3002410148", nil, Date{1941, time.February, 30}, 85},
		{"300241-0148", "3002410148", nil, Date{1941, time.February, 30}, 85},
		{" 300241 0148 ", "3002410148", nil, Date{1941, time.February, 30}, 85},
		{"0101904321", "0101904321", nil, Date{1990, time.January, 1}, 36}, // 7th digit 4, year 90: 1990
		{"0101104321", "0101104321", nil, Date{2010, time.January, 1}, 16}, // 4, year 10: 2010
		{"0101369321", "0101369321", nil, Date{2036, time.January, 1}, -10},
		{"0101375321", "0101375321", nil, Date{2037, time.January, 1}, -11},  // 5-8 and 00-57: 2000s
		{"0101585321", "0101585321", nil, Date{1858, time.January, 1}, 168},  // 5-8 and 58-99: 1800s
		{"0112261234", "0112261234", nil, Date{1926, time.December, 1}, 100}, // 0-3: 1900s; birthday today
		{"0212261234", "0212261234", nil, Date{1926, time.December, 2}, 99},  // tomorrow
		{"2902960000", "2902960000", nil, Date{1996, time.February, 29}, 30}, // a leap year
		{"0101900001", "0101900001", nil, Date{1990, time.January, 1}, 36},   // fails modulus 11, taken
		{"2902970000", "", ErrDate, Date{}, 0},
		{"3104901234", "", ErrDate, Date{}, 0}, // 31 April
		{"0013901234", "", ErrDate, Date{}, 0},
		{"0001901234", "", ErrDate, Date{}, 0},
		{"6701901234", "", ErrDate, Date{}, 0}, // a replacement number's day, under the CPR system
		{"123", "", ErrFormat, Date{}, 0},
		{"", "", ErrFormat, Date{}, 0},
		{"300241014", "", ErrFormat, Date{}, 0},
		{"30024101489", "", ErrFormat, Date{}, 0},
		{"300241-01x8", "", ErrFormat, Date{}, 0},
		{"3002-410148", "", ErrFormat, Date{}, 0},
		{"300241--0148", "", ErrFormat, Date{}, 0},
		{"３００２４１０１４８", "", ErrFormat, Date{}, 0}, // full-width digits are not digits here
	}
	day := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.typed, func(t *testing.T) {
			got, err := Parse(tt.typed)
			if err != tt.err || got != tt.want {
				t.Fatalf("Parse = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
			if tt.err != nil {
				return
			}
			if b := BirthDate(got); b != tt.born {
				t.Errorf("BirthDate = %+v, want %+v", b, tt.born)
			}
			if a := BirthDate(got).Age(day); a != tt.ageOn1D {
				t.Errorf("Age = %d, want %d", a, tt.ageOn1D)
			}
			if m := Masked(got); m != got[:6]+"-xxxx" {
				t.Errorf("Masked = %q", m)
			}
		})
	}
	// A birthday of 30 February is after the 28th.
	feb30 := BirthDate("3002410148")
	if a, b := feb30.Age(time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)), feb30.Age(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)); a != 84 || b != 85 {
		t.Errorf("ages around 30 February: %d, %d; want 84, 85", a, b)
	}
	if m := Masked("123"); m != "" {
		t.Errorf("Masked(123) = %q, want nothing", m)
	}
}

// FuzzParse: whatever is typed, Parse either refuses it or returns 10
// digits that parse again to themselves.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"3002410148", "300241-0148", "123", " 0101 90 4321 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if v != "" {
				t.Fatalf("Parse(%q) = %q with error %v", s, v, err)
			}
			return
		}
		if again, err := Parse(v); err != nil || again != v || len(v) != 10 {
			t.Fatalf("Parse(%q) = %q, which parses to %q, %v", s, v, again, err)
		}
	})
}
