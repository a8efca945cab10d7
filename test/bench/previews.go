package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// The preview section: one pull request's life per round, by
// `erlmcp-deploy preview` and by the kubectl commands of a hand-written
// preview workflow, each in a namespace of its own.
const (
	previewsID = "previews" // the -cases id of the section
	// pvOwner/pvName is the repository of the GitHub fake and of the events.
	pvOwner, pvName = "acme", "erlmcp"
	pvPrefix        = "pv-"  // erlmcp-deploy's --namespace-prefix: its previews are pv-<number>
	pvPeerPrefix    = "kpv-" // the hand-written workflow's namespaces, kpv-<number>
	pvToken         = "bench-github-token"
	pvURLTemplate   = "https://pr-{number}.preview.example.com"
	pvFirstPull     = 101 // the pull request of round 0; round r's is pvFirstPull+r
	pvHome          = "bench-previews"
)

// pvStep is one event of the pull request's life: the pull_request action,
// and the images of the push (close: the same inputs as the last push, which
// down does not read).
type pvStep struct {
	id, action, title string
	erlmcp, dash      string
	doomed, close     bool
	expected          string // erlmcp-deploy's status output when it is right
}

var pvSteps = []pvStep{
	{id: "open", action: "opened", title: "opened: erlmcp `pr-1`, dashboard `1.0.0` (the manifests' own) in a new namespace",
		erlmcp: repo + ":pr-1", dash: prevDash, expected: "up"},
	{id: "push", action: "synchronize", title: "a good push: erlmcp `pr-2`",
		erlmcp: repo + ":pr-2", dash: prevDash, expected: "up"},
	{id: "doomed", action: "synchronize", title: "a doomed push: erlmcp `pr-3` (good), dashboard `pr-3-fault-imagepull`",
		erlmcp: repo + ":pr-3", dash: dashRepo + ":pr-3-fault-imagepull", doomed: true, expected: "failed"},
	{id: "close", action: "closed", title: "closed (merged): the namespace deleted",
		erlmcp: repo + ":pr-3", dash: dashRepo + ":pr-3-fault-imagepull", close: true, expected: "down"},
}

// images is what step st deploys, per Deployment (nil for close).
func (st pvStep) images() map[string]string {
	if st.close {
		return nil
	}
	return map[string]string{"erlmcp": st.erlmcp, "erlmcp-dashboard": st.dash}
}

// pvServing is what serves when step i starts, if every earlier step did
// what a correct tool does: the images of the last push before i that was
// not doomed (nil before the first).
func pvServing(i int) map[string]string {
	for j := i - 1; j >= 0; j-- {
		if st := pvSteps[j]; !st.doomed && !st.close {
			return st.images()
		}
	}
	return nil
}

// pvStepOutcome is one step run by one tool.
type pvStepOutcome struct {
	verdict, reason string // ours: the status and failure-cause outputs; kubectl: peerVerdict
	// On the bench's clock: the tool's processes (first start, last exit),
	// its failure line, and what the watcher saw (pvTimes).
	start, end   time.Time
	failLine     time.Time
	rolledBackIn time.Duration
	pvTimes
	outputs bool // ours: the outputs: block has begun
	err     error
}

// readLine reads one line of `erlmcp-deploy preview`'s output: the failure
// line of the apply engine (`revision N of release erlmcp failed: …` or
// `… failed to apply: …`), its `rolled back in …`, and after the `outputs:`
// line the status and failure-cause outputs.
func (o *pvStepOutcome) readLine(l line) {
	t := strings.TrimSpace(l.text)
	switch {
	case t == "outputs:":
		o.outputs = true
	case o.outputs && strings.HasPrefix(t, "status="):
		o.verdict = strings.TrimPrefix(t, "status=")
	case o.outputs && strings.HasPrefix(t, "failure-cause="):
		o.reason = strings.TrimPrefix(t, "failure-cause=")
	case o.failLine.IsZero() && strings.Contains(t, "of release erlmcp failed"):
		o.failLine = l.at
	case strings.Contains(t, "rolled back in "):
		if d, ok := rolledBackIn(t); ok {
			o.rolledBackIn = d
		}
	}
}

