package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// The multi-cluster section: three control planes, one kubeconfig with a
// context per cluster, erlmcp (wavesReplicas replicas of prevImage) serving
// in a fresh namespace of each before every run.
const (
	wavesID       = "waves" // the -cases id of the section
	wavesReplicas = 2
	// wavesPoll is the observer's polling interval.
	wavesPoll = 100 * time.Millisecond
	// wavesFailing is the context that gets the quota failure.
	wavesFailing = "prod-us"
)

// waveContexts are the contexts of the merged kubeconfig: the first is the
// bench's own control plane, the others are started for the section.
var waveContexts = []string{"canary-eu", "prod-eu", "prod-us"}

// waveCase is one run of a round.
type waveCase struct {
	id, title string
}

var waveCases = []waveCase{
	{id: "wave", title: "one wave: `deploy --contexts \"canary-eu, prod-eu, prod-us\"`"},
	{id: "singles", title: "sum of singles: `deploy --context canary-eu`, then `prod-eu`, then `prod-us`"},
	{id: "fail", title: "failure: `deploy --contexts \"canary-eu\\nprod-eu, prod-us\" --rollback-scope wave`, ResourceQuota `pods: 2` in prod-us"},
}

const (
	waveWaveExpected = "succeeded everywhere"
	waveFailExpected = "canary-eu succeeded; prod-eu rolled-back (scope succeeded); prod-us rolled-back (exceeded quota)"
)

// waveCluster is one entry of the CLI's clusters output.
type waveCluster struct {
	Context          string `json:"context"`
	Wave             int    `json:"wave"`
	Namespace        string `json:"namespace"`
	Status           string `json:"status"`
	RolledBack       bool   `json:"rolled-back"`
	ScopeRollback    string `json:"scope-rollback"`
	FailureReason    string `json:"failure-reason"`
	Revision         string `json:"revision"`
	PreviousRevision string `json:"previous-revision"`
}

// waveOutcome is one run of a waveCase.
type waveOutcome struct {
	wc      waveCase
	ns      string
	round   int
	verdict string // one line: what the CLI said
	correct bool
	why     string // what is wrong with the verdict

	// On the bench's clock. start/end: the first CLI process started, the
	// last exited. reached: the observer saw the fleet at the case's goal
	// (every cluster serving the new image complete; for fail: settled).
	// failSeen: the observer first saw the failure in a cluster.
	start, end, reached, failSeen time.Time
	err                           error
	log                           string
}

// waveVerdict checks a wave run's outputs: the run and every context succeeded.
func waveVerdict(status string, cl []waveCluster) (verdict string, ok bool) {
	got := map[string]waveCluster{}
	for _, c := range cl {
		got[c.Context] = c
	}
	var parts []string
	ok = status == "succeeded"
	for _, n := range waveContexts {
		c, found := got[n]
		if !found {
			parts = append(parts, n+" missing")
			ok = false
			continue
		}
		if c.Status != "succeeded" {
			ok = false
		}
		parts = append(parts, n+" "+c.Status)
	}
	if ok {
		return waveWaveExpected, true
	}
	return fmt.Sprintf("status %q: %s", status, strings.Join(parts, "; ")), false
}

