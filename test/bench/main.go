// Command bench measures erlmcp-deploy against `kubectl rollout status` +
// `kubectl rollout undo` on the local cluster and writes BENCHMARKS.md.
//
//	go run ./test/bench [-out BENCHMARKS.md] [-runs 5]
//
// Every time is measured from the same clock by an independent watcher of the
// pods and the Deployment, not taken from the tool's own report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const (
	good     = "ghcr.io/acme/erlmcp:1.0.0"
	deadline = 30 // progressDeadlineSeconds of the benchmark Deployment
)

func main() {
	out := flag.String("out", "BENCHMARKS.md", "markdown file to write")
	runs := flag.Int("runs", 5, "runs per scenario")
	flag.Parse()
	if err := run(*out, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type sample struct {
	detect  time.Duration // first doomed pod status → failure reported
	recover time.Duration // change → previous revision available again
	report  time.Duration // healthy: Deployment complete → success reported
}

func run(out string, runs int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	c, err := testcluster.New(ctx, testcluster.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	defer c.Stop()
	kubectl, kerr := exec.LookPath("kubectl")

	var rows [][]string
	for _, fault := range []string{"fault-imagepull", "fault-crashloop"} {
		var ours, theirs []sample
		for i := 0; i < runs; i++ {
			s, err := oursFailure(ctx, c, fmt.Sprintf("ours-%s-%d", fault, i), fault)
			if err != nil {
				return err
			}
			ours = append(ours, s)
			fmt.Fprintf(os.Stderr, "erlmcp-deploy %s run %d: detect %s, recover %s\n", fault, i, s.detect, s.recover)
		}
		row := []string{"bad image (`" + fault + "`): failure reported after the first failing pod status", "≤ 2 s",
			stat(ours, func(s sample) time.Duration { return s.detect })}
		row2 := []string{"bad image (`" + fault + "`): change → previous revision available again", "≤ 10 s",
			stat(ours, func(s sample) time.Duration { return s.recover })}
		if kerr == nil {
			for i := 0; i < min(runs, 2); i++ { // each kubectl run waits the whole progress deadline
				s, err := kubectlFailure(ctx, c, kubectl, fmt.Sprintf("kubectl-%s-%d", fault, i), fault)
				if err != nil {
					return err
				}
				theirs = append(theirs, s)
				fmt.Fprintf(os.Stderr, "kubectl %s run %d: detect %s, recover %s\n", fault, i, s.detect, s.recover)
			}
			row = append(row, stat(theirs, func(s sample) time.Duration { return s.detect }))
			row2 = append(row2, stat(theirs, func(s sample) time.Duration { return s.recover }))
		} else {
			row, row2 = append(row, "kubectl not installed"), append(row2, "kubectl not installed")
		}
		rows = append(rows, row, row2)
	}
	var healthy []sample
	for i := 0; i < runs; i++ {
		s, err := oursHealthy(ctx, c, fmt.Sprintf("healthy-%d", i))
		if err != nil {
			return err
		}
		healthy = append(healthy, s)
	}
	rows = append(rows, []string{"healthy rollout: deploy returned success after the Deployment is complete", "≤ 1 s",
		stat(healthy, func(s sample) time.Duration { return s.report }), "—"})
	if kerr == nil {
		var theirs []sample
		for i := 0; i < min(runs, 2); i++ {
			s, err := kubectlHealthy(ctx, c, kubectl, fmt.Sprintf("kubectl-healthy-%d", i))
			if err != nil {
				return err
			}
			theirs = append(theirs, s)
		}
		rows[len(rows)-1][3] = stat(theirs, func(s sample) time.Duration { return s.report })
	}
	for _, extra := range []func(context.Context) ([][]string, error){benchLoadGate, benchBinaries, benchReleaseCalls} {
		more, err := extra(ctx)
		if err != nil {
			return err
		}
		rows = append(rows, more...)
	}
	return writeMarkdown(out, runs, rows, kerr == nil)
}

func stat(ss []sample, f func(sample) time.Duration) string {
	if len(ss) == 0 {
		return "—"
	}
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = f(s)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return fmt.Sprintf("%s (max %s, n=%d)", ds[len(ds)/2].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond), len(ds))
}

// setup creates a namespace with a 3-replica Deployment serving the good image.
func setup(ctx context.Context, c *testcluster.Cluster, ns string) error {
	d := testcluster.Deployment("erlmcp", good, 3)
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(deadline))
	return c.CreateAvailable(ctx, ns, d)
}

func waitAvailable(ctx context.Context, client kubernetes.Interface, ns, image string) error {
	return wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		_, done, _ := rollout.DeploymentStatus(d)
		return done && d.Spec.Template.Spec.Containers[0].Image == image, nil
	})
}

