package ical

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/overblik/overblik/aggregator"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantOK  bool
		says    string
	}{
		{"calendar", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/calendar")
			w.Write([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nEND:VCALENDAR\r\n"))
		}, true, "feed was answered"},
		{"unknown patient", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, true, "does not know the probe patient"},
		{"refused", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }, false, "403"},
		{"broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, false, "500"},
		{"not a calendar", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, false, "not with an iCalendar feed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			s, err := New(Config{Name: "k", Sector: aggregator.SectorMunicipality, URL: srv.URL + "/feed/{identifier}.ics"}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got := s.Check(context.Background(), "")
			if len(got) != 1 || got[0].OK != tc.wantOK || !strings.Contains(got[0].Detail, tc.says) {
				t.Errorf("Check = %+v, want ok=%v saying %q", got, tc.wantOK, tc.says)
			}
		})
	}
}
