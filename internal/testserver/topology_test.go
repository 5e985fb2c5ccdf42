package testserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSentinel(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := StartSentinel(t, SentinelOptions{Password: "pw", SentinelPassword: "spw"})
	t.Logf("sentinel deployment ready in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if s.MasterName != "mymaster" || len(s.Addrs) != 3 {
		t.Fatalf("MasterName=%q Addrs=%v", s.MasterName, s.Addrs)
	}
	addr, err := s.MasterAddr(ctx)
	if err != nil || addr != s.Master.Addr {
		t.Fatalf("MasterAddr = %q, %v; want %q", addr, err, s.Master.Addr)
	}
	if _, err := s.Master.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Master.Do(ctx, "WAIT", "1", "5000"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Replica.Do(ctx, "GET", "k"); err != nil || v != "v" {
		t.Fatalf("replica GET = %v, %v", v, err)
	}
	if _, err := doOnce(ctx, s.Addrs[0], nil, "", "SENTINEL", "MASTERS"); !isRedisError(err, "NOAUTH") {
		t.Fatalf("sentinel without password: err = %v, want NOAUTH", err)
	}

	// Crash the master: the sentinels promote the replica.
	start = time.Now()
	s.Master.Kill()
	newAddr, err := s.WaitForNewMaster(ctx, s.Master.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover after kill took %v", time.Since(start))
	if newAddr != s.Replica.Addr {
		t.Fatalf("new master %s, want the replica %s", newAddr, s.Replica.Addr)
	}
	if v, err := s.Replica.Do(ctx, "SET", "k2", "v2"); err != nil || v != "OK" {
		t.Fatalf("write to promoted replica = %v, %v", v, err)
	}
	// The old master restarts on its port (Sentinel later turns it into a
	// replica of the new master; that takes up to 10 s and is not waited
	// for here).
	s.Master.Start()
	if v, err := s.Master.Do(ctx, "PING"); err != nil || v != "PONG" {
		t.Fatalf("old master PING = %v, %v", v, err)
	}
	st := time.Now()
	s.Replica.Stop()
	if d := time.Since(st); d > 2*time.Second || s.Replica.Running() {
		t.Errorf("Stop took %v, running=%v", d, s.Replica.Running())
	}
}

func TestSentinelDefaults(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, SentinelOptions{MasterName: "other"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if addr, err := s.MasterAddr(ctx); err != nil || addr != s.Master.Addr {
		t.Fatalf("MasterAddr = %q, %v", addr, err)
	}
	// A manual failover without a crash.
	if err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	if addr, err := s.WaitForNewMaster(ctx, s.Master.Addr); err != nil || addr != s.Replica.Addr {
		t.Fatalf("WaitForNewMaster = %q, %v", addr, err)
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartCluster(t, 3)
	t.Logf("cluster ready in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(c.Addrs) != 3 || len(c.Nodes) != 3 {
		t.Fatalf("Addrs=%v", c.Addrs)
	}
	for i, r := range c.Nodes {
		v, err := r.Do(ctx, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		if got := infoField(v.(string), "cluster_state"); got != "ok" {
			t.Fatalf("node %d cluster_state:%s", i, got)
		}
		slots, err := r.Do(ctx, "CLUSTER", "SLOTS")
		if err != nil || len(slots.([]any)) != 3 {
			t.Fatalf("node %d CLUSTER SLOTS = %v, %v", i, slots, err)
		}
	}
	// Keys are routed: each node serves its own slots and redirects others.
	moved := 0
	for i := range 20 {
		key := fmt.Sprintf("key%d", i)
		owner := -1
		for j, r := range c.Nodes {
			_, err := r.Do(ctx, "SET", key, "v")
			switch {
			case err == nil:
				owner = j
			case isRedisError(err, "MOVED"):
				moved++
			default:
				t.Fatalf("SET %s on node %d: %v", key, j, err)
			}
		}
		if owner < 0 {
			t.Fatalf("no node accepted %s", key)
		}
	}
	if moved != 40 {
		t.Fatalf("%d MOVED replies, want 40", moved)
	}
	// A node restarts with its nodes.conf and the cluster heals.
	c.Nodes[1].Stop()
	c.Nodes[1].Start()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Nodes[1].URL(), "redis://127.0.0.1:") {
		t.Fatal(c.Nodes[1].URL())
	}
}

// TestClusterLegacyBus runs the pre-7.0 set-up (bus port = port+10000, no
// cluster-port, MEET without bus port), which newer servers accept too.
func TestClusterLegacyBus(t *testing.T) {
	t.Parallel()
	c := startCluster(t, ClusterOptions{Masters: 3}, true)
	for _, r := range c.Nodes {
		if r.busPort != r.port+10000 {
			t.Fatalf("bus port %d for port %d", r.busPort, r.port)
		}
	}
}

func TestClusterPassword(t *testing.T) {
	t.Parallel()
	c := StartClusterOptions(t, ClusterOptions{Masters: 2, Password: "pw",
		Users: []string{"app on >apppw ~app:* +@all"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(c.Nodes) != 2 || c.Nodes[0].Password != "pw" {
		t.Fatalf("nodes %d, password %q", len(c.Nodes), c.Nodes[0].Password)
	}
	if _, err := doOnce(ctx, c.Addrs[0], nil, "", "CLUSTER", "INFO"); !isRedisError(err, "NOAUTH") {
		t.Fatalf("CLUSTER INFO without password: %v", err)
	}
	if _, err := c.Nodes[0].DoAs(ctx, "app", "apppw", "CLUSTER", "INFO"); err != nil {
		t.Fatal(err)
	}
}