// peerVerdict is the hand-written workflow's verdict of one step: `failed`
// when one of its commands other than rollout status failed (create, apply,
// delete); else `succeeded` when every rollout status succeeded; else
// `failed, undone` when the undo and its rollout statuses succeeded, or
// `failed` when they did not.
func peerVerdict(commandsOK, rolledOut, undone bool) string {
	switch {
	case !commandsOK:
		return "failed"
	case rolledOut:
		return "succeeded"
	case undone:
		return "failed, undone"
	}
	return "failed"
}

// pvOutcome is one pull request's life run by one tool: a step outcome per
// pvSteps entry (a step after a bench error is not run).
type pvOutcome struct {
	tool   string // "ours" or "kubectl"
	ns     string
	number int
	round  int
	steps  []pvStepOutcome
	err    error // the life could not start (watcher, set-up)
	log    string
}

// step is step i of o; a bench error when it did not run.
func (o pvOutcome) step(i int) pvStepOutcome {
	switch {
	case o.err != nil:
		return pvStepOutcome{err: o.err}
	case i >= len(o.steps):
		return pvStepOutcome{err: errors.New("not run: an earlier step had a bench error")}
	}
	return o.steps[i]
}

// pvBench runs the section: per round one pull request by erlmcp-deploy and
// one by the hand-written workflow.
type pvBench struct {
	c                  *testcluster.Cluster
	cli, kubectl, logs string
	kc                 string // the preview deployer's kubeconfig (content)
	gh                 *githubfake.Server
	manifests          string            // the release, for erlmcp-deploy (images by flag)
	peer               map[string]string // per step id: the release with the step's images written in, for kubectl
	work               string            // event payloads
}

// newPvBench writes the release's copies into dir, makes the preview
// deployer (examples/kubernetes/rbac-preview.yaml) and starts the GitHub fake.
func newPvBench(ctx context.Context, c *testcluster.Cluster, cli, kubectl, logs, dir string) (*pvBench, error) {
	base, err := exampleRelease()
	if err != nil {
		return nil, err
	}
	if err := releaseHolds(base, "image: "+prevImage+"\n", "image: "+prevDash+"\n"); err != nil {
		return nil, err
	}
	b := &pvBench{c: c, cli: cli, kubectl: kubectl, logs: logs, peer: map[string]string{}, work: filepath.Join(dir, "events")}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, err
	}
	if b.manifests, err = writeRelease(filepath.Join(dir, "release"), base, func(s string) string { return s }); err != nil {
		return nil, err
	}
	for _, st := range pvSteps {
		if st.close {
			continue
		}
		if b.peer[st.id], err = writeRelease(filepath.Join(dir, "kubectl-"+st.id), base, func(s string) string {
			s = strings.ReplaceAll(s, "image: "+prevImage+"\n", "image: "+st.erlmcp+"\n")
			return strings.ReplaceAll(s, "image: "+prevDash+"\n", "image: "+st.dash+"\n")
		}); err != nil {
			return nil, err
		}
	}
	id, err := c.PreviewDeployer(ctx, pvHome)
	if err != nil {
		return nil, fmt.Errorf("the preview deployer: %w", err)
	}
	kc, err := os.ReadFile(id.Kubeconfig)
	if err != nil {
		return nil, err
	}
	b.kc = string(kc)
	b.gh = githubfake.New(pvOwner, pvName)
	return b, nil
}

func (b *pvBench) stop() { b.gh.Close() }