// observer records, on its own clock, the first doomed pod status and the
// moment the Deployment is complete on the given image.
type observer struct {
	mu        sync.Mutex
	firstBad  time.Time
	completed map[string]time.Time
}

func observe(ctx context.Context, client kubernetes.Interface, ns string) (*observer, error) {
	o := &observer{completed: map[string]time.Time{}}
	pw, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	dw, err := client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range pw.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
				if rollout.DoomedPod(p, nil, time.Now(), rollout.Options{FailFast: true}) != nil {
					o.mu.Lock()
					if o.firstBad.IsZero() {
						o.firstBad = time.Now()
					}
					o.mu.Unlock()
				}
			}
		}
	}()
	go func() {
		for ev := range dw.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok {
				if _, done, _ := rollout.DeploymentStatus(d); done {
					o.mu.Lock()
					img := d.Spec.Template.Spec.Containers[0].Image
					if _, seen := o.completed[img+"@"+d.Annotations["deployment.kubernetes.io/revision"]]; !seen {
						o.completed[img+"@"+d.Annotations["deployment.kubernetes.io/revision"]] = time.Now()
					}
					o.mu.Unlock()
				}
			}
		}
	}()
	return o, nil
}

func (o *observer) bad() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.firstBad
}

func (o *observer) done(image, rev string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.completed[image+"@"+rev]
}

func oursFailure(ctx context.Context, c *testcluster.Cluster, ns, fault string) (sample, error) {
	if err := setup(ctx, c, ns); err != nil {
		return sample{}, err
	}
	o, err := observe(ctx, c.Client, ns)
	if err != nil {
		return sample{}, err
	}
	dp := &deploy.Deployer{Client: c.Client, Log: ui.Discard{}}
	start := time.Now()
	res, err := dp.Run(ctx, deploy.Options{Environment: "bench", Namespace: ns, Deployment: "erlmcp", Image: "ghcr.io/acme/erlmcp:2.0.0-" + fault,
		Timeout: 5 * time.Minute, FailFast: true, RollbackOnFailure: true, ChangeCause: "bench", Holder: "bench", BackupDir: os.TempDir()})
	if res.Status != deploy.StatusRolledBack {
		return sample{}, fmt.Errorf("%s: expected a rollback, got %s: %v", ns, res.Status, err)
	}
	reported := start.Add(res.TimeToVerdict)
	if err := waitAvailable(ctx, c.Client, ns, good); err != nil {
		return sample{}, err
	}
	back := o.done(good, "3")
	if back.IsZero() {
		back = time.Now()
	}
	return sample{detect: reported.Sub(o.bad()), recover: back.Sub(start)}, nil
}

func kubectlFailure(ctx context.Context, c *testcluster.Cluster, kubectl, ns, fault string) (sample, error) {
	if err := setup(ctx, c, ns); err != nil {
		return sample{}, err
	}
	o, err := observe(ctx, c.Client, ns)
	if err != nil {
		return sample{}, err
	}
	k := func(args ...string) error {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "-n", ns}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	start := time.Now()
	if err := k("set", "image", "deployment/erlmcp", "erlmcp=ghcr.io/acme/erlmcp:2.0.0-"+fault); err != nil {
		return sample{}, err
	}
	if err := k("rollout", "status", "deployment/erlmcp", "--timeout=5m"); err == nil {
		return sample{}, fmt.Errorf("kubectl rollout status succeeded on a bad image")
	}
	reported := time.Now()
	if err := k("rollout", "undo", "deployment/erlmcp"); err != nil {
		return sample{}, err
	}
	if err := k("rollout", "status", "deployment/erlmcp", "--timeout=5m"); err != nil {
		return sample{}, err
	}
	back := o.done(good, "3")
	if back.IsZero() {
		back = time.Now()
	}
	return sample{detect: reported.Sub(o.bad()), recover: back.Sub(start)}, nil
}

