package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// Graces given to erlmcp-deploy in every case (the same for all, as a user's config would be).
const (
	crashloopRestarts  = "2"
	imagePullGrace     = "20s"
	unschedulableGrace = "20s"
	ourTimeout         = "3m"
)

// outcome is one release run by one tool.
type outcome struct {
	tool    string // "ours" or "kubectl"
	bc      benchCase
	ns      string
	round   int
	verdict string // succeeded | rolled-back | failed
	reason  string // erlmcp-deploy's failure-reason output

	// On the bench's clock: the watcher's patch, previous version serving
	// again and new version complete; the tool's lines as they arrived.
	patched, back, complete time.Time
	crashed                 time.Time // the watcher's first crash of a pod of the new image
	cause                   string    // erlmcp-deploy's failure-cause output
	failLine, successLine   time.Time
	err                     error // the bench's own trouble (setup, exec), not a verdict
	log                     string
}

func (o outcome) correct() bool { return o.verdict == o.bc.expected() }

func since(from, to time.Time) (time.Duration, bool) {
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	return to.Sub(from), true
}

// line is one line of a tool's output, timestamped when the bench read it.
type line struct {
	at   time.Time
	text string
}

// runLines starts cmd with stdout and stderr on one pipe and calls each for
// every line as it arrives; it returns when the command has exited and its
// output is drained.
func runLines(cmd *exec.Cmd, each func(line)) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	w.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			each(line{at: time.Now(), text: sc.Text()})
		}
		r.Close()
	}()
	err = cmd.Wait()
	wg.Wait()
	return err
}

// transcript keeps a tool's lines for the log file, relative to a start.
type transcript struct {
	mu    sync.Mutex
	start time.Time
	b     strings.Builder
}

func newTranscript() *transcript { return &transcript{start: time.Now()} }

func (t *transcript) add(l line) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.b, "%9.3fs  %s\n", l.at.Sub(t.start).Seconds(), l.text)
}