func (b *pvBench) round(ctx context.Context, r, runs int, ours, theirs *[]pvOutcome) {
	number := pvFirstPull + r
	for _, jb := range roundOrder(1, func(int) bool { return b.kubectl != "" }, r, runs) {
		var o pvOutcome
		if jb.tool == "ours" {
			o = b.runOurs(ctx, number, r)
			*ours = append(*ours, o)
		} else {
			o = b.runKubectl(ctx, number, r)
			*theirs = append(*theirs, o)
		}
		var parts []string
		for i, st := range pvSteps {
			so := o.step(i)
			p := st.id + " " + so.verdict
			switch {
			case so.err != nil:
				p = st.id + " BENCH ERROR: " + so.err.Error()
			case o.tool == "ours" && so.verdict != st.expected:
				p += " (WRONG, expected " + st.expected + ")"
			}
			parts = append(parts, p)
		}
		path := writeLog(b.logs, o.ns, fmt.Sprintf("%s preview life of pull request #%d", o.tool, o.number), o.log, o.err)
		logf("round %d preview %-7s %s (%s)", r, jb.tool, strings.Join(parts, "; "), path)
	}
}

// pvHead is the head commit of pull request number after push n.
func pvHead(number, n int) string {
	return fmt.Sprintf("%06d%02d", number, n) + strings.Repeat("b", 32)
}

// event writes the pull_request event of step i of pull request number, as GitHub sends it.
func (b *pvBench) event(number, i int) (string, error) {
	st := pvSteps[i]
	push := min(i+1, len(pvSteps)-1) // close carries the last push's head
	repoName := pvOwner + "/" + pvName
	payload := map[string]any{"action": st.action, "number": number, "repository": map[string]any{"full_name": repoName},
		"pull_request": map[string]any{"number": number, "title": fmt.Sprintf("bench change %d", number), "merged": st.close,
			"user": map[string]any{"login": "octocat"},
			"head": map[string]any{"sha": pvHead(number, push), "ref": fmt.Sprintf("bench-%d", number), "repo": map[string]any{"full_name": repoName}},
			"base": map[string]any{"ref": "main", "repo": map[string]any{"full_name": repoName}}}}
	js, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.work, fmt.Sprintf("pull-%d-%s.json", number, st.id))
	return path, os.WriteFile(path, js, 0o644)
}

// settleFor is the end state the watcher must see after a step with this
// verdict: the release serving (a push that succeeded), the previous push
// serving again (a doomed push that failed), the namespace gone (close).
func settleFor(st pvStep, verdict string) func(pvTimes) bool {
	switch {
	case st.close && (verdict == "down" || verdict == "succeeded"):
		return func(t pvTimes) bool { return !t.gone.IsZero() }
	case !st.close && (verdict == "up" || verdict == "succeeded"):
		return func(t pvTimes) bool { return !t.complete.IsZero() }
	case st.doomed && (verdict == "failed" || verdict == "failed, undone"):
		return func(t pvTimes) bool { return !t.back.IsZero() }
	}
	return nil
}

// life runs the steps of o's pull request in turn by step, under a watcher
// of o's namespace, until one has a bench error; after each step that ran,
// the watcher is given up to a minute to see the end state of the step's
// verdict (settleFor), and what it saw is the step's times.
func (b *pvBench) life(ctx context.Context, o *pvOutcome, tr *transcript, step func(w *pvWatcher, i int) pvStepOutcome) {
	w, err := watchPreview(ctx, b.c.Client, o.ns, tr.note)
	if err != nil {
		o.err = err
		return
	}
	defer w.Stop()
	for i, st := range pvSteps {
		so := step(w, i)
		if so.err == nil {
			if cond := settleFor(st, so.verdict); cond != nil {
				w.settle(cond)
			}
			so.pvTimes = w.times()
		}
		tr.note("watcher (%s): %s", st.id, so.pvTimes.describe(tr.start))
		o.steps = append(o.steps, so)
		if so.err != nil {
			break
		}
	}
}

