package rediscache

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/overblik/overblik/aggregator"
)

// schemaVersion is the version of the stored timeline. Bump it when a field
// changes meaning or type; a replica that finds a newer version treats the
// timeline as a miss, so a rolling deploy rebuilds instead of misreading.
const schemaVersion = 1

// errEncode marks errors of our own encoding, which say nothing about
// whether Redis is reachable.
var errEncode = errors.New("encode timeline")

// errNewerSchema is a timeline written by a newer release.
var errNewerSchema = errors.New("timeline written by a newer schema")

// The DTOs below are the storage format, kept apart from the domain types so
// a change in package aggregator cannot silently change what is in Redis.
// cachetest's every-field round trip fails when a new domain field is not
// carried here.

type timelineV1 struct {
	V           int          `json:"v"`
	Patient     string       `json:"patient"`
	GeneratedAt time.Time    `json:"generated_at,omitzero"`
	Version     int64        `json:"version,omitempty"` // added within schema 1: older timelines read as version 0
	WindowFrom  time.Time    `json:"window_from,omitzero"`
	WindowTo    time.Time    `json:"window_to,omitzero"`
	Entries     []entryV1    `json:"entries,omitempty"`
	Sources     []sourceV1   `json:"sources,omitempty"`
	Conflicts   []conflictV1 `json:"conflicts,omitempty"`
}

type entryV1 struct {
	ID           string         `json:"id"`
	Source       string         `json:"source,omitempty"`
	Sector       string         `json:"sector,omitempty"`
	Kind         string         `json:"kind,omitempty"`
	Status       string         `json:"status,omitempty"`
	FHIRStatus   string         `json:"fhir_status,omitempty"`
	Start        time.Time      `json:"start,omitzero"`
	End          time.Time      `json:"end,omitzero"`
	AllDay       bool           `json:"all_day,omitempty"`
	Title        string         `json:"title,omitempty"`
	Description  string         `json:"description,omitempty"`
	Instruction  string         `json:"instruction,omitempty"`
	Place        placeV1        `json:"place,omitzero"`
	People       []string       `json:"people,omitempty"`
	Organization string         `json:"organization,omitempty"`
	Contact      string         `json:"contact,omitempty"`
	Medium       string         `json:"medium,omitempty"`
	VideoURL     string         `json:"video_url,omitempty"`
	Sensitivity  string         `json:"sensitivity,omitempty"`
	Generic      bool           `json:"generic,omitempty"`
	Updated      time.Time      `json:"updated,omitzero"`
	Provenance   []provenanceV1 `json:"provenance,omitempty"`
	ServiceCodes []string       `json:"service_codes,omitempty"`
	PartOf       []string       `json:"part_of,omitempty"`
	Stale        bool           `json:"stale,omitempty"`
	FetchedAt    time.Time      `json:"fetched_at,omitzero"`
	// Added within schema 1: older timelines read without them.
	Identifiers []string `json:"identifiers,omitempty"`
	Parts       []partV1 `json:"parts,omitempty"`
	Died        bool     `json:"died,omitempty"`
}

type partV1 struct {
	Source       string `json:"source,omitempty"`
	Sector       string `json:"sector,omitempty"`
	Organization string `json:"organization,omitempty"`
	Status       string `json:"status,omitempty"`
	Stale        bool   `json:"stale,omitempty"`
}

type placeV1 struct {
	Name    string   `json:"name,omitempty"`
	Address string   `json:"address,omitempty"`
	Lat     *float64 `json:"lat,omitempty"` // a pointer: 0 is a valid coordinate, nil is none
	Lon     *float64 `json:"lon,omitempty"`
}

type provenanceV1 struct {
	Source  string `json:"source,omitempty"`
	Type    string `json:"type,omitempty"`
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
}

