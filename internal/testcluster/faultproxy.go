package testcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy stands between clients and the API server and, when told,
// answers every request with an error status for a while — an API server
// shedding load (429) or failing (500, 503) — and cuts the open watches.
type FaultProxy struct {
	// URL is the proxy's address (HTTPS on loopback: clients send tokens only over TLS).
	URL string

	c       *Cluster
	srv     *httptest.Server
	faulted atomic.Int64
	mu      sync.Mutex
	fault   fault
	open    map[*http.Request]context.CancelFunc
}

type fault struct {
	status     int
	retryAfter string
	until      time.Time // zero: until Heal
}

// FaultProxy starts a proxy to c's API server, stopped when tb ends.
func (c *Cluster) FaultProxy(tb testing.TB) *FaultProxy {
	tb.Helper()
	target, err := url.Parse(c.Server)
	if err != nil {
		tb.Fatalf("fault proxy: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	p := &FaultProxy{c: c, open: map[*http.Request]context.CancelFunc{}}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		FlushInterval: -1, // watches stream
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := p.active(); ok {
			p.faulted.Add(1)
			p.refuse(w, f)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		r = r.WithContext(ctx)
		p.mu.Lock()
		p.open[r] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.open, r)
			p.mu.Unlock()
			cancel()
		}()
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	tb.Cleanup(p.srv.Close)
	return p
}

// Fail answers every request with status (and Retry-After when retryAfter
// is not empty) for d, or until Heal when d is 0, and cuts open requests.
func (p *FaultProxy) Fail(status int, retryAfter string, d time.Duration) {
	f := fault{status: status, retryAfter: retryAfter}
	if d > 0 {
		f.until = time.Now().Add(d)
	}
	p.mu.Lock()
	p.fault = f
	for _, cancel := range p.open {
		cancel()
	}
	p.mu.Unlock()
}

// Heal ends a fault.
func (p *FaultProxy) Heal() {
	p.mu.Lock()
	p.fault = fault{}
	p.mu.Unlock()
}

// Faulted is how many requests were refused so far.
func (p *FaultProxy) Faulted() int64 { return p.faulted.Load() }

// Kubeconfig writes a kubeconfig for id that reaches the API server through
// the proxy and returns its content.
func (p *FaultProxy) Kubeconfig(tb testing.TB, id *Identity) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "via-proxy.kubeconfig")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := WriteKubeconfig(path, p.URL, ca, "erlmcp-deployer", id.Token, id.Namespace); err != nil {
		tb.Fatalf("fault proxy: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("fault proxy: %v", err)
	}
	return string(b)
}

func (p *FaultProxy) active() (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f.status == 0 || (!f.until.IsZero() && time.Now().After(f.until)) {
		return fault{}, false
	}
	return f, true
}

// refuse answers like the API server does: a Status object.
func (p *FaultProxy) refuse(w http.ResponseWriter, f fault) {
	reason, msg := "InternalError", "injected fault: etcdserver: leader changed"
	switch f.status {
	case http.StatusTooManyRequests:
		reason, msg = "TooManyRequests", "injected fault: too many requests, please try again later"
	case http.StatusServiceUnavailable:
		reason, msg = "ServiceUnavailable", "injected fault: the server is currently unable to handle the request"
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": f.status})
}
