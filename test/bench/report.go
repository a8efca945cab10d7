package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

type report struct {
	commit  string
	date    time.Time
	wall    time.Duration
	runs    int
	cases   []benchCase
	ours    [][]outcome // per case, one per round
	theirs  []outcome   // per case
	kubectl bool
	extras  [][]string
	partial bool

	releases           bool           // the manifest-release section ran
	relOurs, relTheirs [][]relOutcome // per relCases entry, one per round

	canary             bool           // the canary section ran
	canOurs, canTheirs [][]canOutcome // per canCases entry, one per round (kubectl: peer cases only)

	waves    bool            // the multi-cluster section ran
	waveRuns [][]waveOutcome // per waveCases entry, one per round

	previews         bool        // the preview section ran
	pvOurs, pvTheirs []pvOutcome // one pull request's life per round

	loadgate *lgSection // the load-gate section, when it ran
}

func (r report) benchErrors() []string {
	var errs []string
	add := func(o outcome) {
		if o.err != nil {
			errs = append(errs, fmt.Sprintf("%s %s (%s): %v", o.tool, o.bc.id, o.ns, o.err))
		}
	}
	for i := range r.cases {
		for _, o := range r.ours[i] {
			add(o)
		}
		if r.kubectl {
			add(r.theirs[i])
		}
	}
	if r.releases {
		for i := range relCases {
			for _, o := range append(append([]relOutcome(nil), r.relOurs[i]...), r.relTheirs[i]...) {
				if o.err != nil {
					errs = append(errs, fmt.Sprintf("%s release %s (%s): %v", o.tool, o.rc.id, o.ns, o.err))
				}
			}
		}
	}
	if r.canary {
		for i := range canCases {
			for _, o := range append(append([]canOutcome(nil), r.canOurs[i]...), r.canTheirs[i]...) {
				if o.err != nil {
					errs = append(errs, fmt.Sprintf("%s canary %s (%s): %v", o.tool, o.cc.id, o.ns, o.err))
				}
			}
		}
	}
	if r.previews {
		errs = append(errs, pvErrors(r.pvOurs)...)
		errs = append(errs, pvErrors(r.pvTheirs)...)
	}
	if r.loadgate != nil {
		errs = append(errs, r.loadgate.errors()...)
	}
	for _, runs := range r.waveRuns {
		for _, o := range runs {
			if o.err != nil {
				errs = append(errs, fmt.Sprintf("waves %s (%s): %v", o.wc.id, o.ns, o.err))
			}
		}
	}
	return errs
}

// verdicts renders the statuses of runs, e.g. "rolled-back ×3 ✓".
func verdicts(runs []outcome) string {
	rs := make([]ran, len(runs))
	for i, o := range runs {
		rs[i] = ran{verdict: o.verdict, err: o.err, correct: o.correct()}
	}
	return tally(rs, false, true)
}

// ran is one run as a verdict cell counts it.
type ran struct {
	verdict string
	err     error
	correct bool
}

// tally renders the verdicts of runs in the order first seen, each with its
// count ("rolled-back ×3"): quoted puts each in backticks (table-cell safe);
// judged adds " ✓" when every run was measured and correct, " **✗**" otherwise.
func tally(runs []ran, quoted, judged bool) string {
	count := map[string]int{}
	var order []string
	ok := true
	for _, o := range runs {
		v := o.verdict
		if o.err != nil {
			v = "bench error"
		}
		if count[v] == 0 {
			order = append(order, v)
		}
		count[v]++
		ok = ok && o.err == nil && o.correct
	}
	var parts []string
	for _, v := range order {
		p := v
		if quoted {
			p = "`" + cell(v) + "`"
		}
		if count[v] > 1 {
			p += fmt.Sprintf(" ×%d", count[v])
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "—"
	}
	s := strings.Join(parts, ", ")
	switch {
	case !judged:
	case ok:
		s += " ✓"
	default:
		s += " **✗**"
	}
	return s
}

// score counts, over measured runs: healthy not failed / healthy, doomed
// failed / doomed, doomed rolled back / doomed.
type score struct{ healthyOK, healthy, doomedFailed, doomedBack, doomed int }

func (s *score) add(o outcome) {
	if o.err != nil {
		return
	}
	if o.bc.doomed {
		s.doomed++
		if o.verdict != "succeeded" {
			s.doomedFailed++
		}
		if o.verdict == "rolled-back" {
			s.doomedBack++
		}
		return
	}
	s.healthy++
	if o.verdict == "succeeded" {
		s.healthyOK++
	}
}

func frac(n, d int) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%d/%d = %.0f %%", n, d, 100*float64(n)/float64(d))
}

