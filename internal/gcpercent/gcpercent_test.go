package gcpercent

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	if got := Apply(getenv); got != Default {
		t.Errorf("no GOGC: Apply says %d, want %d", got, Default)
	}
	if p := debug.SetGCPercent(100); p != Default {
		t.Errorf("no GOGC: the collector's percent is %d, want %d", p, Default)
	}

	// The runtime read GOGC at start (here: as if it had read 50).
	debug.SetGCPercent(50)
	env["GOGC"] = "50"
	if got := Apply(getenv); got != 50 {
		t.Errorf("GOGC=50: Apply says %d, want 50", got)
	}
	if p := debug.SetGCPercent(100); p != 50 {
		t.Errorf("GOGC=50: the collector's percent is %d, want the environment's 50", p)
	}
}
