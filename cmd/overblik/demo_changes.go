package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/overblik/overblik/web"
)

// demoChanges are the demo's change switches: they move, cancel and add an
// appointment of the first demo patient at a simulated source, as that
// system would, and refresh her timeline at once, so the next page load
// shows "Ny", "Flyttet fra ..." or "Aflyst siden sidst" instead of waiting
// for the next refresh.
type demoChanges struct {
	demo  *demo
	app   *app
	now   func() time.Time
	mu    sync.Mutex // one change at a time: each reads, then writes, a source
	added int
}

// Patient is whose appointments change: the first demo patient's.
func (d *demoChanges) Patient() string { return d.demo.patients[0].Name }

func (d *demoChanges) Change(ctx context.Context, source string, kind web.DemoChangeKind) error {
	sim, ok := d.demo.sims[source]
	if !ok {
		return web.ErrUnknownSource
	}
	p := d.demo.patients[0]
	ref, ok, err := d.app.patients.Resolve(ctx, p.Handle)
	if err != nil || !ok {
		return fmt.Errorf("demo change: the demo patient does not resolve: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A timeline from before the change, so the change is one: pressed
	// before anyone looked, it would only be part of her first build.
	if _, err := d.app.svc.Timeline(ctx, ref); err != nil {
		return fmt.Errorf("demo change: the timeline before it: %w", err)
	}
	pid := ""
	for _, raw := range sim.Resources("Patient") {
		var pt struct {
			ID         string `json:"id"`
			Identifier []struct{ System, Value string }
		}
		if json.Unmarshal(raw, &pt) != nil {
			continue
		}
		for _, id := range pt.Identifier {
			if id.System == ref.Identifier.System && id.Value == ref.Identifier.Value {
				pid = pt.ID
			}
		}
	}
	if pid == "" {
		return web.ErrNothingToChange
	}
	now := d.now()
	next, err := nextAppointment(sim.Resources("Appointment"), "Patient/"+pid, now)
	if err != nil {
		return err
	}
	if next == nil {
		return web.ErrNothingToChange
	}
	stamp := now.UTC().Format(time.RFC3339)
	next["meta"] = map[string]any{"lastUpdated": stamp}
	switch kind {
	case web.DemoMove:
		for _, k := range []string{"start", "end"} {
			if s, ok := next[k].(string); ok {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					return fmt.Errorf("demo change: %s: %w", k, err)
				}
				next[k] = t.AddDate(0, 0, 1).Format(time.RFC3339)
			}
		}
	case web.DemoCancel:
		next["status"] = "cancelled"
		next["cancelationReason"] = map[string]any{"text": "Aflyst i demoen"}
	case web.DemoAdd:
		// A new booking like the next one, two days from now at 10.
		d.added++
		loc := d.demo.cfg.Location
		day := now.In(loc).AddDate(0, 0, 2)
		start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, loc)
		next["id"] = fmt.Sprintf("demo-added-%d", d.added)
		next["start"], next["end"] = start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339)
		next["description"] = "Ekstra tid (demo)"
		delete(next, "minutesDuration")
		delete(next, "extension")
	default:
		return fmt.Errorf("demo change: kind %q", kind)
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("demo change: %w", err)
	}
	if err := sim.Put(raw); err != nil {
		return fmt.Errorf("demo change: %w", err)
	}
	if _, err := d.app.svc.Refresh(ctx, ref); err != nil {
		return fmt.Errorf("refresh after a demo change at %s: %w", source, err)
	}
	return nil
}

// nextAppointment is the patient's first booked, unrestricted appointment
// that starts after now, as a JSON object to change; nil when there is none.
func nextAppointment(raws []json.RawMessage, patientRef string, now time.Time) (map[string]any, error) {
	var best map[string]any
	var bestStart time.Time
	for _, raw := range raws {
		var a struct {
			Status      string
			Start       string
			Meta        struct{ Security []struct{ Code string } }
			Participant []struct {
				Actor struct{ Reference string }
			}
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("demo change: %w", err)
		}
		start, err := time.Parse(time.RFC3339, a.Start)
		if err != nil || a.Status != "booked" || !start.After(now) || (!bestStart.IsZero() && !start.Before(bestStart)) {
			continue
		}
		restricted, theirs := false, false
		for _, s := range a.Meta.Security {
			restricted = restricted || strings.EqualFold(s.Code, "R")
		}
		for _, p := range a.Participant {
			theirs = theirs || p.Actor.Reference == patientRef
		}
		if restricted || !theirs {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("demo change: %w", err)
		}
		best, bestStart = m, start
	}
	return best, nil
}
