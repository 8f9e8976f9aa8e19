package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinel monitors the master under.
const MasterName = "overblik"

// Sentinel is a Redis Sentinel set: a master, a replica of it and one
// sentinel monitoring them (quorum 1). Safe for use by one goroutine at a
// time; the servers themselves take any number of clients.
type Sentinel struct {
	g       *group
	master  *server // what the sentinel calls the master now
	replica *server
	sent    *server
}

// NewSentinel starts a Sentinel set for the test and stops it when the test
// ends; it fails the test when the set does not start.
func NewSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s, err := StartSentinel(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	s.g.cleanup(tb)
	return s
}

// StartSentinel starts a Sentinel set with its files in dir (a temporary
// folder of its own, removed by Close, when dir is ""), and returns once the
// replica is in sync and the sentinel knows both, so Failover can promote
// the replica at once. The caller must Close it.
func StartSentinel(ctx context.Context, dir string) (s *Sentinel, err error) {
	g, err := newGroup(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	// Without the delay, a replica (the old master too, after a failover)
	// syncs at once instead of the default 5 s later.
	dataArgs := []string{"--repl-diskless-sync-delay", "0"}
	master, err := startServer(ctx, g.dir, "master", false, func(port, _ int, dir, log string) (string, []string) {
		return "", append(baseArgs(port, dir, log), dataArgs...)
	})
	if err != nil {
		return nil, err
	}
	g.add(master)
	replica, err := startServer(ctx, g.dir, "replica", false, func(port, _ int, dir, log string) (string, []string) {
		args := append(baseArgs(port, dir, log), dataArgs...)
		return "", append(args, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	})
	if err != nil {
		return nil, err
	}
	g.add(replica)
	sent, err := startServer(ctx, g.dir, "sentinel", false, func(port, _ int, dir, log string) (string, []string) {
		// The sentinel rewrites its config file, so it needs one.
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\ndaemonize no\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %[4]s 2000\n"+
			"sentinel failover-timeout %[4]s 10000\n", port, dir, log, MasterName, master.port)
		return conf, []string{"--sentinel"}
	})
	if err != nil {
		return nil, err
	}
	g.add(sent)
	s = &Sentinel{g: g, master: master, replica: replica, sent: sent}
	if err := s.waitWhole(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the set in the form rediscache.Open takes:
// redis-sentinel://127.0.0.1:port?master_name=overblik.
func (s *Sentinel) URL() string {
	return "redis-sentinel://" + s.sent.addr + "?master_name=" + MasterName
}

// SentinelAddr is the sentinel's address, for go-redis's FailoverOptions.
func (s *Sentinel) SentinelAddr() string { return s.sent.addr }

// Master is the address of the current master.
func (s *Sentinel) Master() string { return s.master.addr }

// Replica is the address of the current replica.
func (s *Sentinel) Replica() string { return s.replica.addr }

// Close kills the servers.
func (s *Sentinel) Close() error { return s.g.close() }

// Failover asks the sentinel to fail over (SENTINEL FAILOVER) and returns the
// new master's address once the sentinel names it, it runs as master, the
// old master replicates from it, and the sentinel sees the old master as a
// healthy replica again, so Failover can be called once more at once.
// Clients that follow the sentinel (go-redis's FailoverClient) are told by
// the sentinel's +switch-master message, before Failover returns.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	sc := s.sent.client()
	defer sc.Close()
	err := poll(ctx, "SENTINEL FAILOVER", func(ctx context.Context) (bool, string, error) {
		err := sc.Do(ctx, "SENTINEL", "FAILOVER", MasterName).Err()
		if err == nil {
			return true, "", nil
		}
		// The sentinel refuses while it has not yet heard from the replica
		// recently enough, or a failover is still running: ask again.
		if msg := err.Error(); strings.Contains(msg, "NOGOODSLAVE") || strings.Contains(msg, "INPROG") {
			return false, msg, nil
		}
		return false, "", fmt.Errorf("redistest: SENTINEL FAILOVER: %w", err)
	})
	if err != nil {
		return "", err
	}
	old, next := s.master, s.replica
	err = poll(ctx, "the sentinel to name the new master", func(ctx context.Context) (bool, string, error) {
		addr, err := sc.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName).StringSlice()
		if err != nil || len(addr) != 2 {
			return false, fmt.Sprint(addr, err), nil
		}
		got := net.JoinHostPort(addr[0], addr[1])
		return got == next.addr, "sentinel names " + got, nil
	})
	if err != nil {
		return "", err
	}
	// The sentinel makes the old master a replica of the new one only some
	// seconds after the switch (it waits for newer configurations first);
	// until then it still takes writes from clients that have not switched.
	// Do it now, as the sentinel will.
	oc := old.client()
	defer oc.Close()
	if err := oc.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(next.port)).Err(); err != nil {
		return "", fmt.Errorf("redistest: make the old master a replica: %w", err)
	}
	s.master, s.replica = next, old
	if err := s.waitWhole(ctx); err != nil {
		return "", err
	}
	return s.master.addr, nil
}

// waitWhole waits until the master runs as master, the replica is in sync
// with it, and the sentinel names the master and knows the replica as a
// healthy one.
func (s *Sentinel) waitWhole(ctx context.Context) error {
	mc, rc, sc := s.master.client(), s.replica.client(), s.sent.client()
	defer mc.Close()
	defer rc.Close()
	defer sc.Close()
	return poll(ctx, "the Sentinel set to be whole", func(ctx context.Context) (bool, string, error) {
		m, err := info(ctx, mc, "replication")
		if err != nil || m["role"] != "master" {
			return false, fmt.Sprintf("master %s: role %q, %v", s.master.addr, m["role"], err), nil
		}
		r, err := info(ctx, rc, "replication")
		if err != nil || r["role"] != "slave" || r["master_port"] != strconv.Itoa(s.master.port) || r["master_link_status"] != "up" {
			return false, fmt.Sprintf("replica %s: role %q of port %q, link %q, %v", s.replica.addr, r["role"], r["master_port"], r["master_link_status"], err), nil
		}
		addr, err := sc.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName).StringSlice()
		if err != nil || len(addr) != 2 || net.JoinHostPort(addr[0], addr[1]) != s.master.addr {
			return false, fmt.Sprintf("sentinel names %v, %v", addr, err), nil
		}
		reps, err := sentinelReplicas(ctx, sc)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, r := range reps {
			if net.JoinHostPort(r["ip"], r["port"]) == s.replica.addr && r["flags"] == "slave" && r["master-link-status"] == "ok" &&
				r["master-port"] == strconv.Itoa(s.master.port) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("sentinel knows replicas %v", reps), nil
	})
}

// sentinelReplicas is SENTINEL REPLICAS as field maps.
func sentinelReplicas(ctx context.Context, sc *redis.Client) ([]map[string]string, error) {
	raw, err := sc.Do(ctx, "SENTINEL", "REPLICAS", MasterName).Slice()
	if err != nil {
		return nil, fmt.Errorf("SENTINEL REPLICAS: %w", err)
	}
	var out []map[string]string
	for _, r := range raw {
		m := make(map[string]string)
		switch v := r.(type) {
		case []any: // RESP2: a flat list of names and values
			for i := 0; i+1 < len(v); i += 2 {
				m[fmt.Sprint(v[i])] = fmt.Sprint(v[i+1])
			}
		case map[any]any: // RESP3
			for k, x := range v {
				m[fmt.Sprint(k)] = fmt.Sprint(x)
			}
		}
		out = append(out, m)
	}
	return out, nil
}