// failVerdict checks the failure run's clusters output: canary-eu (wave 1)
// succeeded and was left alone, prod-eu rolled back by the scope, prod-us
// failed on the quota and rolled back by its own deploy.
func failVerdict(cl []waveCluster) (verdict string, ok bool) {
	got := map[string]waveCluster{}
	for _, c := range cl {
		got[c.Context] = c
	}
	var parts []string
	ok = true
	for _, n := range waveContexts {
		c, found := got[n]
		if !found {
			parts = append(parts, n+" missing")
			ok = false
			continue
		}
		p := n + " " + c.Status
		switch n {
		case "canary-eu":
			ok = ok && c.Wave == 1 && c.Status == "succeeded" && c.ScopeRollback == "" && !c.RolledBack
		case "prod-eu":
			ok = ok && c.Wave == 2 && c.Status == "rolled-back" && c.ScopeRollback == "succeeded"
		case wavesFailing:
			ok = ok && c.Wave == 2 && c.Status == "rolled-back" && c.RolledBack && c.ScopeRollback == "" &&
				strings.Contains(c.FailureReason, "exceeded quota")
		}
		if c.ScopeRollback != "" {
			p += " (scope " + c.ScopeRollback + ")"
		}
		if c.FailureReason != "" {
			if strings.Contains(c.FailureReason, "exceeded quota") {
				p += " (exceeded quota)"
			} else {
				p += " (" + c.FailureReason + ")"
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; "), ok
}

// waveBench runs the section: the bench's own control plane as canary-eu
// and two more started for the section.
type waveBench struct {
	clusters  map[string]*testcluster.Cluster // by context
	started   []*testcluster.Cluster
	cli, logs string
	stopOnce  sync.Once
}

func newWaveBench(ctx context.Context, c *testcluster.Cluster, cli, logs string) (*waveBench, error) {
	b := &waveBench{clusters: map[string]*testcluster.Cluster{waveContexts[0]: c}, cli: cli, logs: logs}
	began := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	for _, n := range waveContexts[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := testcluster.New(ctx, testcluster.Options{Log: io.Discard})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Sprintf("start %s: %v", n, err))
				return
			}
			b.clusters[n] = cl
			b.started = append(b.started, cl)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		b.stop()
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	logf("waves section: control planes %s started in %s (%s is the bench's own)", strings.Join(waveContexts[1:], ", "),
		time.Since(began).Round(100*time.Millisecond), waveContexts[0])
	return b, nil
}

// stop stops the control planes the section started (once).
func (b *waveBench) stop() {
	b.stopOnce.Do(func() {
		for _, cl := range b.started {
			if err := cl.Stop(); err != nil {
				logf("waves section: stop a control plane: %v", err)
			}
		}
	})
}

func (b *waveBench) round(ctx context.Context, r, runs int, out [][]waveOutcome) {
	for _, jb := range roundOrder(len(waveCases), func(int) bool { return false }, r, runs) {
		wc := waveCases[jb.i]
		o := b.run(ctx, wc, fmt.Sprintf("wv-r%d-%s", r, wc.id), r)
		out[jb.i] = append(out[jb.i], o)
		mark := "ok"
		switch {
		case o.err != nil:
			mark = "BENCH ERROR: " + o.err.Error()
		case !o.correct:
			mark = "WRONG: " + o.why
		}
		logf("round %d waves %-8s %s %s (%s)", r, wc.id, o.verdict, mark, saveWaveLog(b.logs, o))
	}
}

// fleet prepares ns in every cluster: the deployer identity, erlmcp serving
// prevImage complete, and (quota) a ResourceQuota of wavesReplicas pods in
// the failing context, counted by its controller; it returns one kubeconfig
// with a context per cluster, each naming ns.
func (b *waveBench) fleet(ctx context.Context, ns string, quota bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	merged := clientcmdapi.NewConfig()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []string
	for _, n := range waveContexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				c := b.clusters[n]
				id, err := c.Deployer(ctx, ns)
				if err != nil {
					return err
				}
				d := testcluster.Deployment("erlmcp", prevImage, wavesReplicas)
				d.Annotations = map[string]string{"kubernetes.io/change-cause": "initial"}
				if err := c.CreateAvailable(ctx, ns, d); err != nil {
					return err
				}
				if quota && n == wavesFailing {
					if err := fillQuota(ctx, c, ns); err != nil {
						return err
					}
				}
				kc, err := clientcmd.LoadFromFile(id.Kubeconfig)
				if err != nil {
					return err
				}
				cur := kc.Contexts[kc.CurrentContext]
				if cur == nil {
					return fmt.Errorf("deployer kubeconfig of %s has no current context", n)
				}
				mu.Lock()
				defer mu.Unlock()
				merged.Clusters[n] = kc.Clusters[cur.Cluster]
				merged.AuthInfos[n] = kc.AuthInfos[cur.AuthInfo]
				merged.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n, Namespace: ns}
				return nil
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s: %v", n, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return "", fmt.Errorf("set-up of %s: %s", ns, strings.Join(errs, "; "))
	}
	merged.CurrentContext = waveContexts[0]
	kc, err := clientcmd.Write(*merged)
	return string(kc), err
}

