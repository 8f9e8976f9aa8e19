// Package gcpercent sets the garbage collector's target of an overblik
// process, the server's and the benchmark's alike.
package gcpercent

import "runtime/debug"

// Default is the GOGC overblik runs with when the environment sets none.
// A refresh allocates what it reads (every page's body, about 100 KB a
// patient) and keeps little of it: a replica on Redis holds tens of MB, so
// at Go's 100 the collector ran every few dozen refreshes and took a sixth
// of their CPU. At 400 the heap grows to five times what is live before a
// collection; GOMEMLIMIT bounds it where memory is tight.
const Default = 400

// Apply sets Default unless getenv has GOGC (the runtime has read it).
// It returns the percent in force.
func Apply(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(Default)
	return Default
}
