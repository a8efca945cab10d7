package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// The canary section: `erlmcp-deploy deploy --strategy canary` aborting a
// doomed canary next to a 4-replica stable Deployment, and the peer that
// needs no controller either (kubectl set image / rollout status / undo).
const (
	canaryID        = "canary" // the -cases id of the whole section
	canaryReplicas  = 4        // stable's replicas
	canaryDeploy    = "erlmcp-canary"
	canaryTrack     = "erlmcp-deploy.io/track" // canary.TrackLabel
	canarySteps     = "25,50"
	canaryInterval  = "2s"
	canaryCount     = "3"
	canaryBadRate   = 0.30  // the fake canary service's error rate in the analysis case
	canaryGoodRate  = 0.001 // in the fail-fast cases (the analysis never runs there)
	canaryMaxErrors = 0.05
	// canaryAnalysis is the analysis file of every erlmcp-deploy run.
	canaryAnalysis = `metrics:
  - name: error-rate
    query: sum(rate(http_requests_total{track="{{track}}",code="500"}[5s])) / sum(rate(http_requests_total{track="{{track}}"}[5s]))
    max: 0.05
`
	canaryRatioQuery = `sum(rate(http_requests_total{track="canary",code="500"}[5s])) / sum(rate(http_requests_total{track="canary"}[5s]))`
)

// canCase is one doomed canary.
type canCase struct {
	id, title string
	image     string
	errRate   float64 // what the fake canary service reports during the run
	analysis  bool    // doomed by the analysis (the pods are fine), not by the fail-fast verdict
	peer      bool    // also run by the kubectl peer
}

var canCases = []canCase{
	{id: "imagepull", title: "`1.1.0-fault-imagepull`: image not found (fail-fast verdict)", image: repo + ":1.1.0-fault-imagepull", errRate: canaryGoodRate, peer: true},
	{id: "crashloop", title: "`1.1.0-fault-crashloop`: crash loop, exit 1 (fail-fast verdict)", image: repo + ":1.1.0-fault-crashloop", errRate: canaryGoodRate},
	{id: "errors", title: "`1.1.0` (pods Ready) answering 30 % of requests with 500 (analysis: error rate > 0.05)", image: repo + ":1.1.0", errRate: canaryBadRate, analysis: true},
}

// canOutcome is one run of a canCase by one tool.
type canOutcome struct {
	tool    string // "ours" or "kubectl"
	cc      canCase
	ns      string
	round   int
	verdict string // ours: its status output; kubectl: failed | failed, undone | succeeded
	reason  string // ours: failure-reason output
	share   string // ours: canary-share output

	// On the bench's clock. created/deleted: the watcher's ADDED and DELETED
	// events of erlmcp-canary; patched: stable's template first carries the
	// bad image (kubectl); back: after the patch, stable serving the previous
	// image again; firstBad/badGone: the first pod of the bad image seen, and
	// the last moment the count of such pods dropped to 0.
	created, deleted, patched, back, firstBad, badGone time.Time
	failLine, start, end                               time.Time

	// The watcher's pod counts: the most pods of the bad image existing at
	// once, stable's pods (previous image, not terminating) at that moment.
	maxBad, stableAtMax int
	stableTouched       bool // stable's template seen off the previous image
	stableDeleted       int  // stable pods (previous image) seen deleted or terminating during the run

	before, after stableSnap // stable before the run, and after it settled

	err error
	log string
}

func (o canOutcome) expected() string {
	if o.tool == "ours" {
		return "aborted"
	}
	return ""
}

// fakeMetrics stands for the canary's pods in Prometheus's eyes (the
// simulated pods serve nothing): /metrics with http_requests_total by code,
// growing at 100 requests a second, a settable share of them 500.
type fakeMetrics struct {
	addr       string
	srv        *http.Server
	mu         sync.Mutex
	rate       float64
	ok, failed float64
	carry      float64
	last       time.Time
}

func startFakeMetrics() (*fakeMetrics, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeMetrics{addr: ln.Addr().String(), last: time.Now(), rate: canaryGoodRate}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.metrics), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// advance counts the requests since the last call at the current error rate (f.mu held).
func (f *fakeMetrics) advance() {
	now := time.Now()
	n := now.Sub(f.last).Seconds()*100 + f.carry
	whole := math.Floor(n)
	f.carry, f.last = n-whole, now
	f.failed += whole * f.rate
	f.ok += whole * (1 - f.rate)
}

