// Command erlmcpd serves the erlmcp-like test server of internal/erlmcpd:
//
//	erlmcpd -listen 127.0.0.1:0 -status healthy
//
// It prints its base URL (e.g. http://127.0.0.1:43125) on the first line of
// stdout and serves until it receives SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	status := flag.String("status", erlmcpd.Healthy, "health status: healthy, degraded or unhealthy")
	tools := flag.String("tools", strings.Join(erlmcpd.DefaultTools, ","), "comma-separated MCP tool names")
	latency := flag.Duration("latency", 0, "delay added to every answer")
	failFirst := flag.Int("fail-first", 0, "answer the first N /health requests with 503")
	flag.Parse()
	if err := run(*listen, *status, *tools, *latency, *failFirst); err != nil {
		fmt.Fprintln(os.Stderr, "erlmcpd:", err)
		os.Exit(1)
	}
}

func run(listen, status, tools string, latency time.Duration, failFirst int) error {
	switch status {
	case erlmcpd.Healthy, erlmcpd.Degraded, erlmcpd.Unhealthy:
	default:
		return fmt.Errorf("-status %q: want healthy, degraded or unhealthy", status)
	}
	names := []string{}
	for _, t := range strings.Split(tools, ",") {
		if t = strings.TrimSpace(t); t != "" {
			names = append(names, t)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           erlmcpd.New(erlmcpd.Options{Status: status, Tools: names, Latency: latency, FailFirst: failFirst}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Printf("http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
