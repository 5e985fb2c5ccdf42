package testserver

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, all slots
// assigned. Everything is stopped by the test's cleanup.
type Cluster struct {
	// Addrs are the nodes' "127.0.0.1:port" addresses (Nodes[i].Addr).
	Addrs []string
	// Nodes are the cluster's servers; Nodes[i] serves the i-th equal
	// share of the 16384 slots.
	Nodes []*Redis
}

// StartCluster starts masters cluster-enabled redis-servers
// (cluster-node-timeout 2000), splits the 16384 slots evenly between them,
// joins them with CLUSTER MEET and waits until every node reports
// cluster_state:ok, all slots assigned and all nodes known. masters 0
// means 3; a negative count fails the test.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	return StartClusterOptions(tb, ClusterOptions{Masters: masters})
}

// ClusterOptions configures StartClusterOptions.
type ClusterOptions struct {
	// Masters is the number of master nodes. 0: 3. Negative: the test
	// fails.
	Masters int
	// Password is every node's requirepass (and masterauth). Default none.
	Password string
	// Users are ACL users on every node, as in RedisOptions.Users.
	Users []string
}

// StartClusterOptions is StartCluster with a password or ACL users.
func StartClusterOptions(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	return startCluster(tb, opts, redisVersion(RequireBinary(tb, "redis-server"))[0] < 7)
}

// startCluster starts the cluster; legacyBus puts each node's cluster bus
// on port+10000 (no cluster-port, needed before Redis 7.0).
func startCluster(tb testing.TB, opts ClusterOptions, legacyBus bool) *Cluster {
	tb.Helper()
	masters := opts.Masters
	if masters == 0 {
		masters = 3
	}
	if masters < 1 {
		tb.Fatalf("testserver: StartCluster with %d masters", masters)
	}
	ctx := context.Background()
	c := &Cluster{}
	for i := range masters {
		r := newRedis(tb, fmt.Sprintf("cluster node %d", i), RedisOptions{Password: opts.Password, Users: opts.Users})
		r.busPort = -1 // startNew picks a bus port too
		r.legacyBus = legacyBus
		r.extraConf = func(r *Redis) []string {
			lines := []string{
				"cluster-enabled yes",
				"cluster-config-file nodes.conf",
				"cluster-node-timeout 2000",
			}
			if opts.Password != "" {
				lines = append(lines, "masterauth "+confQuote(opts.Password))
			}
			if !r.legacyBus {
				lines = append(lines, "cluster-port "+strconv.Itoa(r.busPort))
			}
			return lines
		}
		if err := r.startNew(ctx); err != nil {
			tb.Fatal(err)
		}
		c.Nodes = append(c.Nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.create(wctx); err != nil {
		tb.Fatal(err)
	}
	if err := c.WaitReady(wctx); err != nil {
		tb.Fatalf("%v\nnode 0 log:\n%s", err, c.Nodes[0].p.logTail())
	}
	return c
}

// create assigns the slots and introduces the nodes to each other.
func (c *Cluster) create(ctx context.Context) error {
	n := len(c.Nodes)
	for i, r := range c.Nodes {
		// Distinct epochs up front avoid a collision-resolution round.
		if _, err := r.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("testserver: cluster node %d: SET-CONFIG-EPOCH: %w", i, err)
		}
		first, last := i*16384/n, (i+1)*16384/n-1
		if _, err := r.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			// Before Redis 7.0: list the slots.
			args := []string{"CLUSTER", "ADDSLOTS"}
			for s := first; s <= last; s++ {
				args = append(args, strconv.Itoa(s))
			}
			if _, err2 := r.Do(ctx, args...); err2 != nil {
				return fmt.Errorf("testserver: cluster node %d: ADDSLOTSRANGE: %w; ADDSLOTS: %w", i, err, err2)
			}
		}
	}
	for i, r := range c.Nodes[1:] {
		args := []string{"CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(r.port)}
		if !r.legacyBus {
			args = append(args, strconv.Itoa(r.busPort))
		}
		if _, err := c.Nodes[0].Do(ctx, args...); err != nil {
			return fmt.Errorf("testserver: CLUSTER MEET node %d: %w", i+1, err)
		}
	}
	return nil
}

// WaitReady polls until every running node reports cluster_state:ok, all
// 16384 slots assigned and every node known. Use it after restarting
// nodes.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var last error
	for {
		last = c.checkReady(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testserver: cluster not ready: %w", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) checkReady(ctx context.Context) error {
	for i, r := range c.Nodes {
		v, err := r.Do(ctx, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		info, _ := v.(string)
		state := infoField(info, "cluster_state")
		slots := infoField(info, "cluster_slots_assigned")
		known := infoField(info, "cluster_known_nodes")
		if state != "ok" || slots != "16384" || known != strconv.Itoa(len(c.Nodes)) {
			return fmt.Errorf("node %d: cluster_state:%s cluster_slots_assigned:%s cluster_known_nodes:%s", i, state, slots, known)
		}
	}
	return nil
}
