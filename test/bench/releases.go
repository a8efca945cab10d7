package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// The manifest release of examples/kubernetes/erlmcp: two Deployments and
// the ConfigMap erlmcp mounts, among its 10 objects.
const (
	releasesID   = "releases" // the -cases id of the whole section
	dashRepo     = "ghcr.io/acme/erlmcp-dashboard"
	prevDash     = dashRepo + ":1.0.0"
	nextImage    = repo + ":1.1.0"
	relConfigMap = "erlmcp-config"
	// kubectlStatusTimeout is the peer's `kubectl rollout status --timeout` per Deployment.
	kubectlStatusTimeout = "60s"
	// The release's config change: one more setting in sys.config.
	configFrom = "{metrics, true}"
	configTo   = "{metrics, true}, {log_level, notice}"
)

// relDeploys are the release's Deployments, in the order a user waits on
// them with `kubectl rollout status`, and their replicas (erlmcp's count is
// the HPA's minReplicas: erlmcp-deploy leaves replicas to the HPA).
var relDeploys = []struct {
	name     string
	replicas int32
}{{"erlmcp", 3}, {"erlmcp-dashboard", 2}}

// relCase is one release of the section: erlmcp gets nextImage and the
// ConfigMap configTo in every case; the dashboard gets dash.
type relCase struct {
	id, title string
	doomed    bool
	dash      string
}

var relCases = []relCase{
	{id: "good", title: "good release: erlmcp `1.1.0`, dashboard `1.1.0`, new ConfigMap", dash: dashRepo + ":1.1.0"},
	{id: "dashpull", title: "bad release: erlmcp `1.1.0` (good), dashboard `1.1.0-fault-imagepull`, new ConfigMap", doomed: true, dash: dashRepo + ":1.1.0-fault-imagepull"},
	{id: "dashcrash", title: "bad release: erlmcp `1.1.0` (good), dashboard `1.1.0-fault-crashloop`, new ConfigMap", doomed: true, dash: dashRepo + ":1.1.0-fault-crashloop"},
}

func (rc relCase) prevImages() map[string]string {
	return map[string]string{"erlmcp": prevImage, "erlmcp-dashboard": prevDash}
}

func (rc relCase) nextImages() map[string]string {
	return map[string]string{"erlmcp": nextImage, "erlmcp-dashboard": rc.dash}
}

// relOutcome is one release run by one tool.
type relOutcome struct {
	tool    string // "ours" or "kubectl"
	rc      relCase
	ns      string
	round   int
	verdict string // ours: its status output; kubectl: succeeded | failed | failed, undone
	reason  string

	// On the bench's clock. applied: the watcher's first change of a release
	// object; back: the previous set serving again (both Deployments and the
	// ConfigMap); deploysBack: both Deployments serving their previous images
	// again (the ConfigMap not looked at); complete: the new set serving.
	applied, back, deploysBack, complete time.Time
	failLine, successLine                time.Time
	start, end                           time.Time // the tool's processes: first start, last exit
	rolledBackIn                         time.Duration
	err                                  error
	log                                  string
}

func (o relOutcome) expected() string {
	if o.rc.doomed {
		return "rolled-back"
	}
	return "succeeded"
}

// relFile is one file of the example release as the bench deploys it.
type relFile struct{ name, body string }

// exampleRelease reads examples/kubernetes/erlmcp as the bench deploys it:
// every file but kustomization.yaml (kubectl apply -f <dir> would send it to
// the API server), without its `namespace: erlmcp` lines.
func exampleRelease() ([]relFile, error) {
	root, err := testcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "kubernetes", "erlmcp", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var base []relFile
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		base = append(base, relFile{filepath.Base(f), strings.ReplaceAll(string(b), "  namespace: erlmcp\n", "")})
	}
	return base, nil
}

