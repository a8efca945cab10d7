package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/org/erlmcp-deploy/internal/loadgate"
)

// The load-gate section: the smoke action's load gate (internal/loadgate,
// run by test/bench/loadgen in a process of its own) against wrk, both
// loading test/erlmcpd's /health/live in a third process on loopback.
const (
	loadgateID = "loadgate" // the -cases id of the section
	lgConc     = 10
	lgDur      = 5 * time.Second
	lgWarmup   = time.Second
	lgPath     = "/health/live"
	// lgDefaultRounds is -loadgate-rounds' default.
	lgDefaultRounds = 5
	peerOurs        = "load gate"
	peerWrk         = "wrk"
)

// lgRun is one run of one peer.
type lgRun struct {
	peer  string
	round int
	// The tool's own figures.
	rps      float64
	p50, p99 time.Duration
	// served is the server's count of 200 answers to lgPath during the run
	// (erlmcp_requests_total, read before and after): the independent count.
	served int64
	err    error
}

// lgSection is what the section measured.
type lgSection struct {
	rounds int
	commit string
	date   time.Time
	wrk    string // wrk's version line, or why wrk did not run
	noWrk  bool
	runs   map[string][]lgRun // by peer, in round order
}

// lgOrder is the order of the peers in round r: ours first in even rounds,
// wrk first in odd ones (ours, wrk, wrk, ours, ours, wrk …), so neither
// always runs on a server just warmed by the other.
func lgOrder(r int, withWrk bool) []string {
	switch {
	case !withWrk:
		return []string{peerOurs}
	case r%2 == 0:
		return []string{peerOurs, peerWrk}
	default:
		return []string{peerWrk, peerOurs}
	}
}

// benchLoadGate builds test/erlmcpd and test/bench/loadgen, starts the
// server in a process of its own on 127.0.0.1 and runs the peers (each in a
// process of its own) in rounds interleaved rounds, after one uncounted
// warm-up run of each.
func benchLoadGate(ctx context.Context, root, commit string, rounds int) (*lgSection, error) {
	sec := &lgSection{rounds: rounds, commit: commit, date: time.Now().UTC(), runs: map[string][]lgRun{}}
	dir, err := os.MkdirTemp("", "erlmcp-bench-loadgate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bins := map[string]string{}
	for _, pkg := range []string{"./test/erlmcpd", "./test/bench/loadgen"} {
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", pkg, err, out)
		}
		bins[pkg] = bin
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		sec.noWrk, sec.wrk = true, "wrk not installed"
	} else {
		out, _ := exec.CommandContext(ctx, wrk, "-v").CombinedOutput() // prints its version, exits 1
		version, _, _ := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], " Copyright")
		sec.wrk = strings.TrimSpace(version)
	}

	base, stop, err := startServer(ctx, bins["./test/erlmcpd"])
	if err != nil {
		return nil, err
	}
	defer stop()
	url := base + lgPath
	run := func(peer string, d time.Duration) lgRun {
		if peer == peerWrk {
			return runPeer(ctx, base, peer, func() (lgRun, error) { return runWrk(ctx, wrk, url, lgConc, d) })
		}
		return runPeer(ctx, base, peer, func() (lgRun, error) { return runLoadgen(ctx, bins["./test/bench/loadgen"], url, lgConc, d) })
	}
	for _, peer := range lgOrder(0, !sec.noWrk) {
		if w := run(peer, lgWarmup); w.err != nil {
			return nil, fmt.Errorf("load gate section, warm-up of %s: %w", peer, w.err)
		}
	}
	for r := 0; r < rounds; r++ {
		for _, peer := range lgOrder(r, !sec.noWrk) {
			o := run(peer, lgDur)
			o.round = r
			sec.runs[peer] = append(sec.runs[peer], o)
			if o.err != nil {
				logf("load gate round %d %-9s BENCH ERROR: %v", r, peer, o.err)
				continue
			}
			logf("load gate round %d %-9s %6.0f req/s (server counted %6.0f/s), p50 %s, p99 %s", r, peer, o.rps,
				float64(o.served)/lgDur.Seconds(), fmtLat(o.p50), fmtLat(o.p99))
		}
	}
	return sec, nil
}

// startServer starts erlmcpd on a free loopback port and returns its base
// URL and a stop function (SIGTERM, then wait).
func startServer(ctx context.Context, bin string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		stop()
		return "", nil, fmt.Errorf("erlmcpd: no base URL on its first line (%q, %v)", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	base := strings.TrimSpace(line)
	// One request first: the server answers, and its counter has the series.
	resp, err := http.Get(base + lgPath)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("erlmcpd %s: %w", lgPath, err)
	}
	return base, stop, nil
}

// runPeer runs one peer between two reads of the server's request counter.
func runPeer(ctx context.Context, base, peer string, run func() (lgRun, error)) lgRun {
	before, err := servedCount(ctx, base)
	if err != nil {
		return lgRun{peer: peer, err: err}
	}
	o, err := run()
	o.peer, o.err = peer, err
	if err != nil {
		return o
	}
	after, err := servedCount(ctx, base)
	if err != nil {
		o.err = err
	}
	o.served = after - before
	return o
}

