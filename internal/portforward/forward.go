package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/org/erlmcp-deploy/internal/ui"
)

// Protocols the API server may carry the forward's streams over.
const (
	ProtocolWebsocket = "websocket"
	ProtocolSPDY      = "SPDY"
)

// Forward is an open port-forward: every connection to Addr becomes a stream
// pair to the pod's port, through the API server and the pod's kubelet.
type Forward struct {
	// Addr is where it listens: 127.0.0.1:<free port>.
	Addr string
	// Protocol is how the API server carries the streams: ProtocolWebsocket
	// (Kubernetes ≥ 1.30, needs `get` and `create` on pods/portforward) or,
	// when the websocket upgrade was refused, ProtocolSPDY (`create` only).
	Protocol string
	// Fallback is why the websocket was not used (empty when it was).
	Fallback string

	pod       string
	port      int32
	conn      streamhttp.Connection
	ln        net.Listener
	log       ui.Logger
	requestID atomic.Int64
	handlers  sync.WaitGroup
	closing   atomic.Bool
	closeOnce sync.Once

	mu       sync.Mutex
	failures int
	first    error
	lost     error
}

// Options say where to forward to.
type Options struct {
	// Config is the API server's REST config (credentials).
	Config *rest.Config
	// REST is a core/v1 REST client on that config (builds the subresource URL).
	REST      rest.Interface
	Namespace string
	Pod       string
	Port      int32
	// Log receives the fallback to SPDY and the first error a connection meets.
	Log ui.Logger
	// DialTimeout bounds the upgrade of the connection to the API server (default 30s).
	DialTimeout time.Duration
}

// Open upgrades a connection to the API server's pods/portforward of the pod
// (websocket first, SPDY when refused, as kubectl does) and listens on
// 127.0.0.1:<free port>. Close it when done. A refusal is a *ForbiddenError.
func Open(ctx context.Context, o Options) (*Forward, error) {
	if o.Log == nil {
		o.Log = ui.Discard{}
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 30 * time.Second
	}
	step := fmt.Sprintf("port-forward to pod %s port %d in namespace %s", o.Pod, o.Port, o.Namespace)
	u := o.REST.Post().Namespace(o.Namespace).Resource("pods").Name(o.Pod).SubResource("portforward").URL()
	// The retry wrapper of internal/kube suits plain requests, not an upgrade:
	// a streaming connection is dialled once.
	cfg := rest.CopyConfig(o.Config)
	cfg.WrapTransport = nil
	tr, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	spdyStatus := &statusRecorder{next: tr}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: spdyStatus}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}

	f := &Forward{pod: o.Pod, port: o.Port, log: o.Log, Protocol: ProtocolWebsocket}
	conn, proto, err := dial(ctx, o.DialTimeout, wsDialer)
	if err != nil && (streamhttp.IsUpgradeFailure(err) || streamhttp.IsHTTPSProxyError(err)) {
		f.Protocol, f.Fallback = ProtocolSPDY, err.Error()
		o.Log.Debugf("%s: the websocket upgrade failed (%v); trying SPDY, as kubectl does", step, err)
		conn, proto, err = dial(ctx, o.DialTimeout, spdyDialer)
		if err != nil && spdyStatus.code() == http.StatusForbidden {
			return nil, &ForbiddenError{Step: step, Needs: "`create pods/portforward`", Err: err}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	if proto != portforward.PortForwardProtocolV1Name {
		conn.Close()
		return nil, fmt.Errorf("%s: the API server speaks %q, not %q", step, proto, portforward.PortForwardProtocolV1Name)
	}
	f.conn = conn
	if f.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: listen on 127.0.0.1: %w", step, err)
	}
	f.Addr = f.ln.Addr().String()
	go f.watchLost()
	go f.accept()
	return f, nil
}

type dialResult struct {
	conn  streamhttp.Connection
	proto string
	err   error
}