func oursHealthy(ctx context.Context, c *testcluster.Cluster, ns string) (sample, error) {
	if err := setup(ctx, c, ns); err != nil {
		return sample{}, err
	}
	o, err := observe(ctx, c.Client, ns)
	if err != nil {
		return sample{}, err
	}
	dp := &deploy.Deployer{Client: c.Client, Log: ui.Discard{}}
	const next = "ghcr.io/acme/erlmcp:1.1.0"
	if _, err := dp.Run(ctx, deploy.Options{Environment: "bench", Namespace: ns, Deployment: "erlmcp", Image: next,
		Timeout: 5 * time.Minute, FailFast: true, RollbackOnFailure: true, ChangeCause: "bench", Holder: "bench", BackupDir: os.TempDir()}); err != nil {
		return sample{}, err
	}
	reported := time.Now() // the deploy has returned: success is reported
	complete := o.done(next, "2")
	if complete.IsZero() {
		return sample{}, fmt.Errorf("%s: the observer never saw the rollout complete", ns)
	}
	return sample{report: reported.Sub(complete)}, nil
}

// kubectlHealthy is `kubectl set image` + `kubectl rollout status` on a good image.
func kubectlHealthy(ctx context.Context, c *testcluster.Cluster, kubectl, ns string) (sample, error) {
	if err := setup(ctx, c, ns); err != nil {
		return sample{}, err
	}
	o, err := observe(ctx, c.Client, ns)
	if err != nil {
		return sample{}, err
	}
	const next = "ghcr.io/acme/erlmcp:1.1.0"
	for _, args := range [][]string{{"set", "image", "deployment/erlmcp", "erlmcp=" + next}, {"rollout", "status", "deployment/erlmcp", "--timeout=5m"}} {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "-n", ns}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return sample{}, fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
		}
	}
	reported := time.Now()
	complete := o.done(next, "2")
	if complete.IsZero() {
		return sample{}, fmt.Errorf("%s: the observer never saw the rollout complete", ns)
	}
	return sample{report: reported.Sub(complete)}, nil
}

func writeMarkdown(path string, runs int, rows [][]string, haveKubectl bool) error {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\nGenerated by `make bench` (`go run ./test/bench`); do not edit by hand.\n\n")
	fmt.Fprintf(&b, "| measurement | target | erlmcp-deploy (median) | peer, same run: kubectl rollout status + undo / wrk |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	fmt.Fprintf(&b, `
## Method

- Cluster: the local control plane of `+"`internal/testcluster`"+` (etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler v1.37.2, kwok v0.8.0 on loopback); a 3-replica Deployment, rolling update maxSurge 1 / maxUnavailable 0,
  `+"`progressDeadlineSeconds: %d`"+`. A bad release is an image-only change to a fault tag.
- erlmcp-deploy runs in-process (the same engine as the action) with fail-fast and rollback-on-failure; kubectl is
  `+"`kubectl set image`"+` then `+"`kubectl rollout status`"+` (it returns only at the progress deadline) then `+"`kubectl rollout undo`"+`
  and `+"`kubectl rollout status`"+`.
- An independent watcher (its own pod and Deployment watches) timestamps the first doomed pod status and the moment the
  Deployment is complete again; "failure reported" is when the tool gave its verdict. %d runs per erlmcp-deploy scenario%s.
- Load gate: closed loop, 10 connections, 5 s against an in-process erlmcp-like /health/live, then `+"`wrk -t2 -c10 -d5s --latency`"+`
  against the same endpoint (wrk prints no p95: its p90 is shown). Both share this 2-core machine with the server.
- Times are taken by an independent watcher on the same clock as the tools' verdicts; a tool can see a status a few
  milliseconds before that watcher does, so a single run can show a small negative figure.
- Release API calls: the release-notes engine against the in-process GitHub fake (internal/githubfake), counted there.
- Machine: %s/%s, %d CPUs, %s.
`, deadline, runs, map[bool]string{true: ", 2 per kubectl scenario (each waits the full deadline)", false: "; kubectl was not installed"}[haveKubectl],
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
