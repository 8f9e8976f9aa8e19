package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSentinelServesAcrossAFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	s := NewSentinel(t)
	t.Logf("Sentinel set started in %v", time.Since(start).Round(time.Millisecond))
	if got, want := s.URL(), "redis-sentinel://"+s.SentinelAddr()+"?master_name="+MasterName; got != want {
		t.Errorf("URL() = %s, want %s", got, want)
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: []string{s.SentinelAddr()}})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "before" {
		t.Fatalf("Get = %q, %v; want before", got, err)
	}

	oldMaster := s.Master()
	start = time.Now()
	newMaster, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover took %v", time.Since(start).Round(time.Millisecond))
	if newMaster == oldMaster || s.Master() != newMaster || s.Replica() != oldMaster {
		t.Fatalf("after the failover master %s (Master() %s, Replica() %s), before %s", newMaster, s.Master(), s.Replica(), oldMaster)
	}

	// The same client writes to the new master.
	if err := rdb.Set(ctx, "k", "after", 0).Err(); err != nil {
		t.Fatalf("Set after the failover: %v", err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "after" {
		t.Fatalf("Get after the failover = %q, %v; want after", got, err)
	}
	direct := redis.NewClient(&redis.Options{Addr: newMaster})
	defer direct.Close()
	if got, err := direct.Get(ctx, "k").Result(); err != nil || got != "after" {
		t.Errorf("the new master %s holds %q, %v; want after", newMaster, got, err)
	}
	role, err := redis.NewClient(&redis.Options{Addr: oldMaster}).Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "slave" {
		t.Errorf("the old master's ROLE = %v, %v; want a replica", role, err)
	}

	// And a second failover goes back.
	if back, err := s.Failover(ctx); err != nil || back != oldMaster {
		t.Fatalf("second failover = %s, %v; want %s", back, err, oldMaster)
	}
	if err := rdb.Set(ctx, "k", "again", 0).Err(); err != nil {
		t.Fatalf("Set after the second failover: %v", err)
	}
}

func TestClusterSpreadsKeysOverThreeMasters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c := NewCluster(t)
	t.Logf("Cluster started in %v", time.Since(start).Round(time.Millisecond))
	a := c.Addrs()
	if got, want := c.URL(), fmt.Sprintf("redis-cluster://%s?addr=%s&addr=%s", a[0], a[1], a[2]); got != want {
		t.Errorf("URL() = %s, want %s", got, want)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: a})
	defer rdb.Close()
	const n = 60
	for i := range n {
		if err := rdb.Set(ctx, fmt.Sprintf("key%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got, err := rdb.Get(ctx, fmt.Sprintf("key%d", i)).Int(); err != nil || got != i {
			t.Fatalf("Get(key%d) = %d, %v", i, got, err)
		}
	}
	var total int64
	for _, addr := range a {
		size, err := redis.NewClient(&redis.Options{Addr: addr}).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			t.Errorf("master %s holds no key: the slots are not spread", addr)
		}
		total += size
	}
	if total != n {
		t.Errorf("the masters hold %d keys, want %d", total, n)
	}
	if err := rdb.MSet(ctx, "{a}1", 1, "{b}2", 2).Err(); err == nil {
		t.Error("MSET across slots succeeded: this is no Cluster")
	}
}

// The helpers stop every server when the test fails, and a server dies with
// the process that started it. Each case runs this test again in a child
// process: in one, a subtest starts servers and fails, and the child writes
// down which of them still answer after the subtest's cleanup; in the other,
// the child starts servers, writes their addresses and waits to be killed.
func TestServersStopWithTheTest(t *testing.T) {
	if mode := os.Getenv("REDISTEST_CHILD"); mode != "" {
		report := func(lines ...string) {
			if err := os.WriteFile(os.Getenv("REDISTEST_REPORT"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		switch mode {
		case "fail":
			var addrs []string
			t.Run("fails", func(t *testing.T) {
				s, c := NewSentinel(t), NewCluster(t)
				addrs = append([]string{s.Master(), s.Replica(), s.SentinelAddr()}, c.Addrs()...)
				t.Fatal("failing on purpose: the servers must stop all the same")
			})
			var running []string
			for _, a := range addrs {
				if answers(a) {
					running = append(running, a)
				}
			}
			report(strings.Join(addrs, " "), strings.Join(running, " "))
		case "hang":
			s := NewSentinel(t)
			report(strings.Join([]string{s.Master(), s.Replica(), s.SentinelAddr()}, " "))
			time.Sleep(time.Minute) // until the parent kills the process
		}
		return
	}

	run := func(t *testing.T, mode string, kill bool) []string {
		t.Helper()
		file := filepath.Join(t.TempDir(), "report")
		cmd := exec.Command(os.Args[0], "-test.run=^TestServersStopWithTheTest$", "-test.count=1")
		cmd.Env = append(os.Environ(), "REDISTEST_CHILD="+mode, "REDISTEST_REPORT="+file)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		eventually(t, "the child's report", func() bool {
			b, err := os.ReadFile(file)
			if err != nil || !strings.HasSuffix(string(b), "\n") {
				return false
			}
			lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			return true
		})
		if kill {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) {
			t.Fatalf("child test = %v, want it to fail or be killed\n%s", err, out.String())
		}
		return lines
	}
	t.Run("test fails", func(t *testing.T) {
		lines := run(t, "fail", false)
		if len(lines) != 2 || len(strings.Fields(lines[0])) != 6 {
			t.Fatalf("child reported %q, want 6 servers and those still running", lines)
		}
		if lines[1] != "" {
			t.Errorf("after the failed test's cleanup, %s still answered", lines[1])
		}
	})
	t.Run("test process killed", func(t *testing.T) {
		lines := run(t, "hang", true)
		if len(lines) != 1 || len(strings.Fields(lines[0])) != 3 {
			t.Fatalf("child reported %q, want 3 servers", lines)
		}
		for _, a := range strings.Fields(lines[0]) {
			eventually(t, a+" to stop with the process that started it", func() bool { return !answers(a) })
		}
	})
}

// answers reports whether something accepts connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// eventually polls cond until it holds, or fails the test after 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
