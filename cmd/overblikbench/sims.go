package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/overblik/overblik/fhir/fhirsim"
	"github.com/overblik/overblik/testdata"
)

// The simulated sources run in a process of their own, started from this
// binary (simsEnv names what to serve), so the CPU this process spends is
// overblik's alone and the rows can say what a refreshed patient costs.
// They are a testdata.Region's three systems, made on demand by fhirsim.

// simsEnv, when set, makes this binary serve sims as its spec says.
const simsEnv = "OVERBLIKBENCH_SIMS"

// simSpec is what a child serves.
type simSpec struct {
	Patients int           `json:"patients"`
	Latency  time.Duration `json:"latency"`
}

// sectors are the region's systems, one simulated source each.
var sectors = []testdata.Sector{testdata.SectorHospital, testdata.SectorMunicipality, testdata.SectorGP}

// requestCounts are the requests one source answered, by kind.
type requestCounts struct {
	Patient     int64 `json:"patient"`     // Patient searches (look-ups by identifier)
	Appointment int64 `json:"appointment"` // Appointment searches for a patient
	Encounter   int64 `json:"encounter"`   // Encounter searches for a patient
	Polls       int64 `json:"polls"`       // system-level searches (change feeds), by type: their first pages
	PollPages   int64 `json:"poll_pages"`  // the further pages of those
	Reads       int64 `json:"reads"`       // reads of one resource
}

func (c requestCounts) minus(d requestCounts) requestCounts {
	return requestCounts{c.Patient - d.Patient, c.Appointment - d.Appointment, c.Encounter - d.Encounter, c.Polls - d.Polls,
		c.PollPages - d.PollPages, c.Reads - d.Reads}
}

func (c requestCounts) plus(d requestCounts) requestCounts {
	return requestCounts{c.Patient + d.Patient, c.Appointment + d.Appointment, c.Encounter + d.Encounter, c.Polls + d.Polls,
		c.PollPages + d.PollPages, c.Reads + d.Reads}
}

// countingSource counts what it answers and serves the bench's own
// requests under /_bench/ (not counted): changes and the counts.
type countingSource struct {
	sim                                 *fhirsim.Server
	patient, appt, enc, poll, pages, rd atomic.Int64
}

func (c *countingSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == "/_bench/counts":
		_ = json.NewEncoder(w).Encode(requestCounts{c.patient.Load(), c.appt.Load(), c.enc.Load(), c.poll.Load(), c.pages.Load(), c.rd.Load()})
		return
	case path == "/_bench/change" && r.Method == http.MethodPost:
		var patients []int
		if err := json.NewDecoder(r.Body).Decode(&patients); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		times := make([]time.Time, len(patients))
		for i, p := range patients {
			at, err := c.sim.Change(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			times[i] = at
		}
		_ = json.NewEncoder(w).Encode(times)
		return
	case path == "/Patient":
		c.patient.Add(1)
	case path == "/Appointment" || path == "/Encounter":
		q := r.URL.Query()
		switch {
		case q.Has("patient") || q.Has("subject"):
			if path == "/Appointment" {
				c.appt.Add(1)
			} else {
				c.enc.Add(1)
			}
		case q.Has("_page"):
			c.pages.Add(1)
		default:
			c.poll.Add(1)
		}
	case strings.Count(path, "/") == 2:
		c.rd.Add(1)
	}
	c.sim.ServeHTTP(w, r)
}

// serveSims is the child: it serves spec's sources on loopback, writes their
// URLs as one JSON line, and serves until its standard input closes (the
// bench exits or ends it).
func serveSims(raw string) error {
	var spec simSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("%s: %w", simsEnv, err)
	}
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return err
	}
	region, err := testdata.NewRegion(spec.Patients, time.Now(), loc)
	if err != nil {
		return err
	}
	var urls []string
	for _, sector := range sectors {
		sim, err := fhirsim.NewPopulation(region.Source(sector), fhirsim.Options{TimeZone: loc, Include: true, Latency: spec.Latency})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: &countingSource{sim: sim}, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	if err := json.NewEncoder(os.Stdout).Encode(urls); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// simSet is a child serving three sources.
type simSet struct {
	urls   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client *http.Client
}

// startSims starts a child serving spec's sources.
func startSims(ctx context.Context, spec simSpec) (*simSet, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(spec)
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), simsEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the simulated sources: %w", err)
	}
	s := &simSet{cmd: cmd, stdin: stdin, client: &http.Client{Timeout: 30 * time.Second}}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &s.urls)
	}
	if err != nil || len(s.urls) != len(sectors) {
		s.stop()
		return nil, fmt.Errorf("the simulated sources did not start: %v", errors.Join(err, errors.New(string(line))))
	}
	return s, nil
}

// stop ends the child.
func (s *simSet) stop() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// counts are what source i answered so far.
func (s *simSet) counts(i int) (requestCounts, error) {
	var c requestCounts
	resp, err := s.client.Get(s.urls[i] + "/_bench/counts")
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

// total is what all three answered so far.
func (s *simSet) total() (requestCounts, error) {
	var sum requestCounts
	for i := range s.urls {
		c, err := s.counts(i)
		if err != nil {
			return sum, err
		}
		sum = sum.plus(c)
	}
	return sum, nil
}

// change changes patients at source i now and returns when each changed.
func (s *simSet) change(i int, patients []int) ([]time.Time, error) {
	body, _ := json.Marshal(patients)
	resp, err := s.client.Post(s.urls[i]+"/_bench/change", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("change at source %d: %s: %s", i, resp.Status, b)
	}
	var times []time.Time
	return times, json.NewDecoder(resp.Body).Decode(&times)
}