func (t *transcript) note(format string, args ...any) {
	t.add(line{at: time.Now(), text: "## " + fmt.Sprintf(format, args...)})
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// cleanEnv is the bench's environment without anything that would make the
// CLI think it runs in GitHub Actions or take inputs from the environment.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GITHUB_") || strings.HasPrefix(kv, "INPUT_") || strings.HasPrefix(kv, "RUNNER_") ||
			strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "ACTIONS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runOurs runs `erlmcp-deploy deploy` as a subprocess with the deployer's
// least-privilege kubeconfig, while the watcher observes.
func runOurs(ctx context.Context, c *testcluster.Cluster, cli string, bc benchCase, ns string, round int) (o outcome) {
	o = outcome{tool: "ours", bc: bc, ns: ns, round: round}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	id, err := c.Deployer(ctx, ns)
	if err != nil {
		o.err = err
		return o
	}
	kc, err := os.ReadFile(id.Kubeconfig)
	if err != nil {
		o.err = err
		return o
	}
	w, err := watch(ctx, c.Client, ns, prevImage, bc.image, tr.note)
	if err != nil {
		o.err = err
		return o
	}
	defer w.Stop()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var scaled <-chan error
	if bc.scaleUp {
		scaled = autoscaler(actx, c, ns, bc.image)
	}
	dir, err := os.MkdirTemp("", "erlmcp-bench-cli-")
	if err != nil {
		o.err = err
		return o
	}
	defer os.RemoveAll(dir)
	args := []string{"deploy", "--environment", "bench", "--namespace", ns, "--deployment", "erlmcp", "--image", bc.image,
		"--timeout", ourTimeout, "--kubeconfig", string(kc), "--crashloop-restarts", crashloopRestarts,
		"--image-pull-grace", imagePullGrace, "--unschedulable-grace", unschedulableGrace, "--change-cause", "bench " + bc.id}
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Dir = dir // no .github/erlmcp-deploy.yml here
	cmd.Env = cleanEnv("RUNNER_TEMP=" + dir)
	tr.note("erlmcp-deploy deploy --namespace %s --image %s --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s",
		ns, bc.image, ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace)
	failMark, successMark := "rollout of "+bc.image+" failed after", "is serving "+bc.image
	var mu sync.Mutex
	err = runLines(cmd, func(l line) {
		tr.add(l)
		mu.Lock()
		defer mu.Unlock()
		t := strings.TrimSpace(l.text)
		switch {
		case o.failLine.IsZero() && strings.Contains(t, failMark):
			o.failLine = l.at
		case o.successLine.IsZero() && strings.Contains(t, successMark):
			o.successLine = l.at
		case strings.HasPrefix(t, "status="):
			o.verdict = strings.TrimPrefix(t, "status=")
		case strings.HasPrefix(t, "failure-reason="):
			o.reason = strings.TrimPrefix(t, "failure-reason=")
		case strings.HasPrefix(t, "failure-cause="):
			o.cause = strings.TrimPrefix(t, "failure-cause=")
		}
	})
	tr.note("exit: %v", err)
	if o.verdict == "" {
		o.verdict = "failed"
		o.reason = fmt.Sprintf("no status output (exit: %v)", err)
	}
	finish(&o, w, tr, cancel, scaled)
	return o
}

// finish ends one run: the watcher settles on the tool's verdict, the
// autoscaler (if any) stops and reports, and the watcher's times are taken.
func finish(o *outcome, w *watcher, tr *transcript, cancel context.CancelFunc, scaled <-chan error) {
	settle(w, o.verdict)
	cancel()
	if scaled != nil {
		if serr := <-scaled; serr != nil && o.verdict == "succeeded" {
			o.err = fmt.Errorf("autoscaler: %w", serr)
		}
	}
	o.patched, o.back, o.complete = w.times()
	o.crashed = w.firstCrash()
	tr.note("watcher: patched %s, previous serving %s, new complete %s", rel(tr.start, o.patched), rel(tr.start, o.back), rel(tr.start, o.complete))
}

// settle waits briefly for the watcher to see the end state the tool claims.
func settle(w *watcher, verdict string) {
	w.waitFor(time.Minute, func(patched, back, complete time.Time) bool {
		switch verdict {
		case "rolled-back":
			return !back.IsZero()
		case "succeeded":
			return patched.IsZero() || !complete.IsZero()
		}
		return true
	})
}

// kubectlRunner returns k, the peer's way to run kubectl: a process of its
// own with kubeconfig and lead (say "-n", ns) before args, its command line
// (without the kubeconfig) and exit noted in tr, its lines added to tr and
// handed to each (when not nil).
func kubectlRunner(ctx context.Context, kubectl, kubeconfig string, tr *transcript, lead ...string) func(each func(line), args ...string) error {
	return func(each func(line), args ...string) error {
		args = append(append([]string{"--kubeconfig", kubeconfig}, lead...), args...)
		tr.note("kubectl %s", strings.Join(args[2:], " "))
		cmd := exec.CommandContext(ctx, kubectl, args...)
		cmd.Env = cleanEnv()
		err := runLines(cmd, func(l line) {
			tr.add(l)
			if each != nil {
				each(l)
			}
		})
		tr.note("exit: %v", err)
		return err
	}
}

func rel(start, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.3fs", t.Sub(start).Seconds())
}

// runKubectl is the peer: `kubectl set image`, `kubectl rollout status`
// (default progressDeadlineSeconds, 600 s), and on failure
// `kubectl rollout undo` + `kubectl rollout status`. settled is called once
// the release is either finished or waiting on its deadline.
func runKubectl(ctx context.Context, c *testcluster.Cluster, kubectl string, bc benchCase, ns string, settled func()) (o outcome) {
	o = outcome{tool: "kubectl", bc: bc, ns: ns}
	tr := newTranscript()
	defer func() { o.log = tr.String() }()
	w, err := watch(ctx, c.Client, ns, prevImage, bc.image, tr.note)
	if err != nil {
		o.err = err
		settled()
		return o
	}
	defer w.Stop()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var scaled <-chan error
	if bc.scaleUp {
		scaled = autoscaler(actx, c, ns, bc.image)
	}
	k := kubectlRunner(ctx, kubectl, c.Kubeconfig, tr, "-n", ns)
	if err := k(nil, "set", "image", "deployment/erlmcp", "erlmcp="+bc.image); err != nil {
		o.err = err
		settled()
		return o
	}
	go func() { // a healthy release settles when it is done, a doomed one once it waits on its deadline
		w.waitFor(45*time.Second, func(_, _, complete time.Time) bool { return !complete.IsZero() })
		settled()
	}()
	var mu sync.Mutex
	err = k(func(l line) {
		mu.Lock()
		defer mu.Unlock()
		switch t := l.text; {
		case o.failLine.IsZero() && strings.Contains(t, "error:"):
			o.failLine = l.at
		case o.successLine.IsZero() && strings.Contains(t, "successfully rolled out"):
			o.successLine = l.at
		}
	}, "rollout", "status", "deployment/erlmcp", "--timeout=15m")
	if err == nil {
		o.verdict = "succeeded"
	} else {
		if o.failLine.IsZero() {
			o.failLine = time.Now()
		}
		o.verdict = "failed"
		if k(nil, "rollout", "undo", "deployment/erlmcp") == nil && k(nil, "rollout", "status", "deployment/erlmcp", "--timeout=5m") == nil {
			o.verdict = "rolled-back"
		}
	}
	finish(&o, w, tr, cancel, scaled)
	return o
}

// saveLog writes an outcome's transcript to dir/<ns>.log.
func saveLog(dir string, o outcome) string {
	return writeLog(dir, o.ns, fmt.Sprintf("%s %s (%s, expected %s): verdict %s", o.tool, o.bc.id, o.bc.image, o.bc.expected(), o.verdict), o.log, o.err)
}

// writeLog writes one run's transcript to dir/<ns>.log under a heading line
// (and the bench's own error, if any) and returns its path.
func writeLog(dir, ns, heading, log string, err error) string {
	path := filepath.Join(dir, ns+".log")
	body := heading + "\n" + log
	if err != nil {
		body += "bench error: " + err.Error() + "\n"
	}
	_ = os.WriteFile(path, []byte(body), 0o644)
	return path
}