// runOurs is one pull request's life by `erlmcp-deploy preview`: the CLI
// as a process of its own per event, with the preview deployer's kubeconfig
// and the event as GitHub Actions hands it over.
func (b *pvBench) runOurs(ctx context.Context, number, round int) (o pvOutcome) {
	o = pvOutcome{tool: "ours", ns: fmt.Sprintf("%s%d", pvPrefix, number), number: number, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	b.gh.AddPull(githubfake.Pull{Number: number, HeadSHA: pvHead(number, 1), Title: fmt.Sprintf("bench change %d", number), User: "octocat"})
	b.life(ctx, &o, tr, func(w *pvWatcher, i int) pvStepOutcome { return b.oursStep(ctx, w, tr, number, i) })
	return o
}

func (b *pvBench) oursStep(ctx context.Context, w *pvWatcher, tr *transcript, number, i int) (so pvStepOutcome) {
	st := pvSteps[i]
	path, err := b.event(number, i)
	if err != nil {
		so.err = err
		return so
	}
	dir, err := os.MkdirTemp("", "erlmcp-bench-cli-")
	if err != nil {
		so.err = err
		return so
	}
	defer os.RemoveAll(dir)
	args := []string{"preview", "--manifests", b.manifests, "--image", st.erlmcp, "--images", dashRepo + "=" + st.dash,
		"--url-template", pvURLTemplate, "--github-token", pvToken, "--namespace-prefix", pvPrefix, "--timeout", ourTimeout,
		"--kubeconfig", b.kc, "--crashloop-restarts", crashloopRestarts, "--image-pull-grace", imagePullGrace, "--unschedulable-grace", unschedulableGrace}
	cmd := exec.CommandContext(ctx, b.cli, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv("RUNNER_TEMP="+dir, "GITHUB_REPOSITORY="+pvOwner+"/"+pvName, "GITHUB_EVENT_NAME=pull_request",
		"GITHUB_EVENT_PATH="+path, "GITHUB_API_URL="+b.gh.URL)
	tr.note("%s: pull_request %s; erlmcp-deploy preview --manifests <release> --image %s --images %s=%s --namespace-prefix %s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s",
		st.id, st.action, st.erlmcp, dashRepo, st.dash, pvPrefix, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	w.begin(pvServing(i), st.images())
	var mu sync.Mutex
	so.start = time.Now()
	err = runLines(cmd, func(l line) {
		tr.add(l)
		mu.Lock()
		defer mu.Unlock()
		so.readLine(l)
	})
	so.end = time.Now()
	tr.note("exit: %v", err)
	if so.verdict == "" {
		so.verdict = "failed"
		so.reason = fmt.Sprintf("no status output (exit: %v)", err)
	}
	return so
}

// runKubectl is the peer: what a hand-written preview workflow runs, as
// kubectl processes with the admin kubeconfig. Opened: `kubectl create
// namespace`, then every push: `kubectl apply -n <ns> -f <dir>` (the images
// written into the files) and `kubectl rollout status` of each Deployment in
// turn (timeout 60 s); when one fails, `kubectl rollout undo` of both and
// `kubectl rollout status` of both, as the releases peer does. Closed:
// `kubectl delete namespace --wait`.
func (b *pvBench) runKubectl(ctx context.Context, number, round int) (o pvOutcome) {
	o = pvOutcome{tool: "kubectl", ns: fmt.Sprintf("%s%d", pvPeerPrefix, number), number: number, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	b.life(ctx, &o, tr, func(w *pvWatcher, i int) pvStepOutcome { return b.kubectlStep(ctx, w, tr, o.ns, i) })
	return o
}

func (b *pvBench) kubectlStep(ctx context.Context, w *pvWatcher, tr *transcript, ns string, i int) (so pvStepOutcome) {
	st := pvSteps[i]
	var mu sync.Mutex
	k := kubectlRunner(ctx, b.kubectl, b.c.Kubeconfig, tr)
	failLine := func(l line) {
		mu.Lock()
		defer mu.Unlock()
		if so.failLine.IsZero() && strings.Contains(l.text, "error:") {
			so.failLine = l.at
		}
	}
	tr.note("%s: pull_request %s", st.id, st.action)
	w.begin(pvServing(i), st.images())
	so.start = time.Now()
	commandsOK, rolledOut, undone := true, false, false
	switch {
	case st.close:
		commandsOK = k(nil, "delete", "namespace", ns, "--wait=true") == nil
		rolledOut = true // nothing to roll out
	default:
		if i == 0 {
			commandsOK = k(nil, "create", "namespace", ns) == nil
		}
		commandsOK = commandsOK && k(nil, "-n", ns, "apply", "-f", b.peer[st.id]) == nil
		if !commandsOK {
			break
		}
		rolledOut = true
		for _, d := range relDeploys {
			if k(failLine, "-n", ns, "rollout", "status", "deployment/"+d.name, "--timeout="+kubectlStatusTimeout) != nil {
				mu.Lock()
				if so.failLine.IsZero() {
					so.failLine = time.Now()
				}
				mu.Unlock()
				rolledOut = false
				break
			}
		}
		if !rolledOut {
			undone = true
			for _, d := range relDeploys {
				undone = k(nil, "-n", ns, "rollout", "undo", "deployment/"+d.name) == nil && undone
			}
			for _, d := range relDeploys {
				undone = k(nil, "-n", ns, "rollout", "status", "deployment/"+d.name, "--timeout=2m") == nil && undone
			}
		}
	}
	so.end = time.Now()
	so.verdict = peerVerdict(commandsOK, rolledOut, undone)
	return so
}

// pvTimes is what the watcher saw during one step, on the bench's clock.
type pvTimes struct {
	created  time.Time // the Namespace appeared
	applied  time.Time // first event with a Deployment's generation above its value at the step's start (or created)
	complete time.Time // both Deployments serving the step's images
	back     time.Time // both Deployments serving the previous push's images again, after being seen off them
	deleting time.Time // the Namespace's deletionTimestamp set
	gone     time.Time // the Namespace deleted
}

func (t pvTimes) describe(start time.Time) string {
	return fmt.Sprintf("namespace created %s, applied %s, step's images serving %s, previous images serving again %s, namespace deleting %s, gone %s",
		rel(start, t.created), rel(start, t.applied), rel(start, t.complete), rel(start, t.back), rel(start, t.deleting), rel(start, t.gone))
}

// pvWatcher is the independent observer of one pull request's namespace for
// its whole life: its own watches (informers) of the Namespace, and of the
// namespace's Deployments and pods, started before the namespace exists.
// begin starts a step: the times are reset and the generations taken.
type pvWatcher struct {
	setWatch
	active     bool
	prev, next map[string]string
	t          pvTimes
}

func watchPreview(ctx context.Context, client kubernetes.Interface, ns string, logf func(string, ...any)) (*pvWatcher, error) {
	w := &pvWatcher{}
	w.init(ns, logf)
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	if err := w.watchSet(f, w.observe); err != nil {
		return nil, err
	}
	nf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ns).String()
	}))
	ni := nf.Core().V1().Namespaces().Informer()
	if _, err := ni.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.namespace(time.Now(), o, false) },
		UpdateFunc: func(_, o any) { w.namespace(time.Now(), o, false) },
		DeleteFunc: func(o any) { w.namespace(time.Now(), o, true) },
	}); err != nil {
		return nil, err
	}
	if err := w.start(ctx, f, nf); err != nil {
		return nil, err
	}
	if _, exists, _ := ni.GetStore().GetByKey(ns); exists {
		w.Stop()
		return nil, fmt.Errorf("watch %s: the namespace exists before the pull request is opened", ns)
	}
	return w, nil
}

