package aggregator

import "testing"

func TestKindForHTTPStatus(t *testing.T) {
	tests := []struct {
		code int
		want ErrorKind
	}{
		{301, Invalid}, {304, Invalid}, {400, Invalid}, {401, Unauthorized}, {403, Unauthorized},
		{404, NotFound}, {405, Invalid}, {406, Invalid}, {408, Unavailable}, {409, Invalid}, {410, NotFound},
		{415, Invalid}, {422, Invalid}, {425, Unavailable}, {429, Unavailable}, {500, Unavailable},
		{501, Unavailable}, {502, Unavailable}, {503, Unavailable}, {504, Unavailable}, {599, Unavailable}, {600, Invalid},
	}
	for _, tc := range tests {
		if got := KindForHTTPStatus(tc.code); got != tc.want {
			t.Errorf("KindForHTTPStatus(%d) = %q, want %q", tc.code, got, tc.want)
		}
	}
}