// writeRelease writes base, each file's body through edit, into dir.
func writeRelease(dir string, base []relFile, edit func(string) string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range base {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(edit(f.body)), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// releaseHolds fails unless the release's files hold every string of want.
func releaseHolds(base []relFile, want ...string) error {
	all := ""
	for _, f := range base {
		all += f.body
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			return fmt.Errorf("examples/kubernetes/erlmcp no longer holds %q: update test/bench", w)
		}
	}
	return nil
}

// releaseDirs writes the release's manifests into dir: v1 (as in
// examples/kubernetes/erlmcp, without its namespace, images 1.0.0), next (v1
// with the new ConfigMap: erlmcp-deploy sets the images by flag), and per
// case the kubectl user's edit of next (the images written into the files).
func releaseDirs(dir string) (v1, next string, peer map[string]string, err error) {
	base, err := exampleRelease()
	if err != nil {
		return "", "", nil, err
	}
	if err := releaseHolds(base, configFrom, "image: "+prevImage, "image: "+prevDash); err != nil {
		return "", "", nil, err
	}
	write := func(sub string, edit func(string) string) (string, error) {
		return writeRelease(filepath.Join(dir, sub), base, edit)
	}
	newConfig := func(s string) string { return strings.Replace(s, configFrom, configTo, 1) }
	if v1, err = write("v1", func(s string) string { return s }); err != nil {
		return "", "", nil, err
	}
	if next, err = write("next", newConfig); err != nil {
		return "", "", nil, err
	}
	peer = map[string]string{}
	for _, rc := range relCases {
		if peer[rc.id], err = write("kubectl-"+rc.id, func(s string) string {
			s = strings.ReplaceAll(newConfig(s), "image: "+prevImage+"\n", "image: "+nextImage+"\n")
			return strings.ReplaceAll(s, "image: "+prevDash+"\n", "image: "+rc.dash+"\n")
		}); err != nil {
			return "", "", nil, err
		}
	}
	return v1, next, peer, nil
}

// relBench runs the section's releases: per round, every release once by
// erlmcp-deploy and once by kubectl, one at a time, each in a namespace of
// its own where revision 1 (v1) serves.
type relBench struct {
	c              *testcluster.Cluster
	cli, kubectl   string
	v1, next, logs string
	peer           map[string]string
}

// benchJob is one run of a round: case i, by "ours" or by the "kubectl" peer.
type benchJob struct {
	i    int
	tool string
}

// roundOrder is round r (of runs) of n cases: each case by us, and by the
// peer where peer(i), the order rotated by the round so that every run
// takes every place across the rounds.
func roundOrder(n int, peer func(i int) bool, r, runs int) []benchJob {
	var jobs []benchJob
	for i := 0; i < n; i++ {
		jobs = append(jobs, benchJob{i, "ours"})
		if peer(i) {
			jobs = append(jobs, benchJob{i, "kubectl"})
		}
	}
	off := r * len(jobs) / max(runs, 1)
	out := make([]benchJob, len(jobs))
	for j := range jobs {
		out[j] = jobs[(j+off)%len(jobs)]
	}
	return out
}

func (b *relBench) round(ctx context.Context, r, runs int, ours, theirs [][]relOutcome) {
	for _, jb := range roundOrder(len(relCases), func(int) bool { return b.kubectl != "" }, r, runs) {
		rc := relCases[jb.i]
		var o relOutcome
		if jb.tool == "ours" {
			o = b.runOurs(ctx, rc, fmt.Sprintf("rel-r%d-%s", r, rc.id), r)
			ours[jb.i] = append(ours[jb.i], o)
		} else {
			o = b.runKubectl(ctx, rc, fmt.Sprintf("krel-r%d-%s", r, rc.id), r)
			theirs[jb.i] = append(theirs[jb.i], o)
		}
		mark := "ok"
		if o.err != nil {
			mark = "BENCH ERROR: " + o.err.Error()
		} else if o.tool == "ours" && o.verdict != o.expected() {
			mark = "WRONG, expected " + o.expected()
		}
		logf("round %d release %-9s %-7s %-11s %s (%s)", r, rc.id, jb.tool, o.verdict, mark, saveRelLog(b.logs, o))
	}
}

// waitRelease waits until both Deployments have their replicas, all updated
// and available, and no pod of another template is left.
func waitRelease(ctx context.Context, c *testcluster.Cluster, ns string) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, want := range relDeploys {
			d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, want.name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			st := d.Status
			if ptr.Deref(d.Spec.Replicas, 1) != want.replicas || st.ObservedGeneration < d.Generation ||
				st.UpdatedReplicas != want.replicas || st.AvailableReplicas != want.replicas || st.Replicas != want.replicas {
				return false, nil
			}
		}
		return true, nil
	})
}