// runLoadgen runs the load gate in its own process and reads its JSON result.
func runLoadgen(ctx context.Context, bin, url string, conc int, dur time.Duration) (lgRun, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, "-url", url, "-c", strconv.Itoa(conc), "-d", dur.String())
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return lgRun{}, fmt.Errorf("loadgen: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res loadgate.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return lgRun{}, fmt.Errorf("loadgen output %q: %w", out, err)
	}
	if res.Errors > 0 {
		return lgRun{}, fmt.Errorf("loadgen: %d of %d requests failed: %v", res.Errors, res.Requests, res.ErrorKinds)
	}
	return lgRun{rps: res.RPS, p50: res.P50, p99: res.P99}, nil
}

// runWrk runs `wrk -t2 -c<conc> -d<dur> --latency url` and parses its report.
func runWrk(ctx context.Context, bin, url string, conc int, dur time.Duration) (lgRun, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t2", fmt.Sprintf("-c%d", conc), fmt.Sprintf("-d%ds", int(dur.Seconds())), "--latency", url).CombinedOutput()
	if err != nil {
		return lgRun{}, fmt.Errorf("wrk: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return parseWrk(string(out))
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct    = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSock   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's report (run with --latency): req/s, p50, p99;
// any non-2xx/3xx answer or socket error is an error, as a failed request
// is for the load gate.
func parseWrk(out string) (lgRun, error) {
	var r lgRun
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output: %q", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	units := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		d := time.Duration(v * float64(units[p[3]]))
		switch p[1] {
		case "50":
			r.p50 = d
		case "99":
			r.p99 = d
		}
	}
	if r.rps <= 0 || r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("incomplete wrk output (run with --latency): %q", out)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		return r, fmt.Errorf("wrk: %s answers were not 2xx or 3xx", m[1])
	}
	if m := wrkSock.FindStringSubmatch(out); m != nil {
		return r, fmt.Errorf("wrk: socket errors: connect %s, read %s, write %s, timeout %s", m[1], m[2], m[3], m[4])
	}
	return r, nil
}

// servedCount reads erlmcpd's count of 200 answers to lgPath from /metrics.
func servedCount(ctx context.Context, base string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("erlmcpd /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("erlmcpd /metrics: %w", err)
	}
	return parseServed(string(body), lgPath)
}

var requestsTotal = regexp.MustCompile(`(?m)^erlmcp_requests_total\{([^}]*)\}\s+(\S+)`)

// parseServed finds erlmcp_requests_total{code="200",path=<path>} in a
// Prometheus text exposition (startServer's first request made the series).
func parseServed(metrics, path string) (int64, error) {
	for _, m := range requestsTotal.FindAllStringSubmatch(metrics, -1) {
		labels := map[string]string{}
		for _, kv := range strings.Split(m[1], ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		if labels["path"] != path || labels["code"] != "200" {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return 0, fmt.Errorf("erlmcp_requests_total %q: %w", m[2], err)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("erlmcpd /metrics has no erlmcp_requests_total{code=\"200\",path=%q}", path)
}

// median of v (the mean of the middle two when len(v) is even); 0 for none.
func median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := append([]T(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measured collects f over the runs that were measured.
func measured[T any](runs []lgRun, f func(lgRun) T) []T {
	var v []T
	for _, o := range runs {
		if o.err == nil {
			v = append(v, f(o))
		}
	}
	return v
}

func (s *lgSection) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ours, theirs := s.runs[peerOurs], s.runs[peerWrk]
	flags := "-cases " + loadgateID
	if s.rounds != lgDefaultRounds {
		flags += fmt.Sprintf(" -loadgate-rounds %d", s.rounds)
	}
	w("\n## Load gate vs wrk\n\nCommit `%s`, %s, %s (this section alone: `go run ./test/bench %s`).\n\n",
		s.commit, s.date.Format("2006-01-02 15:04 MST"), s.roundWords(), flags)
	w("- **Server**: `test/erlmcpd` (built from this tree) in a process of its own on `127.0.0.1:<free port>`, the same process for all the runs; the load is `GET %s`.\n", lgPath)
	w("- **load gate**: `internal/loadgate.Run` (closed loop, %d connections, %s), in a process of its own: `test/bench/loadgen -c %d -d %s` prints its result as JSON.\n",
		lgConc, fmtSecs(lgDur), lgConc, lgDur)
	w("- **wrk** (%s): `wrk -t2 -c%d -d%ds --latency`, the same connections and duration; wrk prints no p95.\n", s.wrk, lgConc, int(lgDur.Seconds()))
	w("- **Latencies**: both tools time a request from just before its write to its parsed answer. The load gate's closed-loop percentiles are raw; " +
		"wrk's include its coordinated-omission correction (`stats_correct`: for each latency above twice a connection's mean interval it adds samples at that latency " +
		"less 1, 2, … intervals), which raises its p99 and mean, so the p99 row is not like for like. wrk takes a request's start when its event loop gets to the write, " +
		"so a connection's wait for its thread between an answer and the next request is outside wrk's latencies; the load gate's worker writes the next request at once.\n")
	w("- **Order**: one uncounted %s warm-up run of each, then %s, the order alternating (load gate, wrk; wrk, load gate; …), one process at a time. "+
		"req/s and percentiles are each tool's own figures; *served* is the server's own count of 200 answers (`erlmcp_requests_total`, read before and after each run) ÷ %s. "+
		"Cells: **median** (runs, in round order); the ratio column is the ratio of the medians, then the ratio per round.\n",
		fmtSecs(lgWarmup), s.roundWords(), fmtSecs(lgDur))
	w("- **Machine**: the bench machine (see Method below): server, peer and whatever else runs there share its CPUs.\n\n")
	w("| closed loop, %d connections, %s | target | load gate | wrk | load gate / wrk |\n| --- | --- | --- | --- | --- |\n", lgConc, fmtSecs(lgDur))
	rate := func(name, target string, f func(lgRun) float64) {
		w("| %s | %s | %s | %s | %s |\n", name, target, rateCell(ours, f), s.wrkCell(rateCell(theirs, f)), s.ratioCell(ours, theirs, f))
	}
	lat := func(name, target string, f func(lgRun) time.Duration) {
		ff := func(o lgRun) float64 { return float64(f(o)) }
		w("| %s | %s | %s | %s | %s |\n", name, target, latCell(ours, f), s.wrkCell(latCell(theirs, f)), s.ratioCell(ours, theirs, ff))
	}
	rate("req/s (the tool's own)", "≥ 1.0 × wrk", func(o lgRun) float64 { return o.rps })
	rate("served/s (the server's count ÷ "+fmtSecs(lgDur)+")", "—", func(o lgRun) float64 { return float64(o.served) / lgDur.Seconds() })
	lat("p50 latency", "≤ 1.0 × wrk", func(o lgRun) time.Duration { return o.p50 })
	lat("p99 latency", "—", func(o lgRun) time.Duration { return o.p99 })
	var bad []string
	for _, o := range append(append([]lgRun(nil), ours...), theirs...) {
		if o.err != nil {
			bad = append(bad, fmt.Sprintf("- round %d, %s: bench error: %v", o.round+1, o.peer, o.err))
		}
	}
	if len(bad) > 0 {
		w("\n%s\n", strings.Join(bad, "\n"))
	}
	return b.String()
}

func (s *lgSection) roundWords() string {
	if s.rounds == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d interleaved rounds", s.rounds)
}

func (s *lgSection) wrkCell(c string) string {
	if s.noWrk {
		return s.wrk
	}
	return c
}

// ratioCell is "**median ours / median wrk** (rounds: r1, r2, …)".
func (s *lgSection) ratioCell(ours, theirs []lgRun, f func(lgRun) float64) string {
	if s.noWrk {
		return "—"
	}
	mt := median(measured(theirs, f))
	if mt == 0 {
		return "—"
	}
	var each []string
	for i := range ours {
		if i < len(theirs) && ours[i].err == nil && theirs[i].err == nil && f(theirs[i]) > 0 {
			each = append(each, fmt.Sprintf("%.2f", f(ours[i])/f(theirs[i])))
		} else {
			each = append(each, "—")
		}
	}
	return fmt.Sprintf("**%.2f** (rounds: %s)", median(measured(ours, f))/mt, strings.Join(each, ", "))
}

func rateCell(runs []lgRun, f func(lgRun) float64) string {
	return cellOf(runs, func(o lgRun) string { return fmt.Sprintf("%.0f", f(o)) }, func() string { return fmt.Sprintf("%.0f", median(measured(runs, f))) })
}

func latCell(runs []lgRun, f func(lgRun) time.Duration) string {
	return cellOf(runs, func(o lgRun) string { return fmtLat(f(o)) }, func() string { return fmtLat(median(measured(runs, f))) })
}

// cellOf is "**median** (runs: a, b, …)", "bench error" for a run that failed.
func cellOf(runs []lgRun, each func(lgRun) string, med func() string) string {
	if len(runs) == 0 {
		return "—"
	}
	var parts []string
	ok := 0
	for _, o := range runs {
		if o.err != nil {
			parts = append(parts, "bench error")
			continue
		}
		ok++
		parts = append(parts, each(o))
	}
	if ok == 0 {
		return "bench error (runs: " + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("**%s** (runs: %s)", med(), strings.Join(parts, ", "))
}

func (s *lgSection) errors() []string {
	var errs []string
	for _, peer := range []string{peerOurs, peerWrk} {
		for _, o := range s.runs[peer] {
			if o.err != nil {
				errs = append(errs, fmt.Sprintf("load gate section, round %d, %s: %v", o.round+1, peer, o.err))
			}
		}
	}
	return errs
}

func fmtSecs(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }

func fmtLat(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