// begin starts a step: prev serves (nil: nothing yet), next is what the
// step deploys (nil: close); every time is reset.
func (w *pvWatcher) begin(prev, next map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active, w.prev, w.next, w.left, w.t = true, prev, next, map[string]bool{}, pvTimes{}
	w.startGen = map[string]int64{}
	for _, d := range relDeploys {
		if obj, ok, _ := w.deploys.GetByKey(w.ns + "/" + d.name); ok {
			w.startGen[d.name] = obj.(*appsv1.Deployment).Generation
		}
	}
}

// namespace records the Namespace's creation, its deletion's start and its end.
func (w *pvWatcher) namespace(now time.Time, o any, deleted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active {
		return
	}
	ns, _ := o.(*corev1.Namespace)
	switch {
	case deleted:
		if w.t.gone.IsZero() {
			w.t.gone = now
			w.logf("watcher: namespace %s deleted", w.ns)
		}
	case ns != nil && ns.DeletionTimestamp != nil:
		if w.t.deleting.IsZero() {
			w.t.deleting = now
			w.logf("watcher: namespace %s terminating", w.ns)
		}
	case ns != nil && w.t.created.IsZero():
		w.t.created = now
		w.logf("watcher: namespace %s created", w.ns)
	}
	w.signal()
}

// observe re-evaluates on every event of the Deployments and pods.
func (w *pvWatcher) observe(now time.Time, o any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active || w.next == nil {
		return
	}
	deps, ok := w.event(o, w.prev, w.next)
	if !ok {
		return
	}
	if w.t.applied.IsZero() {
		first := w.changedDeployment(deps)
		if first == "" {
			return
		}
		w.t.applied = now
		w.logf("watcher: first change of the release: %s", first)
	}
	w.seeOff(deps, w.prev)
	left := true
	for name := range deps {
		left = left && (w.prev == nil || w.prev[name] == w.next[name] || w.left[name])
	}
	if w.t.complete.IsZero() && w.allServe(deps, w.next) {
		w.t.complete = now
	}
	if w.t.back.IsZero() && w.prev != nil && left && w.allServe(deps, w.prev) {
		w.t.back = now
	}
	w.signal()
}

