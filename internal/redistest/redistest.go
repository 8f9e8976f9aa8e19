// Package redistest starts real Redis deployments for tests and benchmarks,
// from Debian's redis-server: a Sentinel set (one master, one replica, one
// sentinel) and a Cluster of three masters. Every server listens on
// loopback ports chosen free at run time, keeps its files in a folder of its
// own, and is killed by Close, which the test helpers (NewSentinel,
// NewCluster) register with t.Cleanup, so a failed test leaves nothing
// running. A server also dies with the process that started it (Linux), so
// a test binary killed by its timeout does not leave servers behind either.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds the start of one server and the wait for a
// deployment to be whole.
const startTimeout = 20 * time.Second

// server is one redis-server process.
type server struct {
	name string
	addr string // 127.0.0.1:port
	port int
	bus  int // cluster bus port, 0 outside a Cluster
	dir  string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// spec says how to start a server on given ports: the config file to write
// (may be empty) and the arguments after the binary.
type spec func(port, bus int, dir, logFile string) (conf string, args []string)

// errPortTaken is a server that could not bind the port chosen for it,
// which another process took between the choice and the start.
var errPortTaken = errors.New("port taken")

// startServer starts a server in dir/name, choosing its ports again when
// another process takes one first, and waits until it answers PING.
func startServer(ctx context.Context, dir, name string, withBus bool, sp spec) (*server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server is needed (apt-get install redis-server; make test installs it): %w", err)
	}
	sdir := filepath.Join(dir, name)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	for attempt := 0; ; attempt++ {
		n := 1
		if withBus {
			n = 2
		}
		ports, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		s := &server{name: name, port: ports[0], addr: "127.0.0.1:" + strconv.Itoa(ports[0]), dir: sdir,
			log: filepath.Join(sdir, "redis.log"), done: make(chan struct{})}
		if withBus {
			s.bus = ports[1]
		}
		err = s.start(ctx, bin, sp)
		if errors.Is(err, errPortTaken) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

func (s *server) start(ctx context.Context, bin string, sp spec) error {
	_ = os.Remove(s.log)
	conf, args := sp(s.port, s.bus, s.dir, s.log)
	if conf != "" {
		path := filepath.Join(s.dir, "redis.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return fmt.Errorf("redistest: %w", err)
		}
		args = append([]string{path}, args...)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = s.dir
	s.cmd.SysProcAttr = dieWithParent()
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", s.name, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c := s.client()
	defer c.Close()
	for {
		if c.Ping(ctx).Err() == nil {
			return nil
		}
		select {
		case <-s.done:
			tail := s.tail(20)
			if strings.Contains(tail, "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("redistest: %s exited at start: %s\n%s", s.name, s.cmd.ProcessState, tail)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("redistest: %s does not answer on %s: %w\n%s", s.name, s.addr, ctx.Err(), s.tail(20))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// client is a plain client on this one server, which fails fast.
func (s *server) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 2, Protocol: 2})
}

// kill stops the process at once (the servers keep nothing worth saving)
// and waits for it.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// tail returns the last n lines of the server's log.
func (s *server) tail(n int) string {
	f, err := os.Open(s.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("redistest: free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// baseArgs are what every server of ours runs with: loopback only, nothing
// on disk, a log file of its own.
func baseArgs(port int, dir, logFile string) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logFile, "--daemonize", "no"}
}

// group is the servers of one deployment and the folder they live in.
type group struct {
	mu      sync.Mutex
	servers []*server
	dir     string
	ownDir  bool // Close removes dir
	closed  bool
}

func newGroup(dir string) (*group, error) {
	if dir != "" {
		return &group{dir: dir}, nil
	}
	d, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	return &group{dir: d, ownDir: true}, nil
}

func (g *group) add(s *server) {
	g.mu.Lock()
	g.servers = append(g.servers, s)
	g.mu.Unlock()
}

// close kills every server and removes the folder when it is the group's.
func (g *group) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	for _, s := range g.servers {
		s.kill()
	}
	if g.ownDir {
		return os.RemoveAll(g.dir)
	}
	return nil
}

// logs is the end of every server's log, for a test that failed.
func (g *group) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for _, s := range g.servers {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", s.name, s.addr, s.tail(15))
	}
	return b.String()
}

// cleanup registers close, and the servers' logs when the test failed.
func (g *group) cleanup(tb testing.TB) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("redistest: the servers' logs:\n%s", g.logs())
		}
		if err := g.close(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})
}

// info returns the fields of one INFO section.
func info(ctx context.Context, c *redis.Client, section string) (map[string]string, error) {
	raw, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for line := range strings.SplitSeq(raw, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			m[k] = v
		}
	}
	return m, nil
}

// poll calls cond every few milliseconds until it reports done, returns an
// error, or ctx ends; the last reason it gave is in the timeout error.
func poll(ctx context.Context, what string, cond func(ctx context.Context) (done bool, why string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var why string
	for {
		done, w, err := cond(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		why = w
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: %s: %w (last: %s)", what, ctx.Err(), why)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
