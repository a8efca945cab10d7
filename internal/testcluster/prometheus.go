package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// PrometheusVersion is the Prometheus server the analysis tests run, built
// from its Go module (github.com/prometheus/prometheus) into the cache.
const PrometheusVersion = "v0.316.0"

// EnsurePrometheus returns the path of the Prometheus binary, building it
// into <cache>/prometheus-<version> on first use (about 8 minutes on 2
// cores with an empty module cache); concurrent callers wait for one build.
func EnsurePrometheus(ctx context.Context, progress io.Writer) (string, error) {
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "prometheus-"+PrometheusVersion)
	bin := filepath.Join(dir, "prometheus")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by the caller we waited for
	}
	fmt.Fprintf(progress, "building prometheus %s into %s (once; about 8 minutes on 2 cores)\n", PrometheusVersion, dir)
	tmp, err := os.MkdirTemp(root, "prometheus-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", "github.com/prometheus/prometheus/cmd/prometheus@"+PrometheusVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	cmd.Dir = tmp // outside any module: go install pkg@version ignores ours
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build prometheus %s: %w", PrometheusVersion, err)
	}
	if err := os.Rename(filepath.Join(tmp, "prometheus"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// ScrapeTarget is an address Prometheus scrapes and the labels it adds.
type ScrapeTarget struct {
	Addr   string
	Labels map[string]string
}

// Prometheus is a real Prometheus server on a loopback port.
type Prometheus struct {
	URL string
	cmd *exec.Cmd
	log *os.File
}

// StartPrometheus starts Prometheus scraping targets every second; it stops
// with the test. Its log is printed when the test fails.
func StartPrometheus(tb testing.TB, targets ...ScrapeTarget) *Prometheus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := EnsurePrometheus(ctx, testWriter{tb})
	if err != nil {
		tb.Fatalf("prometheus: %v", err)
	}
	dir := tb.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: erlmcp\n    static_configs:\n")
	for _, t := range targets {
		fmt.Fprintf(&cfg, "      - targets: [%q]\n", t.Addr)
		if len(t.Labels) > 0 {
			cfg.WriteString("        labels:\n")
			keys := make([]string, 0, len(t.Labels))
			for k := range t.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&cfg, "          %s: %q\n", k, t.Labels[k])
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		tb.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr(false)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start prometheus: %v", err)
	}
	p := &Prometheus{URL: "http://" + addr, cmd: cmd, log: logf}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if tb.Failed() {
			tb.Logf("prometheus log:\n%s", tail(logf.Name(), 40))
		}
		logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			tb.Fatalf("prometheus did not become ready at %s: %v\n%s", p.URL, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FakeService stands for one track's pods in Prometheus's eyes: it serves
// /metrics with a request counter by status code (http_requests_total,
// growing at 100 requests a second with the error rate set) and a latency
// gauge (http_request_duration_seconds, ±5 % noise per scrape).
type FakeService struct {
	Addr string
	srv  *httptest.Server
	// errRate and latency are float64 bits.
	errRate, latency atomic.Uint64
	mu               sync.Mutex
	ok, failed       float64
	last             time.Time
	carry            float64
}

// NewFakeService starts a fake service; it stops with the test.
func NewFakeService(tb testing.TB, errorRate, latency float64) *FakeService {
	tb.Helper()
	f := &FakeService{last: time.Now()}
	f.SetErrorRate(errorRate)
	f.SetLatency(latency)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(f.metrics)}}
	f.srv.Start()
	f.Addr = ln.Addr().String()
	tb.Cleanup(f.srv.Close)
	return f
}

// SetErrorRate sets the share of requests answered 500 from now on.
func (f *FakeService) SetErrorRate(r float64) { f.errRate.Store(math.Float64bits(r)) }

// SetLatency sets the mean latency in seconds from now on.
func (f *FakeService) SetLatency(s float64) { f.latency.Store(math.Float64bits(s)) }

func (f *FakeService) metrics(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	now := time.Now()
	n := now.Sub(f.last).Seconds()*100 + f.carry
	whole := math.Floor(n)
	f.carry, f.last = n-whole, now
	rate := math.Float64frombits(f.errRate.Load())
	f.failed += whole * rate
	f.ok += whole * (1 - rate)
	ok, failed := f.ok, f.failed
	f.mu.Unlock()
	lat := math.Float64frombits(f.latency.Load()) * (1 + 0.05*(2*rand.Float64()-1))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %g\nhttp_requests_total{code=\"500\"} %g\n", ok, failed)
	fmt.Fprintf(w, "# TYPE http_request_duration_seconds gauge\nhttp_request_duration_seconds %g\n", lat)
}

// ErrPrometheusNotReady is returned by WaitScraped when targets never appear.
var ErrPrometheusNotReady = errors.New("prometheus has not scraped the targets")

// WaitScraped waits until Prometheus has scraped every target up at least twice (so rate() has data).
func (p *Prometheus) WaitScraped(ctx context.Context, targets int) error {
	for {
		resp, err := http.Get(p.URL + "/api/v1/query?query=" + "count(count_over_time(up%5B1m%5D)%20%3E%3D%202)")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), fmt.Sprintf(`"%d"]`, targets)) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrPrometheusNotReady, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