// fillQuota leaves no room for one more pod in ns: a ResourceQuota of
// wavesReplicas pods, waited on until the resourcequota controller has
// counted the serving pods (before that, admission enforces nothing).
func fillQuota(ctx context.Context, c *testcluster.Cluster, ns string) error {
	if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(wavesReplicas, resource.DecimalSI)}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create quota in %s: %w", ns, err)
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		q, err := c.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		used := q.Status.Used[corev1.ResourcePods]
		return used.Value() == wavesReplicas, nil
	})
}

// cliRun is one erlmcp-deploy process of a run.
type cliRun struct {
	status   string
	clusters []waveCluster
	exit     error
}

// deploy runs `erlmcp-deploy deploy` with kc and extra flags, the lines
// timestamped into tr; start and end are when the process started and exited.
func (b *waveBench) deploy(ctx context.Context, tr *transcript, kc, shown string, extra ...string) (res cliRun, start, end time.Time, err error) {
	dir, err := os.MkdirTemp("", "erlmcp-bench-cli-")
	if err != nil {
		return res, start, end, err
	}
	defer os.RemoveAll(dir)
	args := append([]string{"deploy", "--environment", "bench", "--image", nextImage, "--timeout", ourTimeout, "--kubeconfig", kc,
		"--crashloop-restarts", crashloopRestarts, "--image-pull-grace", imagePullGrace, "--unschedulable-grace", unschedulableGrace}, extra...)
	cmd := exec.CommandContext(ctx, b.cli, args...)
	cmd.Dir = dir // no .github/erlmcp-deploy.yml here
	cmd.Env = cleanEnv("RUNNER_TEMP=" + dir)
	tr.note("erlmcp-deploy deploy --image %s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s %s",
		nextImage, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace, shown)
	var mu sync.Mutex
	var jsonErr error
	start = time.Now()
	res.exit = runLines(cmd, func(l line) {
		tr.add(l)
		mu.Lock()
		defer mu.Unlock()
		t := strings.TrimSpace(l.text)
		switch {
		case strings.HasPrefix(t, "status="):
			res.status = strings.TrimPrefix(t, "status=")
		case strings.HasPrefix(t, "clusters="):
			jsonErr = json.Unmarshal([]byte(strings.TrimPrefix(t, "clusters=")), &res.clusters)
		}
	})
	end = time.Now()
	tr.note("exit: %v", res.exit)
	if jsonErr != nil {
		tr.note("clusters output is not JSON: %v", jsonErr)
	}
	return res, start, end, nil
}

