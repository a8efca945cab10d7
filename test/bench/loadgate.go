package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/loadgate"
)

// benchLoadGate compares the smoke action's load gate with wrk on the same
// local endpoint (erlmcpd's /health/live on loopback): closed loop, 10
// connections, 5 s each. It returns table rows {measurement, target, ours, wrk};
// when wrk is not on PATH the wrk column says so.
func benchLoadGate(ctx context.Context) ([][]string, error) {
	const (
		conc = 10
		dur  = 5 * time.Second
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: erlmcpd.New(erlmcpd.Options{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/health/live"

	ours, err := loadgate.Run(ctx, loadgate.Options{URL: url, Duration: dur, Concurrency: conc})
	if err != nil {
		return nil, fmt.Errorf("load gate: %w", err)
	}
	if ours.Errors > 0 {
		return nil, fmt.Errorf("load gate: %d of %d requests failed", ours.Errors, ours.Requests)
	}

	w, werr := runWrk(ctx, url, conc, dur)
	label := fmt.Sprintf("(closed loop, %d connections, %s)", conc, dur)
	rows := [][]string{
		{"load gate req/s vs wrk " + label, "≥ 0.8 × wrk", "", ""},
		{"load gate p50 vs wrk " + label, "≤ 1.5 × wrk", fmtLat(ours.P50), ""},
		{"load gate p95 " + label, "—", fmtLat(ours.P95), ""},
		{"load gate p99 vs wrk " + label, "≤ 1.5 × wrk", fmtLat(ours.P99), ""},
	}
	rows[0][2] = fmt.Sprintf("%.0f", ours.RPS)
	switch {
	case errors.Is(werr, exec.ErrNotFound):
		for _, r := range rows {
			r[3] = "wrk not installed"
		}
	case werr != nil:
		for _, r := range rows {
			r[3] = "wrk failed: " + werr.Error()
		}
	default:
		rows[0][2] = fmt.Sprintf("%.0f (%.2f × wrk)", ours.RPS, ours.RPS/w.rps)
		rows[0][3] = fmt.Sprintf("%.0f", w.rps)
		rows[1][2] = fmt.Sprintf("%s (%.2f × wrk)", fmtLat(ours.P50), ratio(ours.P50, w.p50))
		rows[1][3] = fmtLat(w.p50)
		rows[2][3] = fmt.Sprintf("— (wrk reports p90 %s)", fmtLat(w.p90))
		rows[3][2] = fmt.Sprintf("%s (%.2f × wrk)", fmtLat(ours.P99), ratio(ours.P99, w.p99))
		rows[3][3] = fmtLat(w.p99)
	}
	return rows, nil
}

type wrkResult struct {
	rps           float64
	p50, p90, p99 time.Duration
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
)

// runWrk runs `wrk -t2 -c<conc> -d<dur> --latency url` and parses its report.
func runWrk(ctx context.Context, url string, conc int, dur time.Duration) (wrkResult, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return wrkResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t2", fmt.Sprintf("-c%d", conc), fmt.Sprintf("-d%ds", int(dur.Seconds())), "--latency", url).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output: %q", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[p[3]]
		d := time.Duration(v * float64(unit))
		switch p[1] {
		case "50":
			r.p50 = d
		case "90":
			r.p90 = d
		case "99":
			r.p99 = d
		}
	}
	if r.rps <= 0 || r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("incomplete wrk output (run with --latency): %q", out)
	}
	return r, nil
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fmtLat(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
