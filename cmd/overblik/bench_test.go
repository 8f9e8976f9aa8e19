package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/overblik/overblik/aggregator"
	"github.com/overblik/overblik/aggregator/memcache"
	"github.com/overblik/overblik/config"
	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/sources/fhirsource"
	"github.com/overblik/overblik/view"
	"github.com/overblik/overblik/web"
)

// benchSources starts n loopback FHIR servers holding one patient with
// perSource appointments each.
func benchSources(b *testing.B, n, perSource int) []aggregator.Registration {
	b.Helper()
	var regs []aggregator.Registration
	sectors := []aggregator.Sector{aggregator.SectorHospital, aggregator.SectorMunicipality, aggregator.SectorGP}
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		res := []json.RawMessage{json.RawMessage(`{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:oid:1.2.208.176.1.2","value":"3002991234"}]}`)}
		for j := range perSource {
			// Each source at its own hours with its own services, as real ones:
			// identical titles and times would plant a conflict on every entry.
			start := base.Add(time.Duration(j)*26*time.Hour + time.Duration(i)*3*time.Hour)
			res = append(res, json.RawMessage(fmt.Sprintf(`{"resourceType":"Appointment","id":"a%d","status":"booked","description":"Aftale %d i kilde %d",`+
				`"start":%q,"end":%q,"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"},{"actor":{"display":"Klinik"},"status":"accepted"}]}`,
				j, j, i, start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339))))
		}
		sim, err := fhirsim.New(res, fhirsim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(sim)
		b.Cleanup(srv.Close)
		src, err := fhirsource.New(fhirsource.Config{Name: fmt.Sprintf("s%d", i), Sector: sectors[i%3], BaseURL: srv.URL, PageSize: 200}, srv.Client())
		if err != nil {
			b.Fatal(err)
		}
		regs = append(regs, aggregator.Registration{Source: src, Timeout: 10 * time.Second})
	}
	return regs
}

var benchPatient = aggregator.PatientRef{Handle: "bench", Identifier: aggregator.Identifier{System: "urn:oid:1.2.208.176.1.2", Value: "3002991234"}}

// BenchmarkColdBuild3x100 builds a timeline from three loopback sources with
// 100 appointments each: fan-out, HTTP, decoding, normalising, merging.
func BenchmarkColdBuild3x100(b *testing.B) {
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	svc, err := aggregator.New(benchSources(b, 3, 100), memcache.NewBackend(0), aggregator.Options{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tl, err := svc.Refresh(ctx, benchPatient)
		if err != nil || len(tl.Entries) != 300 {
			b.Fatalf("got %v entries, err %v", len(tl.Entries), err)
		}
	}
}

// BenchmarkCachedRead serves a cached 300-entry timeline through the whole
// HTTP stack, as JSON and as the HTML page.
func BenchmarkCachedRead(b *testing.B) {
	cfg := config.Default()
	cfg.Location, _ = time.LoadLocation(cfg.Timezone)
	cfg.HandleSecret = []byte("benchmark secret of at least 32 bytes!")
	regs := benchSources(b, 3, 100)
	svc, err := aggregator.New(regs, memcache.NewBackend(0), aggregator.Options{FreshFor: time.Hour, Location: cfg.Location})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	patients, _ := aggregator.NewPatients(cfg.HandleSecret, memcache.NewDirectory())
	p, _ := patients.Register(context.Background(), benchPatient.Identifier)
	if _, err := svc.Refresh(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	views := view.New(svc, patients, view.Options{})
	h := newWeb(cfg, demoExtras{}, web.Deps{Views: views, Patients: patients, Sources: svc, Logger: slog.New(slog.DiscardHandler)}, nil)
	for _, tc := range []struct{ name, path string }{
		{"JSON", "/api/v1/patients/" + p.Handle + "/timeline"},
		{"HTML", "/p/" + p.Handle},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