// prepareOurs deploys revision 1 (v1) with erlmcp-deploy itself, so that the
// release has a verified revision to go back to, and waits until it serves.
func (b *relBench) prepareOurs(ctx context.Context, ns, kc string, tr *transcript) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "erlmcp-bench-cli-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, b.cli, "deploy", "--environment", "bench", "--namespace", ns, "--manifests", b.v1,
		"--timeout", ourTimeout, "--kubeconfig", kc, "--change-cause", "bench set-up")
	cmd.Dir = dir
	cmd.Env = cleanEnv("RUNNER_TEMP=" + dir)
	tr.note("set-up: erlmcp-deploy deploy --namespace %s --manifests <v1>", ns)
	status := ""
	err = runLines(cmd, func(l line) {
		tr.add(l)
		if t := strings.TrimSpace(l.text); strings.HasPrefix(t, "status=") {
			status = strings.TrimPrefix(t, "status=")
		}
	})
	tr.note("set-up exit: %v", err)
	if err != nil || status != "succeeded" {
		return fmt.Errorf("set-up deploy of revision 1 in %s: status %q, %v", ns, status, err)
	}
	return waitRelease(ctx, b.c, ns)
}

func (b *relBench) runOurs(ctx context.Context, rc relCase, ns string, round int) (o relOutcome) {
	o = relOutcome{tool: "ours", rc: rc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	id, err := b.c.Deployer(ctx, ns)
	if err != nil {
		o.err = err
		return o
	}
	kcb, err := os.ReadFile(id.Kubeconfig)
	if err != nil {
		o.err = err
		return o
	}
	kc := string(kcb)
	if err := b.prepareOurs(ctx, ns, kc, tr); err != nil {
		o.err = err
		return o
	}
	w, err := watchRelease(ctx, b.c.Client, ns, rc, tr.note)
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
	args := []string{"deploy", "--environment", "bench", "--namespace", ns, "--manifests", b.next,
		"--image", nextImage, "--images", dashRepo + "=" + rc.dash,
		"--timeout", ourTimeout, "--kubeconfig", kc, "--crashloop-restarts", crashloopRestarts,
		"--image-pull-grace", imagePullGrace, "--unschedulable-grace", unschedulableGrace, "--change-cause", "bench release " + rc.id}
	cmd := exec.CommandContext(ctx, b.cli, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv("RUNNER_TEMP=" + dir)
	tr.note("erlmcp-deploy deploy --namespace %s --manifests <next> --image %s --images %s=%s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s",
		ns, nextImage, dashRepo, rc.dash, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	var mu sync.Mutex
	o.start = time.Now()
	err = runLines(cmd, func(l line) {
		tr.add(l)
		mu.Lock()
		defer mu.Unlock()
		t := strings.TrimSpace(l.text)
		switch {
		case o.successLine.IsZero() && strings.Contains(t, "of release erlmcp is serving ("):
			o.successLine = l.at
		case o.failLine.IsZero() && strings.Contains(t, "of release erlmcp failed:"):
			o.failLine = l.at
		case strings.Contains(t, "rolled back in "):
			if d, ok := rolledBackIn(t); ok {
				o.rolledBackIn = d
			}
		case strings.HasPrefix(t, "status="):
			o.verdict = strings.TrimPrefix(t, "status=")
		case strings.HasPrefix(t, "failure-reason="):
			o.reason = strings.TrimPrefix(t, "failure-reason=")
		}
	})
	o.end = time.Now()
	tr.note("exit: %v", err)
	if o.verdict == "" {
		o.verdict = "failed"
		o.reason = fmt.Sprintf("no status output (exit: %v)", err)
	}
	w.settle(o.verdict)
	o.applied, o.back, o.deploysBack, o.complete = w.times()
	tr.note("watcher: applied %s, previous set serving %s, previous Deployments serving %s, new set serving %s",
		rel(tr.start, o.applied), rel(tr.start, o.back), rel(tr.start, o.deploysBack), rel(tr.start, o.complete))
	return o
}

// runKubectl is the peer, what users do today: `kubectl apply -f <dir>`,
// then `kubectl rollout status` of each Deployment in turn with a short
// timeout; when one fails, `kubectl rollout undo` of each Deployment and
// `kubectl rollout status` again (kubectl has nothing that puts a set back).
func (b *relBench) runKubectl(ctx context.Context, rc relCase, ns string, round int) (o relOutcome) {
	o = relOutcome{tool: "kubectl", rc: rc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	k := kubectlRunner(ctx, b.kubectl, b.c.Kubeconfig, tr, "-n", ns)
	if err := b.c.EnsureNamespace(ctx, ns); err != nil {
		o.err = err
		return o
	}
	if err := k(nil, "apply", "-f", b.v1); err != nil {
		o.err = fmt.Errorf("set-up: kubectl apply of revision 1: %w", err)
		return o
	}
	if err := waitRelease(ctx, b.c, ns); err != nil {
		o.err = err
		return o
	}
	w, err := watchRelease(ctx, b.c.Client, ns, rc, tr.note)
	if err != nil {
		o.err = err
		return o
	}
	defer w.Stop()
	var mu sync.Mutex
	each := func(l line) {
		mu.Lock()
		defer mu.Unlock()
		if o.failLine.IsZero() && strings.Contains(l.text, "error:") {
			o.failLine = l.at
		}
	}
	o.start = time.Now()
	if err := k(each, "apply", "-f", b.peer[rc.id]); err != nil {
		o.err = err
		return o
	}
	failed := false
	for _, d := range relDeploys {
		err := k(func(l line) {
			each(l)
			if d.name == relDeploys[len(relDeploys)-1].name && strings.Contains(l.text, "successfully rolled out") {
				mu.Lock()
				o.successLine = l.at
				mu.Unlock()
			}
		}, "rollout", "status", "deployment/"+d.name, "--timeout="+kubectlStatusTimeout)
		if err != nil {
			mu.Lock()
			if o.failLine.IsZero() {
				o.failLine = time.Now()
			}
			mu.Unlock()
			failed = true
			break
		}
	}
	o.verdict = "succeeded"
	if failed {
		o.verdict = "failed"
		undone := true
		for _, d := range relDeploys {
			undone = undone && k(nil, "rollout", "undo", "deployment/"+d.name) == nil
		}
		for _, d := range relDeploys {
			undone = undone && k(nil, "rollout", "status", "deployment/"+d.name, "--timeout=2m") == nil
		}
		if undone {
			o.verdict = "failed, undone"
		}
	}
	o.end = time.Now()
	w.settle(o.verdict)
	o.applied, o.back, o.deploysBack, o.complete = w.times()
	tr.note("watcher: applied %s, previous set serving %s, previous Deployments serving %s, new set serving %s",
		rel(tr.start, o.applied), rel(tr.start, o.back), rel(tr.start, o.deploysBack), rel(tr.start, o.complete))
	return o
}

func saveRelLog(dir string, o relOutcome) string {
	return writeLog(dir, o.ns, fmt.Sprintf("%s release %s (erlmcp %s, dashboard %s): verdict %s", o.tool, o.rc.id, nextImage, o.rc.dash, o.verdict), o.log, o.err)
}

// relWatcher is the independent observer of one release run: its own
// watches of the namespace's Deployments, pods and ConfigMaps, timestamped on
// arrival. It reads the start state (the previous set) when its caches have
// synced, before the tool starts.
type relWatcher struct {
	setWatch
	prevImages, nextImages map[string]string
	prevConfig, nextConfig map[string]string

	applied     time.Time
	back        time.Time
	deploysBack time.Time
	complete    time.Time

	config cache.Store
}

func watchRelease(ctx context.Context, client kubernetes.Interface, ns string, rc relCase, logf func(string, ...any)) (*relWatcher, error) {
	// startGen stays nil, and events are ignored, until the start state is taken.
	w := &relWatcher{prevImages: rc.prevImages(), nextImages: rc.nextImages()}
	w.init(ns, logf)
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	ci := f.Core().V1().ConfigMaps().Informer()
	w.config = ci.GetStore()
	if err := w.watchSet(f, w.observe, ci); err != nil {
		return nil, err
	}
	if err := w.start(ctx, f); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	gens := map[string]int64{}
	for _, d := range relDeploys {
		obj, ok, _ := w.deploys.GetByKey(ns + "/" + d.name)
		if !ok {
			w.Stop()
			return nil, fmt.Errorf("watch %s: no Deployment %s", ns, d.name)
		}
		dep := obj.(*appsv1.Deployment)
		if img := image(dep); img != w.prevImages[d.name] {
			w.Stop()
			return nil, fmt.Errorf("watch %s: Deployment %s runs %s before the release, not %s", ns, d.name, img, w.prevImages[d.name])
		}
		gens[d.name] = dep.Generation
	}
	obj, ok, _ := w.config.GetByKey(ns + "/" + relConfigMap)
	if !ok {
		w.Stop()
		return nil, fmt.Errorf("watch %s: no ConfigMap %s", ns, relConfigMap)
	}
	w.prevConfig = maps.Clone(obj.(*corev1.ConfigMap).Data)
	w.nextConfig = maps.Clone(w.prevConfig)
	for k, v := range w.nextConfig {
		w.nextConfig[k] = strings.Replace(v, configFrom, configTo, 1)
	}
	if maps.Equal(w.prevConfig, w.nextConfig) {
		w.Stop()
		return nil, fmt.Errorf("watch %s: ConfigMap %s holds no %q", ns, relConfigMap, configFrom)
	}
	w.startGen = gens
	return w, nil
}

// observe re-evaluates on every event of the three watches.
func (w *relWatcher) observe(now time.Time, o any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.startGen == nil {
		return
	}
	deps, ok := w.event(o, w.prevImages, w.nextImages)
	if !ok {
		return
	}
	var cfg map[string]string
	if obj, ok, _ := w.config.GetByKey(w.ns + "/" + relConfigMap); ok {
		cfg = obj.(*corev1.ConfigMap).Data
	}
	if w.applied.IsZero() {
		first := w.changedDeployment(deps)
		if first == "" && !maps.Equal(cfg, w.prevConfig) {
			first = "ConfigMap/" + relConfigMap
		}
		if first == "" {
			return
		}
		w.applied = now
		w.logf("watcher: first change of the release: %s", first)
	}
	w.seeOff(deps, w.prevImages)
	if w.deploysBack.IsZero() && len(w.left) == len(relDeploys) && w.allServe(deps, w.prevImages) {
		w.deploysBack = now
	}
	if w.back.IsZero() && maps.Equal(cfg, w.prevConfig) && w.allServe(deps, w.prevImages) {
		w.back = now
	}
	if w.complete.IsZero() && maps.Equal(cfg, w.nextConfig) && w.allServe(deps, w.nextImages) {
		w.complete = now
	}
	w.signal()
}

// podsServing: d's template carries img, observedGeneration current,
// updated == available == desired, and as many Ready pods of img (not being
// deleted) among pods, of d's selector, as desired.
func podsServing(pods cache.Store, d *appsv1.Deployment, img string) bool {
	desired := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	if image(d) != img || st.ObservedGeneration < d.Generation || st.UpdatedReplicas != desired || st.AvailableReplicas != desired {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false
	}
	ready := int32(0)
	for _, o := range pods.List() {
		p := o.(*corev1.Pod)
		if !sel.Matches(labels.Set(p.Labels)) || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning ||
			len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != img {
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

func (w *relWatcher) times() (applied, back, deploysBack, complete time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied, w.back, w.deploysBack, w.complete
}

// settle waits up to a minute for the watcher to see the end state the tool
// claims: the previous set (ours, rolled back), the previous Deployments
// (kubectl after its undo), the new set (succeeded).
func (w *relWatcher) settle(verdict string) {
	w.await(func() bool {
		_, back, deploysBack, complete := w.times()
		switch verdict {
		case "rolled-back":
			return !back.IsZero()
		case "failed, undone":
			return !deploysBack.IsZero()
		case "succeeded":
			return !complete.IsZero()
		}
		return true
	})
}

// relStat is "median (runs: a, b, c)" over the runs where the watcher saw
// the apply, the runs in round order; "never" for runs where to never came.
func relStat(runs []relOutcome, from, to func(relOutcome) time.Time) string {
	return runStat(runs, func(o relOutcome) error { return o.err }, from, to, "no apply seen")
}

// runStat is "median (runs: …)" of to - from over runs, in round order:
// "bench error" for a run that failed, noStart when from was never seen,
// "never" when to was not.
func runStat[T any](runs []T, errOf func(T) error, from, to func(T) time.Time, noStart string) string {
	var ds []time.Duration
	var each []string
	for _, o := range runs {
		switch {
		case errOf(o) != nil:
			each = append(each, "bench error")
		case from(o).IsZero():
			each = append(each, noStart)
		case to(o).IsZero():
			each = append(each, "never")
		default:
			d := to(o).Sub(from(o))
			ds = append(ds, d)
			each = append(each, fmtDur(d))
		}
	}
	return medianOf(ds, each)
}

// rolledBackIn reads the duration of erlmcp-deploy's `rolled back in <d>: …`
// in t, a line that holds "rolled back in ".
func rolledBackIn(t string) (time.Duration, bool) {
	rest := t[strings.Index(t, "rolled back in ")+len("rolled back in "):]
	d, err := time.ParseDuration(strings.SplitN(rest, ":", 2)[0])
	return d, err == nil
}

// rolledBackStat is "median (runs: …)" of the tool's own `rolled back in …`
// over runs, in round order: "none" for a run that failed or printed none.
func rolledBackStat[T any](runs []T, errOf func(T) error, in func(T) time.Duration) string {
	var ds []time.Duration
	var each []string
	for _, o := range runs {
		if errOf(o) != nil || in(o) == 0 {
			each = append(each, "none")
			continue
		}
		ds = append(ds, in(o))
		each = append(each, fmtDur(in(o)))
	}
	return medianOf(ds, each)
}

func medianOf(ds []time.Duration, each []string) string {
	if len(each) == 0 {
		return "—"
	}
	runs := "runs: " + strings.Join(each, ", ")
	if len(ds) == 0 {
		return "never (" + runs + ")"
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	med := fmtDur(sorted[len(sorted)/2])
	if len(sorted)%2 == 0 {
		med = fmtDur((sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2)
	}
	return fmt.Sprintf("**%s** (%s)", med, runs)
}

// relVerdicts renders the verdicts of runs ("rolled-back ×3"), with ✓/✗
// against expected when it is not empty.
func relVerdicts(runs []relOutcome, expected string) string {
	rs := make([]ran, len(runs))
	for i, o := range runs {
		rs[i] = ran{verdict: o.verdict, err: o.err, correct: o.verdict == expected}
	}
	return tally(rs, true, expected != "")
}

// releasesMarkdown renders the section.
func (r report) releasesMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rounds := r.roundCount()
	interleaved := " (only this section ran)"
	if len(r.cases) > 0 {
		interleaved = "; each round of this section runs right after the same round of the sections above, in the same cluster (alongside the kubectl image releases still waiting on their deadline)"
	}
	peerRuns := "kubectl (not run)"
	if r.kubectl {
		peerRuns = "kubectl, same rounds"
	}
	w("\n## Manifest releases\n\n")
	w("A whole release, `erlmcp-deploy deploy --manifests <dir>`: the 10 objects of `examples/kubernetes/erlmcp` (ServiceAccount, "+
		"ConfigMap `erlmcp-config`, Deployments `erlmcp` (3 replicas, its count left to the HPA's minReplicas 3) and `erlmcp-dashboard` (2 replicas), "+
		"three Services, Ingress, PodDisruptionBudget, HorizontalPodAutoscaler), copied without their `namespace:` lines into a namespace of "+
		"their own per run. Before each run revision 1 serves there (erlmcp and the dashboard `1.0.0`, all replicas available): deployed by "+
		"erlmcp-deploy itself for its runs (so the release has a verified revision to return to), by `kubectl apply -f` for kubectl's. "+
		"Every new release sets erlmcp to `%s` (init container and container, a good image), the dashboard to the image of the row, and "+
		"changes the ConfigMap's `sys.config` (`%s` → `%s`). %s of the three releases, each run once per round by erlmcp-deploy and once by "+
		"kubectl, one run at a time, the order rotated each round%s.\n\n",
		nextImage, configFrom, configTo, rounds, interleaved)
	w("- **erlmcp-deploy**: the CLI built from this tree, `erlmcp-deploy deploy --manifests <dir> --image %s --images %s=<dashboard image> "+
		"--timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s` (the graces of the sections above), "+
		"with the least-privilege deployer kubeconfig (`cluster.Deployer`, the Role of `examples/kubernetes/rbac.yaml`).\n",
		nextImage, dashRepo, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	w("- **kubectl** (what users do today, admin kubeconfig, the images written into the files): `kubectl apply -f <dir>`, then "+
		"`kubectl rollout status deployment/erlmcp --timeout=%[1]s` and `kubectl rollout status deployment/erlmcp-dashboard --timeout=%[1]s` in turn. "+
		"When one fails the bench goes on as the image peer does: `kubectl rollout undo` of both Deployments, then `kubectl rollout status` "+
		"of both. kubectl has no release-level rollback: the undo puts the Deployments' previous pod templates back, never the ConfigMap. "+
		"Its verdict: `succeeded` when both rollout statuses succeed, else `failed` (`failed, undone` when the undo's rollout statuses then succeeded).\n",
		kubectlStatusTimeout)
	w("- **Times** are measured by the bench's own watcher (informers on the namespace's Deployments, pods and ConfigMaps, events " +
		"timestamped on arrival) from **the apply**: the first event in which a Deployment's generation is above its value before the " +
		"run or the ConfigMap's data differs from its content before the run (both tools apply the ConfigMap first). To: the tool's " +
		"output line as it arrived on the pipe (erlmcp-deploy's verdict line `revision N of release erlmcp is serving (…)` or failure line " +
		"`revision N of release erlmcp failed: …`; kubectl's last `successfully rolled out`, or its first `error:` line, the rollout " +
		"status timeout); or to a state the watcher sees: *new set serving* (both Deployments on their new images: template, " +
		"observedGeneration current, updated == available == desired, that many Ready pods of the image not being deleted; and the " +
		"ConfigMap holding the new content), *previous set serving again* (the same for the previous images and the previous ConfigMap " +
		"content), *previous Deployments serving again* (the Deployments part only, ConfigMap ignored, after both were seen off their " +
		"previous images). **Wall time** is from the start of the tool's first process to the exit of its last (erlmcp-deploy: the one CLI " +
		"process; kubectl: apply, the rollout statuses and, after a failure, the undos and their rollout statuses). erlmcp-deploy's own " +
		"`rolled back in …` is the number it prints (restore start to the restored set verified). Cells: **median** (every run, in round order).\n\n")

	peer := func(i int) []relOutcome {
		if !r.kubectl || i >= len(r.relTheirs) {
			return nil
		}
		return r.relTheirs[i]
	}
	applied := func(o relOutcome) time.Time { return o.applied }
	start := func(o relOutcome) time.Time { return o.start }
	end := func(o relOutcome) time.Time { return o.end }
	fail := func(o relOutcome) time.Time { return o.failLine }
	success := func(o relOutcome) time.Time { return o.successLine }
	complete := func(o relOutcome) time.Time { return o.complete }
	back := func(o relOutcome) time.Time { return o.back }
	deploysBack := func(o relOutcome) time.Time { return o.deploysBack }
	for i, rc := range relCases {
		ours := r.relOurs[i]
		theirs := peer(i)
		kc := func(s string) string {
			if !r.kubectl {
				return "not run"
			}
			return s
		}
		w("### %s\n\n| measured | erlmcp-deploy | %s |\n| --- | --- | --- |\n", rc.title, peerRuns)
		expected := "succeeded"
		if rc.doomed {
			expected = "rolled-back"
		}
		w("| verdict (a correct tool says `%s`) | %s | %s |\n", expected, relVerdicts(ours, expected), kc(relVerdicts(theirs, "")))
		if !rc.doomed {
			w("| apply → verdict line (erlmcp-deploy: `revision N of release erlmcp is serving`; kubectl: the dashboard's `successfully rolled out`) | %s | %s |\n",
				relStat(ours, applied, success), kc(relStat(theirs, applied, success)))
			w("| apply → new set serving (watcher) | %s | %s |\n", relStat(ours, applied, complete), kc(relStat(theirs, applied, complete)))
		} else {
			w("| apply → failure line (erlmcp-deploy: `revision N of release erlmcp failed: …`; kubectl: the dashboard's rollout status `error: timed out waiting for the condition`) | %s | %s |\n",
				relStat(ours, applied, fail), kc(relStat(theirs, applied, fail)))
			w("| apply → previous set serving again (watcher: both Deployments on their previous images, all replicas available, and the ConfigMap's previous content) | %s | %s |\n",
				relStat(ours, applied, back), kc(relStat(theirs, applied, back)))
			w("| apply → previous Deployments serving again (watcher, ConfigMap ignored; kubectl: after `rollout undo` of both) | %s | %s |\n",
				relStat(ours, applied, deploysBack), kc(relStat(theirs, applied, deploysBack)))
			w("| the tool's own `rolled back in …` | %s | %s |\n",
				rolledBackStat(ours, func(o relOutcome) error { return o.err }, func(o relOutcome) time.Duration { return o.rolledBackIn }),
				kc("— (no such step)"))
		}
		w("| wall time of the tool | %s | %s |\n\n", relStat(ours, start, end), kc(relStat(theirs, start, end)))
	}
	var wrong []string
	for i := range relCases {
		for _, o := range r.relOurs[i] {
			switch {
			case o.err != nil:
				wrong = append(wrong, fmt.Sprintf("- erlmcp-deploy, %s (`%s`): bench error: %v", o.rc.id, o.ns, o.err))
			case o.verdict != o.expected():
				wrong = append(wrong, fmt.Sprintf("- erlmcp-deploy, %s (`%s`): %s, expected %s: %s", o.rc.id, o.ns, o.verdict, o.expected(), o.reason))
			}
		}
		for _, o := range peer(i) {
			if o.err != nil {
				wrong = append(wrong, fmt.Sprintf("- kubectl, %s (`%s`): bench error: %v", o.rc.id, o.ns, o.err))
			}
		}
	}
	if len(wrong) > 0 {
		w("Runs with the wrong verdict or not measured:\n\n%s\n", strings.Join(wrong, "\n"))
	}
	return b.String()
}