type conflictV1 struct {
	ID        string   `json:"id"`
	Rule      string   `json:"rule,omitempty"`
	Severity  string   `json:"severity,omitempty"`
	Day       string   `json:"day,omitempty"`
	Entries   []string `json:"entries,omitempty"`
	MessageDa string   `json:"message_da,omitempty"`
	MessageEn string   `json:"message_en,omitempty"`
}

type sourceV1 struct {
	Name        string        `json:"name"`
	Display     string        `json:"display,omitempty"`
	Sector      string        `json:"sector,omitempty"`
	OK          bool          `json:"ok,omitempty"`
	Error       string        `json:"error,omitempty"`
	ErrorKind   string        `json:"error_kind,omitempty"`
	LastSuccess time.Time     `json:"last_success,omitzero"`
	Entries     int           `json:"entries,omitempty"`
	Skipped     int           `json:"skipped,omitempty"`
	Warnings    int           `json:"warnings,omitempty"`
	Duration    time.Duration `json:"duration_ns,omitempty"`
}

// encode serialises t at the current schema version. Times keep their
// instant and offset (RFC 3339); the zone's name is not kept, readers show
// times in the configured zone anyway.
func encode(t *aggregator.Timeline) ([]byte, error) {
	d := timelineV1{V: schemaVersion, Patient: t.Patient, GeneratedAt: t.GeneratedAt, Version: t.Version,
		WindowFrom: t.Window.From, WindowTo: t.Window.To}
	if len(t.Entries) > 0 {
		d.Entries = make([]entryV1, len(t.Entries))
		for i, e := range t.Entries {
			d.Entries[i] = entryV1{
				ID: e.ID, Source: e.Source, Sector: string(e.Sector), Kind: string(e.Kind),
				Status: string(e.Status), FHIRStatus: e.FHIRStatus, Start: e.Start, End: e.End, AllDay: e.AllDay,
				Title: e.Title, Description: e.Description, Instruction: e.Instruction,
				Place:  placeV1{Name: e.Place.Name, Address: e.Place.Address, Lat: e.Place.Lat, Lon: e.Place.Lon},
				People: e.People, Organization: e.Organization, Contact: e.Contact, Medium: string(e.Medium),
				VideoURL: e.VideoURL, Sensitivity: string(e.Sensitivity), Generic: e.Generic, Updated: e.Updated,
				ServiceCodes: e.ServiceCodes, PartOf: e.PartOf, Stale: e.Stale, FetchedAt: e.FetchedAt,
				Identifiers: e.Identifiers, Died: e.Died,
			}
			for _, p := range e.Parts {
				d.Entries[i].Parts = append(d.Entries[i].Parts, partV1{Source: p.Source, Sector: string(p.Sector),
					Organization: p.Organization, Status: string(p.Status), Stale: p.Stale})
			}
			if len(e.Provenance) > 0 {
				ps := make([]provenanceV1, len(e.Provenance))
				for j, p := range e.Provenance {
					ps[j] = provenanceV1(p)
				}
				d.Entries[i].Provenance = ps
			}
		}
	}
	if len(t.Sources) > 0 {
		d.Sources = make([]sourceV1, len(t.Sources))
		for i, s := range t.Sources {
			d.Sources[i] = sourceV1{Name: s.Name, Display: s.Display, Sector: string(s.Sector), OK: s.OK,
				Error: s.Error, ErrorKind: string(s.ErrorKind), LastSuccess: s.LastSuccess,
				Entries: s.Entries, Skipped: s.Skipped, Warnings: s.Warnings, Duration: s.Duration}
		}
	}
	if len(t.Conflicts) > 0 {
		d.Conflicts = make([]conflictV1, len(t.Conflicts))
		for i, c := range t.Conflicts {
			d.Conflicts[i] = conflictV1{ID: c.ID, Rule: string(c.Rule), Severity: string(c.Severity), Day: c.Day,
				Entries: c.Entries, MessageDa: c.Message.Da, MessageEn: c.Message.En}
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEncode, err)
	}
	return b, nil
}