func (f *fakeMetrics) setErrorRate(r float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advance()
	f.rate = r
}

func (f *fakeMetrics) metrics(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	f.advance()
	ok, failed := f.ok, f.failed
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %g\nhttp_requests_total{code=\"500\"} %g\n", ok, failed)
}

func (f *fakeMetrics) stop() { _ = f.srv.Close() }

// promServer is a real Prometheus (testcluster.EnsurePrometheus's binary)
// scraping the fake service every second with the label track=canary.
type promServer struct {
	url string
	cmd *exec.Cmd
	dir string
}

func startPrometheus(ctx context.Context, target string) (*promServer, error) {
	bctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	bin, err := testcluster.EnsurePrometheus(bctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "erlmcp-bench-prometheus-")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: erlmcp\n    static_configs:\n"+
		"      - targets: [%q]\n        labels:\n          track: \"canary\"\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	p := &promServer{url: "http://" + addr, cmd: cmd, dir: dir}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("prometheus did not become ready at %s: %v\n%s", p.url, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *promServer) stop() {
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
	_ = os.RemoveAll(p.dir)
}

// ratio is the canary's error ratio as the analysis query computes it
// (ok false while Prometheus has no data for it).
func (p *promServer) ratio(ctx context.Context) (v float64, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?query="+url.QueryEscape(canaryRatioQuery), nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data.Result) != 1 || len(body.Data.Result[0].Value) != 2 {
		return 0, false
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsNaN(v)
}

