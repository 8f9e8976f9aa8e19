package config

import (
	yaml "go.yaml.in/yaml/v3"

	"github.com/overblik/overblik/aggregator"
)

// conflicts decodes the coordination rules: each can be switched off, its
// severity changed and its thresholds tuned; what is left out keeps the
// default (aggregator.DefaultConflictRules).
func (d *decoder) conflicts(n *yaml.Node, path string, r *aggregator.ConflictRules) {
	sev := func(dst *aggregator.Severity) field {
		return func(n *yaml.Node, path string) {
			var v string
			d.str(&v)(n, path)
			switch aggregator.Severity(v) {
			case "", aggregator.SeverityHigh, aggregator.SeverityMedium, aggregator.SeverityLow:
				*dst = aggregator.Severity(v)
			default:
				d.fail(n, path, "want high, medium or low, got %q", v)
			}
		}
	}
	rule := func(off *bool, severity *aggregator.Severity, more map[string]field) field {
		return func(n *yaml.Node, path string) {
			fields := map[string]field{"off": d.boolean(off), "severity": sev(severity)}
			for k, f := range more {
				fields[k] = f
			}
			d.mapping(n, path, fields)
		}
	}
	da, ov, tr, hd, bt, na := &r.DuringAdmission, &r.Overlap, &r.Travel, &r.HeavyDay, &r.BookedTwice, &r.NothingAfterDischarge
	d.mapping(n, path, map[string]field{
		"during_admission": rule(&da.Off, &da.Severity, map[string]field{"ongoing": d.duration(&da.Ongoing)}),
		"overlap":          rule(&ov.Off, &ov.Severity, nil),
		"travel": rule(&tr.Off, &tr.Severity, map[string]field{
			"speed_kmh": d.number(&tr.SpeedKMH), "buffer": d.duration(&tr.Buffer), "min_gap": d.duration(&tr.MinGap),
			"same_place_meters": d.number(&tr.SamePlaceMeters),
		}),
		"heavy_day":               rule(&hd.Off, &hd.Severity, map[string]field{"max": d.integer(&hd.Max)}),
		"booked_twice":            rule(&bt.Off, &bt.Severity, map[string]field{"days": d.integer(&bt.Days)}),
		"nothing_after_discharge": rule(&na.Off, &na.Severity, map[string]field{"days": d.integer(&na.Days), "min_stay": d.duration(&na.MinStay)}),
	})
}

// merge decodes when entries of different sources are one entry (a joint
// meeting, a stay known twice). A meeting's signals are given as what
// counts (identifiers, video, place: true by default), the rules as what
// is ignored.
func (d *decoder) merge(n *yaml.Node, path string, r *aggregator.MergeRules) {
	m, st := &r.Meetings, &r.Stays
	ids, video, place := !m.IgnoreIdentifier, !m.IgnoreVideoLink, !m.IgnorePlace
	d.mapping(n, path, map[string]field{
		"meetings": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{
				"off":         d.boolean(&m.Off),
				"within":      d.duration(&m.Within),
				"identifiers": d.boolean(&ids),
				"video":       d.boolean(&video),
				"place":       d.boolean(&place),
			})
		},
		"stays": func(n *yaml.Node, path string) {
			d.mapping(n, path, map[string]field{"off": d.boolean(&st.Off), "within": d.duration(&st.Within)})
		},
	})
	m.IgnoreIdentifier, m.IgnoreVideoLink, m.IgnorePlace = !ids, !video, !place
}

// validateMerge: a rule that is on must join something.
func (c *Config) validateMerge(add func(key, format string, args ...any)) {
	m, st := c.Merge.Meetings, c.Merge.Stays
	if m.Within <= 0 {
		add("merge.meetings.within", "must be positive, got %v", m.Within)
	}
	if st.Within <= 0 {
		add("merge.stays.within", "must be positive, got %v", st.Within)
	}
	if !m.Off && m.IgnoreIdentifier && m.IgnoreVideoLink && m.IgnorePlace {
		add("merge.meetings", "identifiers, video and place are all false, so no meeting is joined: say off: true")
	}
}
