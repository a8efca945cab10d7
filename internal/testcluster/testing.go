package testcluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// Start runs a cluster for one test (or benchmark) and stops it when the test
// ends, pass or fail. It fails the test loudly when the cluster cannot start:
// a missing control plane is never a skip.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: needs the local cluster (make test runs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := New(ctx, Options{Log: testWriter{tb}})
	if err != nil {
		tb.Fatalf("start local cluster: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("component logs:\n%s", c.Logs(15))
		}
		if err := c.Stop(); err != nil {
			tb.Errorf("stop local cluster: %v", err)
		}
	})
	return c
}

// Main is for TestMain: it starts one cluster shared by the package's tests
// (under -short none, and only the tests named TestPure... run),
// stores it in *shared, runs them, and stops the cluster even when a test
// panics (components also die with the test binary on Linux).
//
//	func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }
func Main(m *testing.M, shared **Cluster) {
	os.Exit(runMain(m, shared))
}

func runMain(m *testing.M, shared **Cluster) int {
	flag.Parse()
	if testing.Short() {
		// Only the package's pure tests (named TestPure...) need no cluster.
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			_ = flag.Set("test.run", "^TestPure")
		}
		fmt.Fprintln(os.Stderr, "-short: not starting the local cluster; only this package's TestPure* tests run (make test runs them all)")
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	c, err := New(ctx, Options{Log: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start local cluster: %v\n", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop local cluster: %v\n", err)
		}
	}()
	*shared = c
	defer removeCLI()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "component logs:\n%s", c.Logs(15))
	}
	return code
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}