// waitRatio waits until Prometheus computes the canary's error ratio within
// 0.02 of want: the analysis sees the case's rate from its first measurement.
func (p *promServer) waitRatio(ctx context.Context, want float64) (float64, error) {
	deadline := time.Now().Add(time.Minute)
	last, seen := 0.0, false
	for {
		if v, ok := p.ratio(ctx); ok {
			last, seen = v, true
			if math.Abs(v-want) <= 0.02 {
				return v, nil
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("prometheus: the canary's error ratio is %.3f (data: %v), not %.3f, after a minute", last, seen, want)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// canBench runs the section's canaries: per round each case once by
// erlmcp-deploy and the peer's case once by kubectl, one at a time, each in a
// namespace of its own.
type canBench struct {
	c            *testcluster.Cluster
	cli, kubectl string
	logs         string
	analysis     string // the analysis file
	svc          *fakeMetrics
	prom         *promServer
}

func newCanBench(ctx context.Context, c *testcluster.Cluster, cli, kubectl, logs, dir string) (*canBench, error) {
	b := &canBench{c: c, cli: cli, kubectl: kubectl, logs: logs, analysis: filepath.Join(dir, "canary-analysis.yaml")}
	if err := os.WriteFile(b.analysis, []byte(canaryAnalysis), 0o644); err != nil {
		return nil, err
	}
	var err error
	if b.svc, err = startFakeMetrics(); err != nil {
		return nil, err
	}
	if b.prom, err = startPrometheus(ctx, b.svc.addr); err != nil {
		b.svc.stop()
		return nil, err
	}
	return b, nil
}

func (b *canBench) stop() {
	b.prom.stop()
	b.svc.stop()
}

func (b *canBench) round(ctx context.Context, r, runs int, ours, theirs [][]canOutcome) {
	for _, jb := range roundOrder(len(canCases), func(i int) bool { return canCases[i].peer && b.kubectl != "" }, r, runs) {
		cc := canCases[jb.i]
		var o canOutcome
		if jb.tool == "ours" {
			o = b.runOurs(ctx, cc, fmt.Sprintf("can-r%d-%s", r, cc.id), r)
			ours[jb.i] = append(ours[jb.i], o)
		} else {
			o = b.runKubectl(ctx, cc, fmt.Sprintf("kcan-r%d-%s", r, cc.id), r)
			theirs[jb.i] = append(theirs[jb.i], o)
		}
		mark := "ok"
		switch {
		case o.err != nil:
			mark = "BENCH ERROR: " + o.err.Error()
		case o.tool == "ours" && o.verdict != o.expected():
			mark = "WRONG, expected " + o.expected()
		}
		logf("round %d canary %-9s %-7s %-14s share %d/%d %s (%s)", r, cc.id, jb.tool, o.verdict, o.maxBad, o.maxBad+o.stableAtMax, mark, saveCanLog(b.logs, o))
	}
}

// stableSnap is the stable Deployment as the bench reads it (admin).
type stableSnap struct {
	pods       []string // its pods: previous image, no track label, not terminating; sorted
	template   string   // spec.template as JSON
	revision   string   // the deployment.kubernetes.io/revision annotation
	generation int64
}

// prepare creates the stable Deployment (admin) and reads it once all of
// its replicas are available.
func (b *canBench) prepare(ctx context.Context, ns string) (stableSnap, error) {
	if err := b.c.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", prevImage, canaryReplicas)); err != nil {
		return stableSnap{}, err
	}
	return b.stableState(ctx, ns)
}

func (b *canBench) stableState(ctx context.Context, ns string) (stableSnap, error) {
	d, err := b.c.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	if err != nil {
		return stableSnap{}, err
	}
	list, err := b.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp,!" + canaryTrack})
	if err != nil {
		return stableSnap{}, err
	}
	tmpl, err := json.Marshal(d.Spec.Template)
	if err != nil {
		return stableSnap{}, err
	}
	s := stableSnap{template: string(tmpl), revision: d.Annotations["deployment.kubernetes.io/revision"], generation: d.Generation}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == prevImage {
			s.pods = append(s.pods, p.Name)
		}
	}
	sort.Strings(s.pods)
	return s, nil
}

func (b *canBench) runOurs(ctx context.Context, cc canCase, ns string, round int) (o canOutcome) {
	o = canOutcome{tool: "ours", cc: cc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	b.svc.setErrorRate(cc.errRate) // before the set-up: the 5 s rate window has turned over by the start
	var err error
	if o.before, err = b.prepare(ctx, ns); err != nil {
		o.err = err
		return o
	}
	id, err := b.c.Deployer(ctx, ns)
	if err != nil {
		o.err = err
		return o
	}
	kc, err := os.ReadFile(id.Kubeconfig)
	if err != nil {
		o.err = err
		return o
	}
	v, err := b.prom.waitRatio(ctx, cc.errRate)
	if err != nil {
		o.err = err
		return o
	}
	tr.note("prometheus: the canary's error ratio is %.3f before the start (the fake canary service reports %.3f)", v, cc.errRate)
	w, err := watchCanary(ctx, b.c.Client, ns, cc.image, tr.note)
	if err != nil {
		o.err = err
		return o
	}
	defer w.Stop()
	dir, err := os.MkdirTemp("", "erlmcp-bench-cli-")
	if err != nil {
		o.err = err
		return o
	}
	defer os.RemoveAll(dir)
	args := []string{"deploy", "--environment", "bench", "--namespace", ns, "--deployment", "erlmcp", "--image", cc.image,
		"--strategy", "canary", "--canary-steps", canarySteps, "--analysis", b.analysis, "--prometheus-url", b.prom.url,
		"--canary-interval", canaryInterval, "--canary-analysis-count", canaryCount,
		"--timeout", ourTimeout, "--kubeconfig", string(kc), "--crashloop-restarts", crashloopRestarts,
		"--image-pull-grace", imagePullGrace, "--unschedulable-grace", unschedulableGrace, "--change-cause", "bench canary " + cc.id}
	cmd := exec.CommandContext(ctx, b.cli, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv("RUNNER_TEMP=" + dir)
	tr.note("erlmcp-deploy deploy --namespace %s --image %s --strategy canary --canary-steps %s --analysis <file> --prometheus-url %s --canary-interval %s --canary-analysis-count %s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s",
		ns, cc.image, canarySteps, b.prom.url, canaryInterval, canaryCount, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	failMark := "canary of " + cc.image + " aborted:"
	var mu sync.Mutex
	o.start = time.Now()
	err = runLines(cmd, func(l line) {
		tr.add(l)
		mu.Lock()
		defer mu.Unlock()
		t := strings.TrimSpace(l.text)
		switch {
		case o.failLine.IsZero() && strings.Contains(t, failMark):
			o.failLine = l.at
		case strings.HasPrefix(t, "status="):
			o.verdict = strings.TrimPrefix(t, "status=")
		case strings.HasPrefix(t, "failure-reason="):
			o.reason = strings.TrimPrefix(t, "failure-reason=")
		case strings.HasPrefix(t, "canary-share="):
			o.share = strings.TrimPrefix(t, "canary-share=")
		}
	})
	o.end = time.Now()
	tr.note("exit: %v", err)
	if o.verdict == "" {
		o.verdict = "failed"
		o.reason = fmt.Sprintf("no status output (exit: %v)", err)
	}
	w.settle(false)
	b.finish(ctx, &o, w, tr)
	return o
}

// runKubectl is the peer without a controller: `kubectl set image` on the
// stable Deployment, `kubectl rollout status --timeout=60s`, and after its
// failure `kubectl rollout undo` + `kubectl rollout status`.
func (b *canBench) runKubectl(ctx context.Context, cc canCase, ns string, round int) (o canOutcome) {
	o = canOutcome{tool: "kubectl", cc: cc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	var err error
	if o.before, err = b.prepare(ctx, ns); err != nil {
		o.err = err
		return o
	}
	w, err := watchCanary(ctx, b.c.Client, ns, cc.image, tr.note)
	if err != nil {
		o.err = err
		return o
	}
	defer w.Stop()
	k := kubectlRunner(ctx, b.kubectl, b.c.Kubeconfig, tr, "-n", ns)
	o.start = time.Now()
	if err := k(nil, "set", "image", "deployment/erlmcp", "erlmcp="+cc.image); err != nil {
		o.err = err
		return o
	}
	var mu sync.Mutex
	err = k(func(l line) {
		mu.Lock()
		defer mu.Unlock()
		if o.failLine.IsZero() && strings.Contains(l.text, "error:") {
			o.failLine = l.at
		}
	}, "rollout", "status", "deployment/erlmcp", "--timeout="+kubectlStatusTimeout)
	if err == nil {
		o.verdict = "succeeded"
	} else {
		if o.failLine.IsZero() {
			o.failLine = time.Now()
		}
		o.verdict = "failed"
		if k(nil, "rollout", "undo", "deployment/erlmcp") == nil && k(nil, "rollout", "status", "deployment/erlmcp", "--timeout=2m") == nil {
			o.verdict = "failed, undone"
		}
	}
	o.end = time.Now()
	w.settle(true)
	b.finish(ctx, &o, w, tr)
	return o
}

// finish takes the watcher's numbers and stable's state after the run.
func (b *canBench) finish(ctx context.Context, o *canOutcome, w *canWatcher, tr *transcript) {
	w.mu.Lock()
	o.created, o.deleted, o.patched, o.back, o.firstBad, o.badGone = w.created, w.deleted, w.patched, w.back, w.firstBad, w.badGone
	o.maxBad, o.stableAtMax, o.stableTouched, o.stableDeleted = w.maxBad, w.stableAtMax, w.touched, len(w.stableGone)
	bad := w.bad
	w.mu.Unlock()
	var err error
	if o.after, err = b.stableState(ctx, o.ns); err != nil && o.err == nil {
		o.err = err
	}
	tr.note("watcher: canary created %s, deleted %s; stable patched %s, previous serving again %s; first bad pod %s, bad pods gone %s (%d left); at most %d bad-image pods next to %d stable pods; stable template touched %v, stable pods deleted %d",
		rel(tr.start, o.created), rel(tr.start, o.deleted), rel(tr.start, o.patched), rel(tr.start, o.back), rel(tr.start, o.firstBad), rel(tr.start, o.badGone),
		bad, o.maxBad, o.stableAtMax, o.stableTouched, o.stableDeleted)
	tr.note("stable before: pods %v, revision %s, generation %d; after: pods %v, revision %s, generation %d, template unchanged %v",
		o.before.pods, o.before.revision, o.before.generation, o.after.pods, o.after.revision, o.after.generation, o.before.template == o.after.template)
	if bad > 0 {
		o.badGone = time.Time{} // pods of the bad image still exist
	}
}

func saveCanLog(dir string, o canOutcome) string {
	return writeLog(dir, o.ns, fmt.Sprintf("%s canary %s (%s): verdict %s", o.tool, o.cc.id, o.cc.image, o.verdict), o.log, o.err)
}

// canWatcher is the independent observer of one canary run: its own watches
// of the namespace's Deployments and pods, timestamped on arrival. It
// shares no code with erlmcp-deploy.
type canWatcher struct {
	ns, badImage string

	mu                  sync.Mutex
	created, deleted    time.Time // erlmcp-canary's ADDED and DELETED events
	patched, back       time.Time // stable's template carries bad; then stable serves prevImage again
	firstBad, badGone   time.Time
	bad                 int // pods of the bad image now (terminating ones included)
	maxBad, stableAtMax int
	touched             bool
	stableGone          map[string]bool
	lastPod             map[string]string

	stop     chan struct{}
	stopOnce sync.Once
	changed  chan struct{}
	deploys  cache.Store
	pods     cache.Store
	logf     func(string, ...any)
}

func watchCanary(ctx context.Context, client kubernetes.Interface, ns, bad string, logf func(string, ...any)) (*canWatcher, error) {
	w := &canWatcher{ns: ns, badImage: bad, stableGone: map[string]bool{}, lastPod: map[string]string{},
		stop: make(chan struct{}), changed: make(chan struct{}, 1), logf: logf}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	di, pi := f.Apps().V1().Deployments().Informer(), f.Core().V1().Pods().Informer()
	w.deploys, w.pods = di.GetStore(), pi.GetStore()
	if _, err := di.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.deployEvent(time.Now(), o, false) },
		UpdateFunc: func(_, o any) { w.deployEvent(time.Now(), o, false) },
		DeleteFunc: func(o any) { w.deployEvent(time.Now(), o, true) },
	}); err != nil {
		return nil, err
	}
	if _, err := pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.podEvent(time.Now(), o, false) },
		UpdateFunc: func(_, o any) { w.podEvent(time.Now(), o, false) },
		DeleteFunc: func(o any) { w.podEvent(time.Now(), o, true) },
	}); err != nil {
		return nil, err
	}
	f.Start(w.stop)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for typ, ok := range f.WaitForCacheSync(sctx.Done()) {
		if !ok {
			w.Stop()
			return nil, fmt.Errorf("watch %s in %s: cache never synced", typ, ns)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok, _ := w.deploys.GetByKey(ns + "/erlmcp"); !ok {
		w.Stop()
		return nil, fmt.Errorf("watch %s: no Deployment erlmcp", ns)
	}
	if !w.created.IsZero() || w.bad > 0 {
		w.Stop()
		return nil, fmt.Errorf("watch %s: a canary or a pod of %s exists before the run", ns, bad)
	}
	return w, nil
}

func (w *canWatcher) Stop() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *canWatcher) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func tombstone(o any) any {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return o
}

func (w *canWatcher) deployEvent(now time.Time, o any, deleted bool) {
	d, ok := tombstone(o).(*appsv1.Deployment)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.notify()
	switch d.Name {
	case canaryDeploy:
		if w.created.IsZero() {
			w.created = now
			w.logf("watcher: deployment %s created (%s, %d replicas)", d.Name, image(d), ptr.Deref(d.Spec.Replicas, 1))
		}
		if deleted && w.deleted.IsZero() {
			w.deleted = now
			w.logf("watcher: deployment %s deleted", d.Name)
		}
	case "erlmcp":
		if image(d) != prevImage {
			w.touched = true
			if w.patched.IsZero() && image(d) == w.badImage {
				w.patched = now
				w.logf("watcher: stable's template carries %s", w.badImage)
			}
		}
		if !w.patched.IsZero() && w.back.IsZero() && w.serving(d) {
			w.back = now
			w.logf("watcher: stable serves %s again", prevImage)
		}
	}
}

// serving (w.mu held): d carries prevImage, observedGeneration current,
// updated == available == desired, and that many Ready stable pods of
// prevImage not being deleted.
func (w *canWatcher) serving(d *appsv1.Deployment) bool {
	desired := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	if image(d) != prevImage || st.ObservedGeneration < d.Generation || st.UpdatedReplicas != desired || st.AvailableReplicas != desired {
		return false
	}
	ready := int32(0)
	for _, o := range w.pods.List() {
		p := o.(*corev1.Pod)
		if !w.isStable(p) || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready >= desired
}

func (w *canWatcher) isStable(p *corev1.Pod) bool {
	_, tracked := p.Labels[canaryTrack]
	return !tracked && p.Labels["app"] == "erlmcp" && len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == prevImage
}

func (w *canWatcher) podEvent(now time.Time, o any, deleted bool) {
	p, ok := tombstone(o).(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.notify()
	if w.isStable(p) && (deleted || p.DeletionTimestamp != nil) {
		w.stableGone[p.Name] = true
	}
	if len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == w.badImage {
		w.notePod(p, deleted)
	}
	// The counts over the store (on a delete the pod is already out of it).
	bad, stable := 0, 0
	for _, o := range w.pods.List() {
		q := o.(*corev1.Pod)
		switch {
		case len(q.Spec.Containers) > 0 && q.Spec.Containers[0].Image == w.badImage:
			bad++
		case w.isStable(q) && q.DeletionTimestamp == nil:
			stable++
		}
	}
	if bad > 0 && w.firstBad.IsZero() {
		w.firstBad = now
	}
	if bad == 0 && w.bad > 0 {
		w.badGone = now
	}
	if bad > w.maxBad {
		w.maxBad, w.stableAtMax = bad, stable
	}
	w.bad = bad
}

// notePod writes what the simulated kubelet shows for a pod of the bad image (w.mu held).
func (w *canWatcher) notePod(p *corev1.Pod, deleted bool) {
	desc := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		desc += fmt.Sprintf(" ready=%v restarts=%d", cs.Ready, cs.RestartCount)
		if st := cs.State.Waiting; st != nil {
			desc += " waiting " + st.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		desc += " terminating"
	}
	if deleted {
		desc = "deleted"
	}
	if w.lastPod[p.Name] == desc {
		return
	}
	w.lastPod[p.Name] = desc
	w.logf("watcher: pod %s (track %q): %s", p.Name, p.Labels[canaryTrack], desc)
}

// settle waits up to a minute for the end state: no pod of the bad image,
// and the canary deleted (ours) or stable serving again (kubectl).
func (w *canWatcher) settle(peer bool) {
	deadline := time.After(time.Minute)
	for {
		w.mu.Lock()
		done := w.bad == 0 && ((!peer && (w.created.IsZero() || !w.deleted.IsZero())) || (peer && (w.patched.IsZero() || !w.back.IsZero())))
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-w.changed:
		case <-deadline:
			return
		}
	}
}

// canStat is "median (runs: …)" of to-from over runs, in round order.
func canStat(runs []canOutcome, from, to func(canOutcome) time.Time) string {
	return runStat(runs, func(o canOutcome) error { return o.err }, from, to, "start not seen")
}

// canShare is the watcher's share: median of maxBad/(maxBad+stableAtMax),
// with every run's pod counts.
func canShare(runs []canOutcome) string {
	var vs []float64
	var each []string
	for _, o := range runs {
		if o.err != nil {
			each = append(each, "bench error")
			continue
		}
		n := o.maxBad + o.stableAtMax
		if n == 0 {
			each = append(each, "no pods")
			continue
		}
		vs = append(vs, float64(o.maxBad)/float64(n))
		each = append(each, fmt.Sprintf("%d of %d", o.maxBad, n))
	}
	if len(vs) == 0 {
		return "— (runs: " + strings.Join(each, ", ") + ")"
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return fmt.Sprintf("**%.2f** (runs: %s)", med, strings.Join(each, ", "))
}

// canEach lists one string per run, "a ×3" when all are the same.
func canEach(runs []canOutcome, f func(canOutcome) string) string {
	var each []string
	for _, o := range runs {
		if o.err != nil {
			each = append(each, "bench error")
			continue
		}
		each = append(each, f(o))
	}
	if len(each) == 0 {
		return "—"
	}
	if len(each) > 1 && slices.Equal(each, slices.Repeat(each[:1], len(each))) {
		return fmt.Sprintf("%s ×%d", each[0], len(each))
	}
	return strings.Join(each, ", ")
}

func canVerdicts(runs []canOutcome, expected string) string {
	rs := make([]ran, len(runs))
	for i, o := range runs {
		rs[i] = ran{verdict: o.verdict, err: o.err, correct: o.verdict == expected}
	}
	return tally(rs, true, expected != "")
}

func stableUntouched(o canOutcome) string {
	same := slices.Equal(o.before.pods, o.after.pods) && len(o.before.pods) == canaryReplicas
	switch {
	case same && o.stableDeleted == 0:
		return "same 4 pods ✓"
	case same:
		return fmt.Sprintf("same 4 pods, but %d deleted on the way", o.stableDeleted)
	}
	kept := 0
	for _, n := range o.after.pods {
		if slices.Contains(o.before.pods, n) {
			kept++
		}
	}
	return fmt.Sprintf("**%d of %d replaced**", len(o.before.pods)-kept, len(o.before.pods))
}

func stableTemplate(o canOutcome) string {
	revs := fmt.Sprintf("revision %s → %s, generation %d → %d", o.before.revision, o.after.revision, o.before.generation, o.after.generation)
	same := o.before.template == o.after.template
	switch {
	case !o.stableTouched && same:
		return "never changed (" + revs + ")"
	case o.stableTouched && same:
		return "changed to the bad image and back (" + revs + ")"
	case o.stableTouched:
		return "changed to the bad image, **not restored** (" + revs + ")"
	}
	return "**changed** (" + revs + ")"
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

// canaryMarkdown renders the section.
func (r report) canaryMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rounds := r.roundCount()
	alone := " (only this section ran)"
	if len(r.cases) > 0 || r.releases {
		alone = "; each round of this section runs right after the same round of the sections above, in the same cluster"
	}
	w("\n## Canary aborts\n\n")
	w("`erlmcp-deploy deploy --strategy canary` on a doomed image. Each run gets a namespace of its own holding the stable Deployment "+
		"`erlmcp`: %d replicas of `%s` (`testcluster.Deployment`, rolling update maxSurge 1 / maxUnavailable 0), created with the admin "+
		"kubeconfig and all replicas available before the run. %s; per round each doomed canary once by erlmcp-deploy and the image-pull "+
		"case once by the kubectl peer, one run at a time, the order rotated each round%s.\n\n", canaryReplicas, prevImage, rounds, alone)
	w("- **erlmcp-deploy**: the CLI built from this tree, with the least-privilege deployer kubeconfig (`cluster.Deployer`), "+
		"`--strategy canary --canary-steps %s --analysis <file> --prometheus-url <local Prometheus> --canary-interval %s --canary-analysis-count %s "+
		"--timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s` — the same command in every row, only the image "+
		"differs. Step 1 is 25 %% of 4 = 1 canary pod (`erlmcp-canary`, stable's pod spec plus the label `%s: canary`) next to stable's 4; "+
		"a doomed canary never gets to step 2. The analysis file: `max: %.2f` on `%s` (`{{track}}` = canary), measured every %s, 3 "+
		"measurements a step.\n", canarySteps, canaryInterval, canaryCount, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace,
		canaryTrack, canaryMaxErrors, strings.ReplaceAll(canaryRatioQuery, `"canary"`, `"{{track}}"`), canaryInterval)
	w("- **Metrics**: a real Prometheus (%s, `testcluster.EnsurePrometheus`, scrape interval 1 s) scrapes one fake `/metrics` "+
		"server of the bench with the label `track=\"canary\"`: `http_requests_total{code=\"200\"|\"500\"}` growing at 100 requests/s with a "+
		"settable error share. The simulated pods serve nothing, so this server stands for the canary's pods: it reports whether or not "+
		"the canary's pods exist. Its error share is set for the row before the stable Deployment is created, and the bench waits until "+
		"Prometheus computes the canary's error ratio within 0.02 of it before the CLI starts: %.1f %% in the fail-fast rows (the analysis "+
		"never runs there: the verdict fails first), %.0f %% in the analysis row, so the analysis sees the breach at its first measurement. "+
		"The analysis row's times are therefore the mechanism's floor (canary Ready + one interval + one query), not a time to detect a "+
		"regression that builds up.\n", testcluster.PrometheusVersion, 100*canaryGoodRate, 100*canaryBadRate)
	w("- **kubectl** (the peer, what users do today without a controller; Azure/k8s-deploy's canary is not runnable here), admin "+
		"kubeconfig, image-pull row only: `kubectl set image deployment/erlmcp erlmcp=<bad image>` on the stable Deployment, "+
		"`kubectl rollout status deployment/erlmcp --timeout=%s`, then `kubectl rollout undo` and `kubectl rollout status --timeout=2m`. "+
		"With maxSurge 1 / maxUnavailable 0 the rollout creates one new pod, which never becomes Ready, and removes no old pod. "+
		"Its verdict: `failed, undone` when the undo's rollout status succeeded.\n", kubectlStatusTimeout)
	w("- **The watcher** (the bench's own informers on the namespace's Deployments and pods, events timestamped on arrival, no code "+
		"shared with erlmcp-deploy): *canary created* / *canary deleted* are the ADDED and DELETED events of the Deployment `%s` "+
		"(deleted with background propagation: its pods go after it); *stable patched* is stable's template first carrying the bad "+
		"image (kubectl); *stable serving again* as in the sections above; *bad-image pods* are pods whose container runs the row's "+
		"image, terminating ones included, from the first one seen to the moment none is left. **Share of pods on the bad image**: the "+
		"most bad-image pods that existed at once, divided by that plus stable's pods (previous image, not terminating) at that moment. "+
		"In the fail-fast rows none of those pods ever ran the bad image's process (`ErrImagePull`: never pulled; crash loop: started "+
		"and exited); the share counts pods, not requests. **CLI `canary-share`** is erlmcp-deploy's own output: the canary's planned "+
		"size over canary + stable at the largest step it reached, not an observation. **Stable's pods**: the names of stable's pods "+
		"(previous image, no track label, not terminating) listed before the run and after it settled, and whether the watcher saw any "+
		"of them deleted or terminating on the way. **Stable's pod template**: `spec.template` compared before and after, with the "+
		"`deployment.kubernetes.io/revision` annotation and `metadata.generation`; erlmcp-deploy writes its canary state annotation on the "+
		"stable Deployment and removes it on abort, and the API server bumps a Deployment's generation on annotation changes too, so the "+
		"generation moves in its runs while template and revision do not. Cells: **median** (every run, in round order).\n\n", canaryDeploy)

	peer := func(i int) []canOutcome {
		if !r.kubectl || i >= len(r.canTheirs) {
			return nil
		}
		return r.canTheirs[i]
	}
	created := func(o canOutcome) time.Time { return o.created }
	deleted := func(o canOutcome) time.Time { return o.deleted }
	patched := func(o canOutcome) time.Time { return o.patched }
	back := func(o canOutcome) time.Time { return o.back }
	firstBad := func(o canOutcome) time.Time { return o.firstBad }
	badGone := func(o canOutcome) time.Time { return o.badGone }
	fail := func(o canOutcome) time.Time { return o.failLine }
	start := func(o canOutcome) time.Time { return o.start }
	end := func(o canOutcome) time.Time { return o.end }
	for i, cc := range canCases {
		ours, theirs := r.canOurs[i], peer(i)
		hasPeer := cc.peer && r.kubectl
		if hasPeer {
			w("### %s\n\n| measured | erlmcp-deploy (canary) | kubectl set image + rollout status + undo |\n| --- | --- | --- |\n", cc.title)
		} else {
			w("### %s\n\n| measured | erlmcp-deploy (canary) |\n| --- | --- |\n", cc.title)
		}
		row := func(what, a, bcell string) {
			if hasPeer {
				w("| %s | %s | %s |\n", what, a, bcell)
			} else {
				w("| %s | %s |\n", what, a)
			}
		}
		row("verdict (a correct canary says `aborted`)", canVerdicts(ours, "aborted"), canVerdicts(theirs, ""))
		row("canary created → canary deleted (watcher: the abort done)", canStat(ours, created, deleted), "— (no canary)")
		row("canary created → failure line (erlmcp-deploy: `canary of <image> aborted: …`)", canStat(ours, created, fail), "—")
		row("stable patched → failure line (kubectl: `error: timed out waiting for the condition`)", "— (stable is not patched)", canStat(theirs, patched, fail))
		row("stable patched → stable serving the previous image again (watcher, after `rollout undo`)", "—", canStat(theirs, patched, back))
		row("first bad-image pod → no bad-image pod left (watcher)", canStat(ours, firstBad, badGone), canStat(theirs, firstBad, badGone))
		row("share of pods on the bad image (watcher: most at once / (that + stable's pods then))", canShare(ours), canShare(theirs))
		row("CLI output `canary-share`", canEach(ours, func(o canOutcome) string { return "`" + o.share + "`" }), "— (no such output)")
		row("stable's pods: same names before and after, none deleted on the way", canEach(ours, stableUntouched), canEach(theirs, stableUntouched))
		row("stable's pod template", canEach(ours, stableTemplate), canEach(theirs, stableTemplate))
		row("wall time of the tool (first process start → last exit)", canStat(ours, start, end), canStat(theirs, start, end))
		reason := "—"
		for _, o := range ours {
			if o.err == nil && o.reason != "" {
				reason = fmt.Sprintf("round %d: `%s`", o.round+1, cell(o.reason))
				break
			}
		}
		row("erlmcp-deploy's `failure-reason` (first run)", reason, "—")
		w("\n")
	}
	var wrong []string
	for i := range canCases {
		for _, o := range append(append([]canOutcome(nil), r.canOurs[i]...), peer(i)...) {
			switch {
			case o.err != nil:
				wrong = append(wrong, fmt.Sprintf("- %s, %s (`%s`): bench error: %v", toolName(o.tool), o.cc.id, o.ns, o.err))
			case o.tool == "ours" && o.verdict != o.expected():
				wrong = append(wrong, fmt.Sprintf("- erlmcp-deploy, %s (`%s`): %s, expected %s: %s", o.cc.id, o.ns, o.verdict, o.expected(), o.reason))
			}
		}
	}
	if len(wrong) > 0 {
		w("Runs with the wrong verdict or not measured:\n\n%s\n", strings.Join(wrong, "\n"))
	}
	return b.String()
}