func (b *waveBench) run(ctx context.Context, wc waveCase, ns string, round int) (o waveOutcome) {
	o = waveOutcome{wc: wc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	kc, err := b.fleet(ctx, ns, wc.id == "fail")
	if err != nil {
		o.err = err
		return o
	}
	tr.note("set-up: %s serve %s (%d replicas) in namespace %s; quota in %s: %v", strings.Join(waveContexts, ", "), prevImage,
		wavesReplicas, ns, wavesFailing, wc.id == "fail")
	want := map[string]string{}
	for _, n := range waveContexts {
		want[n] = nextImage
	}
	if wc.id == "fail" {
		want["prod-eu"], want[wavesFailing] = prevImage, prevImage
	}
	obs := observeFleet(ctx, b.clusters, ns, nextImage, want, wc.id == "fail", tr.note)
	defer obs.stop()

	switch wc.id {
	case "wave":
		res, start, end, err := b.deploy(ctx, tr, kc, `--contexts "canary-eu, prod-eu, prod-us" --kubeconfig <3 contexts>`,
			"--contexts", strings.Join(waveContexts, ", "), "--change-cause", "bench waves wave")
		if err != nil {
			o.err = err
			return o
		}
		o.start, o.end = start, end
		o.verdict, o.correct = waveVerdict(res.status, res.clusters)
		if !o.correct {
			o.why = "expected " + waveWaveExpected
		}
	case "singles":
		var parts []string
		o.correct = true
		for _, n := range waveContexts {
			res, start, end, err := b.deploy(ctx, tr, kc, fmt.Sprintf("--context %s --namespace %s --kubeconfig <3 contexts>", n, ns),
				"--context", n, "--namespace", ns, "--change-cause", "bench waves single "+n)
			if err != nil {
				o.err = err
				return o
			}
			if o.start.IsZero() {
				o.start = start
			}
			o.end = end
			parts = append(parts, n+" "+res.status)
			o.correct = o.correct && res.status == "succeeded"
		}
		o.verdict = waveWaveExpected
		if !o.correct {
			o.verdict = strings.Join(parts, "; ")
			o.why = "expected " + waveWaveExpected
		}
	case "fail":
		res, start, end, err := b.deploy(ctx, tr, kc, `--contexts "canary-eu\nprod-eu, prod-us" --rollback-scope wave --kubeconfig <3 contexts>`,
			"--contexts", "canary-eu\nprod-eu, prod-us", "--rollback-scope", "wave", "--change-cause", "bench waves fail")
		if err != nil {
			o.err = err
			return o
		}
		o.start, o.end = start, end
		o.verdict, o.correct = failVerdict(res.clusters)
		if res.status == "succeeded" {
			o.correct = false
		}
		if !o.correct {
			o.verdict = fmt.Sprintf("status %q: %s", res.status, o.verdict)
			o.why = "expected " + waveFailExpected
		}
	}
	obs.wait(time.Minute) // the observer may see the end state after the CLI exits
	o.reached, o.failSeen = obs.times()
	tr.note("observer: failure visible %s, goal reached %s (from the first CLI start: %s)", rel(tr.start, o.failSeen), rel(tr.start, o.reached),
		relTo(o.start, o.reached))
	return o
}

func relTo(start, t time.Time) string {
	if start.IsZero() || t.IsZero() {
		return "never"
	}
	return fmtDur(t.Sub(start))
}

func saveWaveLog(dir string, o waveOutcome) string {
	return writeLog(dir, o.ns, fmt.Sprintf("waves %s (%s): %s (correct: %v)", o.wc.id, o.wc.title, o.verdict, o.correct), o.log, o.err)
}

// clusterSnap is one poll of one cluster's erlmcp Deployment and pods.
type clusterSnap struct {
	image                                 string // the pod template's first container
	generation, observed                  int64
	desired, replicas, updated, available int32
	nextPods                              int  // pods of the new image, terminating ones included
	sawNext                               bool // some poll saw the template carry the new image (sticky)
}

// serves: the template carries img, the controller has seen the current
// generation, and replicas == updated == available == desired (no pod of
// another template left).
func (s clusterSnap) serves(img string) bool {
	return s.image == img && s.observed >= s.generation &&
		s.replicas == s.desired && s.updated == s.desired && s.available == s.desired
}

// fleetServes reports whether every context of want serves its image
// complete; a context wanted on another image than next must have been seen
// on next (the run changed it and it came back) and hold no pod of next.
func fleetServes(snaps map[string]clusterSnap, want map[string]string, next string) bool {
	for n, img := range want {
		s, ok := snaps[n]
		if !ok || !s.serves(img) {
			return false
		}
		if img != next && (!s.sawNext || s.nextPods > 0) {
			return false
		}
	}
	return true
}

// fleetObserver polls every cluster's Deployment and pods (and, for the
// failure case, prod-us's ReplicaSets and events) with the admin client, every
// wavesPoll, timestamping each poll when its answers arrived. It shares no
// code with erlmcp-deploy.
type fleetObserver struct {
	ns, next string
	want     map[string]string
	logf     func(string, ...any)

	mu        sync.Mutex
	snaps     map[string]clusterSnap
	noted     map[string]string
	failSeen  time.Time
	reached   time.Time
	changed   chan struct{}
	cancel    context.CancelFunc
	done      sync.WaitGroup
	needsFail bool
}

func observeFleet(ctx context.Context, clusters map[string]*testcluster.Cluster, ns, next string, want map[string]string, failure bool,
	logf func(string, ...any)) *fleetObserver {
	ctx, cancel := context.WithCancel(ctx)
	o := &fleetObserver{ns: ns, next: next, want: want, logf: logf, snaps: map[string]clusterSnap{}, noted: map[string]string{},
		changed: make(chan struct{}, 1), cancel: cancel, needsFail: failure}
	for n, c := range clusters {
		o.done.Add(1)
		go func() {
			defer o.done.Done()
			t := time.NewTicker(wavesPoll)
			defer t.Stop()
			for {
				o.poll(ctx, n, c, failure && n == wavesFailing)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return o
}

func (o *fleetObserver) stop() {
	o.cancel()
	o.done.Wait()
}

func (o *fleetObserver) poll(ctx context.Context, name string, c *testcluster.Cluster, failure bool) {
	d, err := c.Client.AppsV1().Deployments(o.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	if err != nil {
		return
	}
	pods, err := c.Client.CoreV1().Pods(o.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp"})
	if err != nil {
		return
	}
	fail := ""
	if failure {
		fail = o.failure(ctx, c)
	}
	now := time.Now()
	s := clusterSnap{image: image(d), generation: d.Generation, observed: d.Status.ObservedGeneration,
		desired: ptr.Deref(d.Spec.Replicas, 1), replicas: d.Status.Replicas, updated: d.Status.UpdatedReplicas, available: d.Status.AvailableReplicas}
	for _, p := range pods.Items {
		if len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == o.next {
			s.nextPods++
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	s.sawNext = o.snaps[name].sawNext || s.image == o.next
	o.snaps[name] = s
	if desc := fmt.Sprintf("%s gen %d/%d replicas %d/%d updated %d available %d, %d pods of the new image", s.image, s.observed, s.generation,
		s.replicas, s.desired, s.updated, s.available, s.nextPods); o.noted[name] != desc {
		o.noted[name] = desc
		o.logf("observer: %s: %s", name, desc)
	}
	if fail != "" && o.failSeen.IsZero() {
		o.failSeen = now
		o.logf("observer: failure visible in %s: %s", name, fail)
	}
	if o.reached.IsZero() && (!o.needsFail || !o.failSeen.IsZero()) && fleetServes(o.snaps, o.want, o.next) {
		o.reached = now
		o.logf("observer: every cluster at its goal")
	}
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// failure is the first sign, in c, that the new ReplicaSet cannot create
// its pods: its ReplicaFailure condition, or a FailedCreate event on it.
func (o *fleetObserver) failure(ctx context.Context, c *testcluster.Cluster) string {
	rss, err := c.Client.AppsV1().ReplicaSets(o.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	newRS := map[string]bool{}
	for _, rs := range rss.Items {
		if len(rs.Spec.Template.Spec.Containers) == 0 || rs.Spec.Template.Spec.Containers[0].Image != o.next {
			continue
		}
		newRS[rs.Name] = true
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
				return fmt.Sprintf("ReplicaSet %s %s: %s", rs.Name, cond.Reason, cond.Message)
			}
		}
	}
	if len(newRS) == 0 {
		return ""
	}
	evs, err := c.Client.CoreV1().Events(o.ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	if err != nil {
		return ""
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "ReplicaSet" && newRS[e.InvolvedObject.Name] {
			return fmt.Sprintf("event FailedCreate on ReplicaSet %s: %s", e.InvolvedObject.Name, e.Message)
		}
	}
	return ""
}

func (o *fleetObserver) times() (reached, failSeen time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reached, o.failSeen
}

// wait waits up to d for the goal.
func (o *fleetObserver) wait(d time.Duration) {
	deadline := time.After(d)
	for {
		if r, _ := o.times(); !r.IsZero() {
			return
		}
		select {
		case <-o.changed:
		case <-deadline:
			return
		}
	}
}

// ratioStat is "median (runs: …)" of a[i]/b[i] over the rounds where both
// were measured, in round order; "—" for a round where one was not.
func ratioStat(a, b []time.Duration) string {
	var rs []float64
	var each []string
	for i := range min(len(a), len(b)) {
		if a[i] <= 0 || b[i] <= 0 {
			each = append(each, "—")
			continue
		}
		r := a[i].Seconds() / b[i].Seconds()
		rs = append(rs, r)
		each = append(each, fmt.Sprintf("%.2f", r))
	}
	if len(rs) == 0 {
		return "— (runs: " + strings.Join(each, ", ") + ")"
	}
	sorted := append([]float64(nil), rs...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	return fmt.Sprintf("**%.2f** (runs: %s)", med, strings.Join(each, ", "))
}

// waveVerdicts renders the verdicts of runs ("`succeeded everywhere` ×3 ✓").
func waveVerdicts(runs []waveOutcome) string {
	rs := make([]ran, len(runs))
	for i, o := range runs {
		rs[i] = ran{verdict: o.verdict, err: o.err, correct: o.correct}
	}
	return tally(rs, true, true)
}

// wavesMarkdown renders the section.
func (r report) wavesMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rounds := r.roundCount()
	alone := " (only this section ran)"
	if len(r.cases) > 0 || r.releases || r.canary {
		alone = "; each round of this section runs right after the same round of the sections above"
	}
	runs := func(i int) []waveOutcome {
		if i >= len(r.waveRuns) {
			return nil
		}
		return r.waveRuns[i]
	}
	wave, singles, fail := runs(0), runs(1), runs(2)

	w("\n## Several clusters: waves\n\n")
	w("Three control planes on this machine (the bench's own, and two more started for this section), reached through one "+
		"kubeconfig with the contexts `canary-eu`, `prod-eu` and `prod-us`, each naming the run's namespace and holding the "+
		"least-privilege deployer identity (`cluster.Deployer`) of its cluster. Before each run a fresh namespace in all three holds "+
		"`erlmcp`, %d replicas of `%s` (`testcluster.Deployment`, maxSurge 1 / maxUnavailable 0), all available; every run deploys `%s` "+
		"with the CLI built from this tree (`erlmcp-deploy deploy --image %s --timeout %s --crashloop-restarts %s --image-pull-grace %s "+
		"--unschedulable-grace %s`). %s of the three runs below, one at a time, the order rotated each round%s.\n\n",
		wavesReplicas, prevImage, nextImage, nextImage, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace, rounds, alone)
	w("- **One wave**: one CLI process, `--contexts \"canary-eu, prod-eu, prod-us\"` (the three clusters in parallel).\n")
	w("- **Sum of singles** (the peer: the same fleet without waves): three CLI processes one after another, " +
		"`--context canary-eu`, `--context prod-eu`, `--context prod-us` (with `--namespace` of the run).\n")
	w("- **Failure**: `--contexts \"canary-eu\\nprod-eu, prod-us\" --rollback-scope wave`, with a ResourceQuota `pods: %d` in prod-us "+
		"(counted by its controller before the run), so prod-us's surge pod cannot be created (`FailedCreate`, exceeded quota). "+
		"A correct run ends: %s.\n", wavesReplicas, strings.ReplaceAll(waveFailExpected, ";", ","))
	poll := fmt.Sprintf("%g s", wavesPoll.Seconds())
	w("- **Times** are taken by the bench's own observer, which shares no code with erlmcp-deploy: it polls each cluster every %s "+
		"with the admin client (the Deployment and its pods; in the failure run also prod-us's ReplicaSets and `FailedCreate` events) and "+
		"timestamps each poll when its answers arrive, on the same clock as the CLI's start. *Serving complete*: the pod template "+
		"carries the image, observedGeneration current, replicas == updated == available == desired. *Every cluster serving `%s` "+
		"complete* is measured from the start of the (first) CLI process. *Failure visible*: the first poll showing prod-us's new "+
		"ReplicaSet with its `ReplicaFailure` condition or a `FailedCreate` event. *Settled*: canary-eu serving `%s` complete, and "+
		"prod-eu and prod-us, both seen on the new template before, serving `%s` complete again with no pod of `%s` left (terminating "+
		"ones included). Times are therefore ±%s. Cells: **median** (every run, in round order).\n\n",
		poll, nextImage, nextImage, prevImage, nextImage, poll)

	start := func(o waveOutcome) time.Time { return o.start }
	end := func(o waveOutcome) time.Time { return o.end }
	reached := func(o waveOutcome) time.Time { return o.reached }
	failSeen := func(o waveOutcome) time.Time { return o.failSeen }
	errOf := func(o waveOutcome) error { return o.err }
	stat := func(runs []waveOutcome, from, to func(waveOutcome) time.Time) string {
		return runStat(runs, errOf, from, to, "no start")
	}
	w("| measured | one wave (1 CLI process, 3 clusters in parallel) | sum of singles (3 CLI processes, one after another) |\n| --- | --- | --- |\n")
	w("| verdict (a correct run: `%s`) | %s | %s |\n", waveWaveExpected, waveVerdicts(wave), waveVerdicts(singles))
	w("| CLI start → every cluster serving `%s` complete (observer) | %s | %s |\n", nextImage, stat(wave, start, reached), stat(singles, start, reached))
	w("| wall time of the CLI process(es) | %s | %s |\n\n", stat(wave, start, end), stat(singles, start, end))
	span := func(runs []waveOutcome) []time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, o := range runs {
			if o.err == nil && !o.start.IsZero() && !o.reached.IsZero() {
				ds[i] = o.reached.Sub(o.start)
			}
		}
		return ds
	}
	w("One wave / sum of singles, CLI start → every cluster serving complete, per round: %s.\n\n", ratioStat(span(wave), span(singles)))

	w("| failure run, `--rollback-scope wave` | erlmcp-deploy |\n| --- | --- |\n")
	w("| verdict (clusters output) | %s |\n", waveVerdicts(fail))
	w("| CLI start → failure visible in prod-us (observer) | %s |\n", stat(fail, start, failSeen))
	w("| **failure visible → every cluster settled** (observer) | %s |\n", stat(fail, failSeen, reached))
	w("| CLI start → every cluster settled (observer) | %s |\n", stat(fail, start, reached))
	w("| wall time of the CLI process | %s |\n\n", stat(fail, start, end))

	var wrong []string
	for _, runs := range r.waveRuns {
		for _, o := range runs {
			switch {
			case o.err != nil:
				wrong = append(wrong, fmt.Sprintf("- %s (`%s`): bench error: %v", o.wc.id, o.ns, o.err))
			case !o.correct:
				wrong = append(wrong, fmt.Sprintf("- %s (`%s`): WRONG: %s; %s", o.wc.id, o.ns, cell(o.verdict), o.why))
			}
		}
	}
	if len(wrong) > 0 {
		w("Runs with the wrong verdict or not measured:\n\n%s\n", strings.Join(wrong, "\n"))
	}
	return b.String()
}
