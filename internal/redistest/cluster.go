package redistest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Cluster is a Redis Cluster of three masters without replicas, the slots
// split as redis-cli --cluster create splits them.
type Cluster struct {
	g     *group
	nodes []*server
}

// NewCluster starts a Cluster for the test and stops it when the test ends;
// it fails the test when the Cluster does not start.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := StartCluster(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	c.g.cleanup(tb)
	return c
}

// slotRanges are the three masters' slots.
var slotRanges = [3][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}

// StartCluster starts a Cluster with its files in dir (a temporary folder of
// its own, removed by Close, when dir is "") and returns once every node
// says the cluster is ok and knows the others. The caller must Close it.
func StartCluster(ctx context.Context, dir string) (c *Cluster, err error) {
	g, err := newGroup(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = g.close()
		}
	}()
	// Started together: a node turns ok no sooner than 2 s after its start
	// (Redis's CLUSTER_WRITABLE_DELAY), so the wait is one node's, not three.
	c = &Cluster{g: g, nodes: make([]*server, len(slotRanges))}
	errs := make([]error, len(slotRanges))
	var wg sync.WaitGroup
	for i := range slotRanges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i], errs[i] = startServer(ctx, g.dir, "node"+strconv.Itoa(i+1), true, func(port, bus int, dir, log string) (string, []string) {
				// The bus port is chosen free too, not port+10000, which may be taken.
				return "", append(baseArgs(port, dir, log), "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
					"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
			})
		}()
	}
	wg.Wait()
	for _, n := range c.nodes {
		if n != nil {
			g.add(n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// As redis-cli --cluster create does: distinct config epochs, so no
	// collision has to be resolved, slots, then one node meets the others.
	for i, n := range c.nodes {
		cl := n.client()
		err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
		if err == nil {
			err = cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", slotRanges[i][0], slotRanges[i][1]).Err()
		}
		if err == nil && i > 0 {
			first := c.nodes[0].client()
			err = first.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", n.port, n.bus).Err()
			_ = first.Close()
		}
		_ = cl.Close()
		if err != nil {
			return nil, fmt.Errorf("redistest: set up cluster node %s: %w", n.addr, err)
		}
	}
	if err := c.waitOK(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// waitOK waits until every node reports the cluster ok, with every slot
// served and all three masters known.
func (c *Cluster) waitOK(ctx context.Context) error {
	for _, n := range c.nodes {
		cl := n.client()
		err := poll(ctx, "cluster node "+n.addr+" to see the cluster ok", func(ctx context.Context) (bool, string, error) {
			raw, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return false, err.Error(), nil
			}
			m := map[string]string{}
			for line := range strings.SplitSeq(raw, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
					m[k] = v
				}
			}
			ok := m["cluster_state"] == "ok" && m["cluster_slots_ok"] == "16384" && m["cluster_known_nodes"] == "3" && m["cluster_size"] == "3"
			return ok, strings.ReplaceAll(strings.TrimSpace(raw), "\r\n", " "), nil
		})
		_ = cl.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// URL is the Cluster in the form rediscache.Open takes:
// redis-cluster://127.0.0.1:port?addr=127.0.0.1:port2&addr=127.0.0.1:port3.
func (c *Cluster) URL() string {
	u := "redis-cluster://" + c.nodes[0].addr
	for i, n := range c.nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.addr
	}
	return u
}

// Addrs are the masters' addresses, for go-redis's ClusterOptions.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// Close kills the servers.
func (c *Cluster) Close() error { return c.g.close() }