// stat is "median (max, n)" of the durations that were measured.
func stat(ds []time.Duration, missing int) string {
	if len(ds) == 0 {
		if missing > 0 {
			return fmt.Sprintf("never (n=%d)", missing)
		}
		return "—"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	s := fmt.Sprintf("%s (max %s, n=%d)", fmtDur(ds[len(ds)/2]), fmtDur(ds[len(ds)-1]), len(ds))
	if missing > 0 {
		s += fmt.Sprintf(", never in %d", missing)
	}
	return s
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return fmt.Sprintf("%dm%04.1fs", int(d.Minutes()), (d % time.Minute).Seconds())
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// durations collects to-from over runs where the watcher saw the patch;
// missing counts those runs where to never came.
func durations(runs []outcome, to func(outcome) time.Time) (ds []time.Duration, missing int) {
	for _, o := range runs {
		if o.err != nil || o.patched.IsZero() {
			continue
		}
		if d, ok := since(o.patched, to(o)); ok {
			ds = append(ds, d)
		} else {
			missing++
		}
	}
	return ds, missing
}

func (r report) peer(i int) []outcome {
	if !r.kubectl {
		return nil
	}
	return []outcome{r.theirs[i]}
}

func (r report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\nGenerated by `make bench` (`go run ./test/bench`) at commit `%s` on %s; do not edit by hand. ",
		r.commit, r.date.Format("2006-01-02 15:04 MST"))
	w("Wall time of the whole run: %s.\n", r.wall.Round(time.Second))
	if r.partial {
		w("\n**Partial run (`-cases`): not every release of the matrix was measured.**\n")
	}
	peerName := "kubectl (1 run, all releases at once)"
	if !r.kubectl {
		peerName = "kubectl (not run)"
	}

	if len(r.cases) > 0 { // none when only the manifest-release section ran
		rounds := fmt.Sprintf("%d interleaved rounds", r.runs)
		if r.runs == 1 {
			rounds = "1 round"
		}
		w("\n## Verdicts\n\nThe `status` of each erlmcp-deploy run (%s) and of kubectl, against what a correct tool must say: "+
			"`rolled-back` for a doomed release (failed, and the previous version verified serving again), `succeeded` for a healthy one.\n\n", rounds)
		w("| release | expected | erlmcp-deploy | %s |\n| --- | --- | --- | --- |\n", peerName)
		var ours, theirs score
		for _, doomed := range []bool{true, false} {
			if doomed {
				w("| **doomed** | | | |\n")
			} else {
				w("| **healthy but noisy** | | | |\n")
			}
			for i, bc := range r.cases {
				if bc.doomed != doomed {
					continue
				}
				for _, o := range r.ours[i] {
					ours.add(o)
				}
				for _, o := range r.peer(i) {
					theirs.add(o)
				}
				w("| %s | %s | %s | %s |\n", bc.title, bc.expected(), verdicts(r.ours[i]), verdicts(r.peer(i)))
			}
		}
		w("\n| over all runs | erlmcp-deploy | %s |\n| --- | --- | --- |\n", peerName)
		w("| precision: healthy releases not failed / healthy releases | %s | %s |\n", frac(ours.healthyOK, ours.healthy), frac(theirs.healthyOK, theirs.healthy))
		w("| recall: doomed releases failed / doomed releases | %s | %s |\n", frac(ours.doomedFailed, ours.doomed), frac(theirs.doomedFailed, theirs.doomed))
		w("| doomed releases failed *and* the previous version verified serving again (`rolled-back`) | %s | %s |\n",
			frac(ours.doomedBack, ours.doomed), frac(theirs.doomedBack, theirs.doomed))

		w("\n## Time from the patch, doomed releases\n\nMedian (max, n), measured by the independent watcher from the moment it sees the Deployment's " +
			"template carry the new image: to the tool's failure line (erlmcp-deploy's `rollout of <image> failed after …`, kubectl's " +
			"`error: deployment \"erlmcp\" exceeded its progress deadline`), and to the previous version serving again.\n\n")
		w("| doomed release | erlmcp-deploy: → failure line | erlmcp-deploy: → previous version serving again | kubectl: → `rollout status` error | kubectl: → previous version serving again (after `rollout undo`) |\n")
		w("| --- | --- | --- | --- | --- |\n")
		fail := func(o outcome) time.Time { return o.failLine }
		back := func(o outcome) time.Time { return o.back }
		for i, bc := range r.cases {
			if !bc.doomed {
				continue
			}
			w("| %s | %s | %s | %s | %s |\n", bc.title, stat(durations(r.ours[i], fail)), stat(durations(r.ours[i], back)),
				stat(durations(r.peer(i), fail)), stat(durations(r.peer(i), back)))
		}

		w("\n## Time from the patch, healthy releases\n\nMedian (max, n) from the watcher's patch to the tool's success line " +
			"(erlmcp-deploy's `revision N is serving <image>`, kubectl's `successfully rolled out`), and to the new version complete as the watcher sees it. " +
			"A healthy release takes as long as its rollout: 3 pods replaced one at a time, each as slow as its tag makes it. " +
			"The kubectl releases ran together with the set-up of all the others, so their times include that contention.\n\n")
		w("| healthy release | erlmcp-deploy: → success line | watcher: → new version complete (erlmcp-deploy runs) | kubectl: → success line |\n")
		w("| --- | --- | --- | --- |\n")
		success := func(o outcome) time.Time { return o.successLine }
		complete := func(o outcome) time.Time { return o.complete }
		for i, bc := range r.cases {
			if bc.doomed {
				continue
			}
			if bc.image == prevImage {
				w("| %s | — (nothing to patch) | — | — |\n", bc.title)
				continue
			}
			w("| %s | %s | %s | %s |\n", bc.title, stat(durations(r.ours[i], success)), stat(durations(r.ours[i], complete)),
				stat(durations(r.peer(i), success)))
		}

		w("%s", r.firstCrashMarkdown())

		var wrong []string
		for i := range r.cases {
			for _, o := range append(append([]outcome(nil), r.ours[i]...), r.peer(i)...) {
				switch {
				case o.err != nil:
					wrong = append(wrong, fmt.Sprintf("- %s, %s (`%s`): bench error: %v", o.tool, o.bc.id, o.ns, o.err))
				case !o.correct():
					why := ""
					if o.reason != "" {
						why = ": " + o.reason
					}
					wrong = append(wrong, fmt.Sprintf("- %s, %s (`%s`): %s, expected %s%s", toolName(o.tool), o.bc.id, o.ns, o.verdict, o.bc.expected(), why))
				}
			}
		}
		if len(wrong) > 0 {
			w("\n### Runs with the wrong verdict\n\n%s\n", strings.Join(wrong, "\n"))
		}
	}
	w("%s", corpusMarkdown())
	if r.releases {
		w("%s", r.releasesMarkdown())
	}
	if r.previews {
		w("%s", r.previewsMarkdown())
	}
	if r.canary {
		w("%s", r.canaryMarkdown())
	}
	if r.waves {
		w("%s", r.wavesMarkdown())
	}

	if r.loadgate != nil {
		w("%s", r.loadgate.markdown())
	}
	if len(r.extras) > 0 {
		w("\n## Other measurements\n\n| measurement | target | erlmcp-deploy |\n| --- | --- | --- |\n")
		for _, row := range r.extras {
			w("| %s |\n", strings.Join(row, " | "))
		}
	}
	if len(r.cases) > 0 || r.releases || r.canary || r.waves || r.previews {
		w("%s", r.method())
	} else { // the load-gate section alone: no control plane ran
		w("\n## Method\n\n- **Machine:** %s/%s, %d CPUs, %s; shared with whatever else runs there (no control plane in this run).\n",
			runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	}
	return b.String()
}

func toolName(t string) string {
	if t == "ours" {
		return "erlmcp-deploy"
	}
	return t
}

func (r report) method() string {
	return fmt.Sprintf(`
## Method

- **Cluster.** The local control plane of `+"`internal/testcluster`"+`: etcd, kube-apiserver, kube-controller-manager
  (deployment, replicaset, resourcequota, disruption, garbage-collector, namespace controllers), kube-scheduler v1.37.2, and kwok v0.8.0
  playing the kubelet, all on loopback on this machine. Each run gets a namespace of its own holding the Deployment
  `+"`erlmcp`"+`: 3 replicas of `+"`%s`"+`, rolling update maxSurge 1 / maxUnavailable 0, `+"`progressDeadlineSeconds`"+` left at its
  default (600 s). A release is an image-only change; the image tag selects what the simulated kubelet does.
- **The simulated kubelet** (kwok stages, `+"`internal/testcluster/stages.yaml`"+`) keeps a real kubelet's timings: a crashed
  container is restarted after a back-off of 10 s doubling to 5 min (restartCount 1 at once, 2 at t≈10 s, 3 at t≈30 s,
  4 at t≈70 s …, `+"`CrashLoopBackOff`"+` from the first crash); a failed pull is retried on the same schedule (`+"`ErrImagePull`"+`,
  then `+"`ImagePullBackOff`"+`); messages are containerd's. `+"`crashonce`"+`/`+"`oomonce`"+` crash once and are Ready after the 10 s
  back-off; `+"`pull429-15s`"+` gets Docker Hub's 429 until t≈15 s; `+"`slowstart-5s`"+` is Ready at t≈5 s; `+"`fault-ratelimit`"+` gets the
  429 forever; `+"`fault-configerror`"+` is `+"`CreateContainerConfigError`"+` (secret not found).
- **Set-ups.** Long-serving pods: `+"`AgePods`"+` gives every serving container 7 restarts and an OOM kill an hour ago before the
  release. Unschedulable: a 1-replica Deployment pinned (nodeSelector) to a pool of one 32-CPU node, each pod asking for
  20 CPUs, so the surge pod fits nowhere; in the scale-up twin the bench plays cluster-autoscaler: a `+"`TriggeredScaleUp`"+` event
  on the pending pod, then a node joins the pool %.0f s later. Quota: a ResourceQuota of 3 pods (counted by the resourcequota
  controller before the release), so the surge pod is refused (`+"`FailedCreate`"+`, exceeded quota); with maxUnavailable 1 an
  old pod terminates first and frees room.
- **erlmcp-deploy** is the CLI built from this tree (`+"`go build ./cmd/erlmcp-deploy`"+`), run as a subprocess exactly as the
  action runs it: `+"`erlmcp-deploy deploy --kubeconfig <content> --timeout %s --crashloop-restarts %s --image-pull-grace %s --unschedulable-grace %s`"+`
  (fail-fast and rollback-on-failure at their defaults, on; the FailedCreate grace at its default, 30 s, and 2 s when no
  old pod is terminating), with the least-privilege identity of `+"`examples/kubernetes/rbac.yaml`"+`. Its verdict is its
  `+"`status`"+` output. %s The bench keeps a transcript of every run (the tool's lines and every status the watcher saw
  for the new pods, timestamped) in its `+"`-logs`"+` directory.
- **kubectl** (the peer, admin kubeconfig): `+"`kubectl set image`"+`, then `+"`kubectl rollout status`"+`; when that fails,
  `+"`kubectl rollout undo`"+` and `+"`kubectl rollout status`"+` again. Its verdict is `+"`succeeded`"+` when the first rollout status
  succeeds, `+"`rolled-back`"+` when it fails and the undo completes, else `+"`failed`"+`. One run per release; all kubectl releases
  start together at the beginning, in their own namespaces, and erlmcp-deploy's rounds start once they are patched
  (the doomed ones then only wait on their 600 s deadline).
- **Independent times.** The bench's own watcher (client-go informers on the run's Deployment and pods, events
  timestamped on arrival) marks the *patch* (the template first carries the new image) and *previous version serving
  again* (the template carries the previous image, observedGeneration current, updated == available == desired, and
  that many Ready pods of the previous image not being deleted). The tools' output is read line by line from a pipe and
  timestamped on arrival on the same clock. No time is taken from a tool's own report. A re-deploy of the serving image
  changes nothing, so it has no patch and no times.
- **Precision** here is healthy releases not failed / healthy releases (no false alarm); **recall** is doomed releases
  failed / doomed releases (no false success); both are counted over every run.
- **Load gate vs wrk:** the method is in its section; in a whole run it is measured after the control plane has stopped.
  **Release API calls:** the release-notes engine against the in-process GitHub fake (internal/githubfake), counted there.
- **Machine:** %s/%s, %d CPUs, %s; the whole run shares it with the control plane.
`, prevImage, scaleUpAfter.Seconds(), ourTimeout, crashloopRestarts, imagePullGrace, unschedulableGrace, r.roundsText(),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}

// roundCount says how many rounds ran: "1 round" or "3 interleaved rounds".
func (r report) roundCount() string {
	if r.runs == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d interleaved rounds", r.runs)
}

func (r report) roundsText() string {
	if r.runs <= 1 {
		return "One round: every release once, one at a time."
	}
	return fmt.Sprintf("%d interleaved rounds: each round runs every release once, one at a time, the list rotated by %d of its %d releases each round.",
		r.runs, len(r.cases)/r.runs, len(r.cases))
}