func (w *pvWatcher) times() pvTimes {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

// settle waits up to a minute for the watcher to see cond: the end state the tool claims.
func (w *pvWatcher) settle(cond func(pvTimes) bool) {
	w.await(func() bool { return cond(w.times()) })
}

// pvStat is "median (runs: …)" of to - from over step i of runs, in round order.
func pvStat(runs []pvOutcome, i int, from, to func(pvStepOutcome) time.Time, noStart string) string {
	steps := make([]pvStepOutcome, len(runs))
	for j, o := range runs {
		steps[j] = o.step(i)
	}
	return runStat(steps, func(s pvStepOutcome) error { return s.err }, from, to, noStart)
}

// pvVerdicts renders the verdicts of step i ("`up` ×3 ✓"), judged against
// the step's expected status when judged.
func pvVerdicts(runs []pvOutcome, i int, judged bool) string {
	rs := make([]ran, len(runs))
	for j, o := range runs {
		s := o.step(i)
		rs[j] = ran{verdict: s.verdict, err: s.err, correct: s.verdict == pvSteps[i].expected}
	}
	return tally(rs, true, judged)
}

// previewsMarkdown renders the section.
func (r report) previewsMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	interleaved := " (only this section ran)"
	if len(r.cases) > 0 || r.releases || r.canary || r.waves {
		interleaved = "; each round of this section runs right after the same round of the sections above, in the same cluster"
	}
	peerName := "hand-written kubectl workflow (not run)"
	if r.kubectl {
		peerName = "hand-written kubectl workflow, same rounds"
	}
	w("\n## Previews\n\n")
	w("One pull request's life, from its opening to its close, by `erlmcp-deploy preview` and by the kubectl commands of a hand-written "+
		"preview workflow: %s, in each a fresh pull request (#%d in round 0, #%d in round 1, …) run once by each tool, one after the other, "+
		"the order rotated each round%s. Each tool's preview has a namespace of its own (`%s<number>` and `%s<number>`). "+
		"The release is the one of the section above: the 10 objects of `examples/kubernetes/erlmcp` copied without their `namespace:` lines, "+
		"the same files for both tools. The life: (1) **opened**: erlmcp `pr-1` and the dashboard the manifests' `1.0.0`, in a namespace "+
		"that does not exist yet; (2) **a good push** (`synchronize`): erlmcp `pr-2`; (3) **a doomed push** (`synchronize`): erlmcp `pr-3` "+
		"(a good image) and the dashboard `pr-3-fault-imagepull` (not found); the previous push must serve again; (4) **closed** (merged): "+
		"the namespace deleted.\n\n",
		r.roundCount(), pvFirstPull, pvFirstPull+1, interleaved, pvPrefix, pvPeerPrefix)
	w("- **erlmcp-deploy**: the CLI built from this tree, one process per event, as the action runs it on `pull_request`: "+
		"`GITHUB_EVENT_NAME=pull_request`, `GITHUB_EVENT_PATH` the event's payload (action, number, head commit), `GITHUB_REPOSITORY=%s/%s`, "+
		"`GITHUB_API_URL` an in-process GitHub fake (`internal/githubfake`, the stateful fake of GitHub's REST API, not a peer), and "+
		"`erlmcp-deploy preview --manifests <dir> --image <erlmcp image> --images %s=<dashboard image> --url-template %s --github-token … "+
		"--namespace-prefix %s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s` (the same flags on every "+
		"event; `down` reads no image), with the preview deployer's kubeconfig (`cluster.PreviewDeployer`, the ClusterRole of "+
		"`examples/kubernetes/rbac-preview.yaml`). On opened and synchronize it creates the namespace (labelled as the pull request's preview) "+
		"with a ResourceQuota and a LimitRange and waits until the quota is in force, deploys the release with the apply engine (a doomed "+
		"push restores the previous one), records a GitHub deployment and writes the pull request's one comment; on closed it deletes the "+
		"namespace and waits until it is gone, then marks the deployments inactive and edits the comment. Its verdict is its `status` "+
		"output, read from the `outputs:` block it prints: a correct tool says `up`, `up`, `failed`, `down`.\n",
		pvOwner, pvName, dashRepo, pvURLTemplate, pvPrefix, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	w("- **kubectl** (the peer: what a hand-written preview workflow runs today, each command a process of its own, admin kubeconfig, the "+
		"push's images written into the files): opened: `kubectl create namespace <ns>`; opened and each push: `kubectl apply -n <ns> -f <dir>`, "+
		"then `kubectl rollout status deployment/erlmcp --timeout=%[1]s` and `kubectl rollout status deployment/erlmcp-dashboard --timeout=%[1]s` "+
		"in turn; when one fails, `kubectl rollout undo` of both Deployments and `kubectl rollout status` of both (as the peer of the section "+
		"above); closed: `kubectl delete namespace <ns> --wait=true`. No quota, no GitHub deployment, no comment. Its verdict: `succeeded` "+
		"when every command succeeded; `failed` when a rollout status failed (`failed, undone` when the undo's rollout statuses then "+
		"succeeded) or another command failed. Not judged: a hand-written workflow has no verdict of its own.\n", kubectlStatusTimeout)
	w("- **Times** are measured by the bench's own watcher: informers, started before the pull request is opened, on the Namespace " +
		"(by name) and on the namespace's Deployments and pods, events timestamped on arrival, on the same clock as the tools' output " +
		"lines (read from a pipe, timestamped on arrival). From the moment of the change: **namespace created** (the watcher's first " +
		"event of the Namespace: the start of the opened step in the cluster), **the apply** (a push: the first event in which a " +
		"Deployment's generation is above its value before the step), **deletion** (close: the first event of the Namespace with its " +
		"`deletionTimestamp` set). To: *the release serving* / *the new images serving* (both Deployments' templates on the step's images, " +
		"observedGeneration current, updated == available == desired, and that many Ready pods of the image not being deleted), *the " +
		"previous images serving again* (the same for the previous push's images, after both Deployments were seen off them), *namespace " +
		"gone* (the watcher's delete event of the Namespace), or the tool's failure line as it arrived (erlmcp-deploy: `revision N of " +
		"release erlmcp failed: …`; kubectl: its first `error:` line, the dashboard's rollout status timing out). **Wall time** is from the " +
		"start of the tool's first process of the step to the exit of its last. Opened, from the namespace created, includes for " +
		"erlmcp-deploy its LimitRange and ResourceQuota and its wait until the quota is in force. Closed: both tools only ask for " +
		"the deletion and wait; the time to gone is the namespace controller's (deleting the namespace's content, the simulated " +
		"kubelet ending its pods), the same work for both. Cells: **median** (every run, in round order).\n\n")

	peer := r.pvTheirs
	kc := func(s string) string {
		if !r.kubectl {
			return "not run"
		}
		return s
	}
	start := func(s pvStepOutcome) time.Time { return s.start }
	end := func(s pvStepOutcome) time.Time { return s.end }
	created := func(s pvStepOutcome) time.Time { return s.created }
	applied := func(s pvStepOutcome) time.Time { return s.applied }
	complete := func(s pvStepOutcome) time.Time { return s.complete }
	back := func(s pvStepOutcome) time.Time { return s.back }
	fail := func(s pvStepOutcome) time.Time { return s.failLine }
	deleting := func(s pvStepOutcome) time.Time { return s.deleting }
	gone := func(s pvStepOutcome) time.Time { return s.gone }
	for i, st := range pvSteps {
		row := func(what string, from, to func(pvStepOutcome) time.Time, noStart string) {
			w("| %s | %s | %s |\n", what, pvStat(r.pvOurs, i, from, to, noStart), kc(pvStat(peer, i, from, to, noStart)))
		}
		w("### %d. %s\n\n| measured | erlmcp-deploy preview | %s |\n| --- | --- | --- |\n", i+1, st.title, peerName)
		w("| verdict (a correct tool says `%s`) | %s | %s |\n", st.expected, pvVerdicts(r.pvOurs, i, true), kc(pvVerdicts(peer, i, false)))
		switch {
		case i == 0:
			row("namespace created (watcher) → the release serving in it (watcher)", created, complete, "no namespace seen")
			row("start of the tool → the release serving (watcher)", start, complete, "no start")
		case st.close:
			row("deletion (watcher: `deletionTimestamp` set) → namespace gone (watcher)", deleting, gone, "no deletion seen")
		case !st.doomed:
			row("apply → the new images serving (watcher)", applied, complete, "no apply seen")
		default:
			row("apply → failure line (erlmcp-deploy: `revision N of release erlmcp failed: …`; kubectl: the dashboard's rollout status `error: timed out waiting for the condition`)",
				applied, fail, "no apply seen")
			row("apply → the previous push's images serving again (watcher; kubectl: after `rollout undo` of both)", applied, back, "no apply seen")
			w("| the tool's own `rolled back in …` | %s | %s |\n",
				rolledBackStat(r.pvOurs, func(o pvOutcome) error { return o.step(i).err }, func(o pvOutcome) time.Duration { return o.step(i).rolledBackIn }),
				kc("— (no such step)"))
		}
		row("wall time of the tool", start, end, "no start")
		w("\n")
	}
	var wrong []string
	for _, o := range r.pvOurs {
		for i, st := range pvSteps {
			s := o.step(i)
			switch {
			case s.err != nil:
				wrong = append(wrong, fmt.Sprintf("- erlmcp-deploy, pull request #%d, %s (`%s`): bench error: %v", o.number, st.id, o.ns, s.err))
			case s.verdict != st.expected:
				wrong = append(wrong, fmt.Sprintf("- erlmcp-deploy, pull request #%d, %s (`%s`): `%s`, expected `%s`: %s", o.number, st.id, o.ns, s.verdict, st.expected, s.reason))
			}
		}
	}
	for _, o := range peer {
		for i, st := range pvSteps {
			if s := o.step(i); s.err != nil {
				wrong = append(wrong, fmt.Sprintf("- kubectl, pull request #%d, %s (`%s`): bench error: %v", o.number, st.id, o.ns, s.err))
			}
		}
	}
	if len(wrong) > 0 {
		w("Runs with the wrong verdict or not measured:\n\n%s\n", strings.Join(wrong, "\n"))
	}
	return b.String()
}

// pvErrors are the section's bench errors, one per step that could not be measured.
func pvErrors(runs []pvOutcome) []string {
	var errs []string
	for _, o := range runs {
		for i, st := range pvSteps {
			if s := o.step(i); s.err != nil {
				errs = append(errs, fmt.Sprintf("%s preview #%d %s (%s): %v", o.tool, o.number, st.id, o.ns, s.err))
			}
		}
	}
	return errs
}