// decode reads a stored timeline. A newer schema version gives errNewerSchema.
func decode(b []byte) (*aggregator.Timeline, error) {
	var d timelineV1
	if err := json.Unmarshal(b, &d); err != nil {
		// A newer schema may have changed a field's type: its version says so.
		var v struct {
			V int `json:"v"`
		}
		if json.Unmarshal(b, &v) == nil && v.V > schemaVersion {
			return nil, fmt.Errorf("%w: version %d", errNewerSchema, v.V)
		}
		return nil, err
	}
	switch {
	case d.V > schemaVersion:
		return nil, fmt.Errorf("%w: version %d", errNewerSchema, d.V)
	case d.V < 1:
		return nil, fmt.Errorf("no schema version (v=%d)", d.V)
	}
	t := &aggregator.Timeline{Patient: d.Patient, GeneratedAt: d.GeneratedAt, Version: d.Version,
		Window: aggregator.Window{From: d.WindowFrom, To: d.WindowTo}}
	if len(d.Entries) > 0 {
		t.Entries = make([]aggregator.Entry, len(d.Entries))
		for i, e := range d.Entries {
			t.Entries[i] = aggregator.Entry{
				ID: e.ID, Source: e.Source, Sector: aggregator.Sector(e.Sector), Kind: aggregator.Kind(e.Kind),
				Status: aggregator.Status(e.Status), FHIRStatus: e.FHIRStatus, Start: e.Start, End: e.End,
				AllDay: e.AllDay, Title: e.Title, Description: e.Description, Instruction: e.Instruction,
				Place:  aggregator.Place{Name: e.Place.Name, Address: e.Place.Address, Lat: e.Place.Lat, Lon: e.Place.Lon},
				People: e.People, Organization: e.Organization, Contact: e.Contact, Medium: aggregator.Medium(e.Medium),
				VideoURL: e.VideoURL, Sensitivity: aggregator.Sensitivity(e.Sensitivity), Generic: e.Generic, Updated: e.Updated,
				ServiceCodes: e.ServiceCodes, PartOf: e.PartOf, Stale: e.Stale, FetchedAt: e.FetchedAt,
				Identifiers: e.Identifiers, Died: e.Died,
			}
			for _, p := range e.Parts {
				t.Entries[i].Parts = append(t.Entries[i].Parts, aggregator.Part{Source: p.Source, Sector: aggregator.Sector(p.Sector),
					Organization: p.Organization, Status: aggregator.Status(p.Status), Stale: p.Stale})
			}
			if len(e.Provenance) > 0 {
				ps := make([]aggregator.Provenance, len(e.Provenance))
				for j, p := range e.Provenance {
					ps[j] = aggregator.Provenance(p)
				}
				t.Entries[i].Provenance = ps
			}
		}
	}
	if len(d.Sources) > 0 {
		t.Sources = make([]aggregator.SourceStatus, len(d.Sources))
		for i, s := range d.Sources {
			t.Sources[i] = aggregator.SourceStatus{Name: s.Name, Display: s.Display, Sector: aggregator.Sector(s.Sector),
				OK: s.OK, Error: s.Error, ErrorKind: aggregator.ErrorKind(s.ErrorKind), LastSuccess: s.LastSuccess,
				Entries: s.Entries, Skipped: s.Skipped, Warnings: s.Warnings, Duration: s.Duration}
		}
	}
	if len(d.Conflicts) > 0 {
		t.Conflicts = make([]aggregator.Conflict, len(d.Conflicts))
		for i, c := range d.Conflicts {
			t.Conflicts[i] = aggregator.Conflict{ID: c.ID, Rule: aggregator.Rule(c.Rule), Severity: aggregator.Severity(c.Severity),
				Day: c.Day, Entries: c.Entries, Message: aggregator.Message{Da: c.MessageDa, En: c.MessageEn}}
		}
	}
	return t, nil
}