// dial upgrades with d within timeout; the dialers themselves take no context.
func dial(ctx context.Context, timeout time.Duration, d streamhttp.Dialer) (streamhttp.Connection, string, error) {
	ch := make(chan dialResult, 1)
	go func() {
		c, p, err := d.Dial(portforward.PortForwardProtocolV1Name)
		ch <- dialResult{c, p, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.conn, r.proto, r.err
	case <-ctx.Done():
		go closeLate(ch)
		return nil, "", ctx.Err()
	case <-t.C:
		go closeLate(ch)
		return nil, "", fmt.Errorf("the API server did not upgrade the connection within %s", timeout)
	}
}

// closeLate closes a connection upgraded after its caller gave up.
func closeLate(ch chan dialResult) {
	if r := <-ch; r.conn != nil {
		r.conn.Close()
	}
}

// statusRecorder remembers the status of the last response (the SPDY
// upgrader turns a refusal into a plain error).
type statusRecorder struct {
	next http.RoundTripper
	last atomic.Int32
}

func (s *statusRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if resp != nil {
		s.last.Store(int32(resp.StatusCode))
	}
	return resp, err
}

func (s *statusRecorder) code() int { return int(s.last.Load()) }

func (f *Forward) watchLost() {
	<-f.conn.CloseChan()
	if f.closing.Load() {
		return
	}
	f.mu.Lock()
	f.lost = fmt.Errorf("lost the connection to the API server's port-forward of pod %s", f.pod)
	f.mu.Unlock()
	f.log.Warnf("%v; new connections to %s are refused", f.lost, f.Addr)
	f.ln.Close()
}

func (f *Forward) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.handlers.Add(1)
		go func() {
			defer f.handlers.Done()
			f.handle(c)
		}()
	}
}

// handle carries one local connection over a new stream pair, as kubectl
// does: an error stream (the kubelet writes why it could not reach the pod's
// port) and a data stream.
func (f *Forward) handle(local net.Conn) {
	defer local.Close()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(int(f.port)))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(f.requestID.Add(1), 10))
	errStream, err := f.conn.CreateStream(h)
	if err != nil {
		f.failed(fmt.Errorf("open a stream to pod %s: %w", f.pod, err))
		return
	}
	errStream.Close() // nothing to send on it
	errc := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case len(msg) > 0:
			errc <- inPod(f.pod, f.port, string(msg))
		case err != nil && !f.closing.Load():
			errc <- fmt.Errorf("read the error stream of pod %s: %w", f.pod, err)
		default:
			errc <- nil
		}
	}()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := f.conn.CreateStream(h)
	if err != nil {
		f.failed(fmt.Errorf("open a stream to pod %s: %w", f.pod, err))
		f.conn.RemoveStreams(errStream)
		return
	}
	remoteDone, localFailed := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = io.Copy(local, data)
		close(remoteDone)
	}()
	go func() {
		defer data.Close() // no more data from us
		if _, err := io.Copy(data, local); err != nil && !errors.Is(err, net.ErrClosed) {
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	}
	// Reset before waiting for the error stream: unsent data would block it.
	_ = data.Reset()
	if err := <-errc; err != nil {
		f.failed(err)
	}
	f.conn.RemoveStreams(data, errStream)
}

// inPod words the kubelet's message about one connection.
func inPod(pod string, port int32, msg string) error {
	msg = strings.TrimSpace(msg)
	if strings.Contains(msg, "connection refused") {
		return fmt.Errorf("port %d of pod %s refused the connection (nothing listens there?); the kubelet said: %s", port, pod, msg)
	}
	return fmt.Errorf("the kubelet could not forward to port %d of pod %s: %s", port, pod, msg)
}

func (f *Forward) failed(err error) {
	f.mu.Lock()
	f.failures++
	first := f.failures == 1
	if first {
		f.first = err
	}
	f.mu.Unlock()
	if first {
		f.log.Warnf("port-forward: %v", err)
	} else {
		f.log.Debugf("port-forward: %v", err)
	}
}

// Err summarizes what went wrong since Open: connections the pod's side
// could not carry (the first one's reason) and a lost connection to the API
// server; nil when nothing did.
func (f *Forward) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	if f.failures == 1 {
		parts = append(parts, f.first.Error())
	} else if f.failures > 1 {
		parts = append(parts, fmt.Sprintf("%d connections failed, the first: %v", f.failures, f.first))
	}
	if f.lost != nil {
		parts = append(parts, f.lost.Error())
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// Close stops listening and closes the connection to the API server (every
// stream with it).
func (f *Forward) Close() error {
	f.closeOnce.Do(func() {
		f.closing.Store(true)
		f.ln.Close()
		f.conn.Close()
		done := make(chan struct{})
		go func() { f.handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return nil
}
