// Command bench measures erlmcp-deploy's verdicts and times against
// `kubectl set image` + `kubectl rollout status` (+ `kubectl rollout undo`)
// on the local control plane, and writes BENCHMARKS.md.
//
//	go run ./test/bench [-out BENCHMARKS.md] [-runs 3] [-loadgate-rounds 5] [-logs DIR] [-cases id,id] [-kubectl=false] [-extras=false]
//
// -cases releases runs only the manifest-release section (releases.go): a
// whole release (examples/kubernetes/erlmcp) by `erlmcp-deploy deploy
// --manifests` and by `kubectl apply -f` + `kubectl rollout status`.
// -cases previews runs only the preview section (previews.go): one pull
// request's life per round (opened, a good push, a doomed push, closed) by
// `erlmcp-deploy preview` against a GitHub fake, and by the kubectl commands
// of a hand-written preview workflow.
// -cases canary runs only the canary section (canary.go): doomed canaries
// aborted by `erlmcp-deploy deploy --strategy canary` (fail-fast verdict, or
// the error-rate analysis through a local Prometheus), and `kubectl set
// image` + `rollout status` + `rollout undo` on the image-pull case.
// -cases waves runs only the multi-cluster section (waves.go): two more
// control planes next to the bench's own, one `deploy --contexts` wave
// against three single-context deploys in a row, and a failing wave 2 with
// `--rollback-scope wave`.
// -cases loadgate runs only the load-gate section (loadgate.go): the load
// gate against wrk on a test server, each in a process of its own, in
// -loadgate-rounds interleaved rounds; it needs no control plane.
//
// Every release of the matrix (doomed ones and healthy-but-noisy ones) is run
// by the erlmcp-deploy CLI as a subprocess, -runs interleaved rounds, and once
// by kubectl, all kubectl releases at once from the start (a doomed one waits
// the default 600 s progress deadline). Times come from an independent watcher
// (its own watches of the Deployment and the pods) and from the tools' output
// lines timestamped as they arrive, all on the bench's clock.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

type config struct {
	out, logs      string
	runs, lgRounds int
	only           map[string]bool
	kubectl, extra bool
}

func main() {
	var cfg config
	var only string
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", "markdown file to write")
	flag.IntVar(&cfg.runs, "runs", 3, "erlmcp-deploy runs (interleaved rounds) per release")
	flag.IntVar(&cfg.lgRounds, "loadgate-rounds", lgDefaultRounds, "interleaved rounds of the load-gate section (load gate and wrk, once each per round)")
	flag.StringVar(&cfg.logs, "logs", "", "directory for the transcript of every run (default: a new temporary directory)")
	flag.StringVar(&only, "cases", "", "comma-separated case ids to run (default: all; \""+releasesID+"\" is the manifest-release section, \""+previewsID+"\" the preview section, \""+canaryID+"\" the canary section, \""+wavesID+"\" the multi-cluster section, \""+loadgateID+"\" the load-gate section); for trying the bench, not for BENCHMARKS.md")
	flag.BoolVar(&cfg.kubectl, "kubectl", true, "run the kubectl peer (each doomed release waits 600 s)")
	flag.BoolVar(&cfg.extra, "extras", true, "measure the binaries and the release API calls, and without -cases the load-gate section")
	flag.Parse()
	if only != "" {
		cfg.only = map[string]bool{}
		for _, id := range strings.Split(only, ",") {
			cfg.only[strings.TrimSpace(id)] = true
		}
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(cfg config) error {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Minute)
	defer cancel()
	root, err := testcluster.RepoRoot()
	if err != nil {
		return err
	}
	commit := commitID(ctx, root)
	if cfg.logs == "" {
		if cfg.logs, err = os.MkdirTemp("", "erlmcp-bench-logs-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(cfg.logs, 0o755); err != nil {
		return err
	}
	var selected []benchCase
	for _, bc := range cases {
		if cfg.only == nil || cfg.only[bc.id] {
			selected = append(selected, bc)
		}
	}
	releases := cfg.only == nil || cfg.only[releasesID]
	previews := cfg.only == nil || cfg.only[previewsID]
	canaries := cfg.only == nil || cfg.only[canaryID]
	wavesOn := cfg.only == nil || cfg.only[wavesID]
	lgOn := (cfg.only == nil && cfg.extra) || cfg.only[loadgateID]
	clusterOn := len(selected) > 0 || releases || previews || canaries || wavesOn
	if !clusterOn && !lgOn {
		return fmt.Errorf("no case matches -cases")
	}
	if cfg.lgRounds < 1 {
		return fmt.Errorf("-loadgate-rounds %d: want at least 1", cfg.lgRounds)
	}
	if !clusterOn { // the load-gate section alone: no control plane, nothing else measured
		logf("commit %s; the load-gate section only, no control plane", commit)
		lg, err := benchLoadGate(ctx, root, commit, cfg.lgRounds)
		if err != nil {
			return err
		}
		return writeReport(cfg, report{commit: commit, date: begin.UTC(), runs: cfg.runs, partial: true, loadgate: lg}, begin)
	}

	bindir, err := os.MkdirTemp("", "erlmcp-bench-cli-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bindir)
	cli := filepath.Join(bindir, "erlmcp-deploy")
	build := exec.CommandContext(ctx, "go", "build", "-o", cli, "./cmd/erlmcp-deploy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the CLI: %w\n%s", err, out)
	}
	kubectl := ""
	if cfg.kubectl {
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			return fmt.Errorf("kubectl: %w (run with -kubectl=false to leave the peer out)", err)
		}
	}

	var rb *relBench
	if releases {
		rb = &relBench{cli: cli, kubectl: kubectl, logs: cfg.logs}
		if rb.v1, rb.next, rb.peer, err = releaseDirs(filepath.Join(bindir, "releases")); err != nil {
			return err
		}
	}

	logf("commit %s; transcripts in %s; starting the control plane", commit, cfg.logs)
	c, err := testcluster.New(ctx, testcluster.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	stopCluster := sync.OnceValue(c.Stop)
	defer stopCluster()
	if rb != nil {
		rb.c = c
	}
	var pb *pvBench
	if previews {
		if pb, err = newPvBench(ctx, c, cli, kubectl, cfg.logs, filepath.Join(bindir, "previews")); err != nil {
			return fmt.Errorf("preview section: %w", err)
		}
		defer pb.stop()
	}
	var cb *canBench
	if canaries {
		logf("canary section: starting Prometheus (built once into the cache if missing)")
		if cb, err = newCanBench(ctx, c, cli, kubectl, cfg.logs, bindir); err != nil {
			return fmt.Errorf("canary section: %w", err)
		}
		defer cb.stop()
	}
	var wb *waveBench
	if wavesOn {
		logf("waves section: starting two more control planes")
		if wb, err = newWaveBench(ctx, c, cli, cfg.logs); err != nil {
			return fmt.Errorf("waves section: %w", err)
		}
		defer wb.stop()
	}

	// The peer: every kubectl release at once, from the start.
	theirs := make([]outcome, len(selected))
	var kwg sync.WaitGroup
	var settled sync.WaitGroup
	if kubectl != "" {
		for i, bc := range selected {
			kwg.Add(1)
			settled.Add(1)
			go func() {
				defer kwg.Done()
				once := sync.OnceFunc(settled.Done)
				ns := "k-" + bc.id
				if err := prepare(ctx, c, bc, ns); err != nil {
					theirs[i] = outcome{tool: "kubectl", bc: bc, ns: ns, err: err}
					once()
					return
				}
				theirs[i] = runKubectl(ctx, c, kubectl, bc, ns, once)
				once()
				logf("kubectl %-11s %-11s (%s)", bc.id, theirs[i].verdict, saveLog(cfg.logs, theirs[i]))
			}()
		}
		waitTimeout(&settled, 5*time.Minute)
		if len(selected) > 0 {
			logf("kubectl releases patched; the doomed ones wait on their 600 s deadline")
		}
	}

	// Ours: interleaved rounds, the order rotated each round.
	ours := make([][]outcome, len(selected))
	relOurs, relTheirs := make([][]relOutcome, len(relCases)), make([][]relOutcome, len(relCases))
	canOurs, canTheirs := make([][]canOutcome, len(canCases)), make([][]canOutcome, len(canCases))
	waveRuns := make([][]waveOutcome, len(waveCases))
	var pvOurs, pvTheirs []pvOutcome
	for r := 0; r < cfg.runs; r++ {
		off := r * len(selected) / cfg.runs
		for j := range selected {
			i := (j + off) % len(selected)
			bc := selected[i]
			ns := fmt.Sprintf("r%d-%s", r, bc.id)
			o := outcome{tool: "ours", bc: bc, ns: ns, round: r}
			if err := prepare(ctx, c, bc, ns); err != nil {
				o.err = err
			} else {
				o = runOurs(ctx, c, cli, bc, ns, r)
			}
			ours[i] = append(ours[i], o)
			mark := "ok"
			if !o.correct() {
				mark = "WRONG, expected " + bc.expected()
			}
			logf("round %d %-11s %-11s %s (%s)", r, bc.id, o.verdict, mark, saveLog(cfg.logs, o))
		}
		if rb != nil {
			rb.round(ctx, r, cfg.runs, relOurs, relTheirs)
		}
		if pb != nil {
			pb.round(ctx, r, cfg.runs, &pvOurs, &pvTheirs)
		}
		if cb != nil {
			cb.round(ctx, r, cfg.runs, canOurs, canTheirs)
		}
		if wb != nil {
			wb.round(ctx, r, cfg.runs, waveRuns)
		}
	}
	if wb != nil {
		wb.stop()
	}
	kwg.Wait()
	if err := stopCluster(); err != nil {
		logf("stop the control plane: %v", err)
	}

	var lg *lgSection
	if lgOn {
		if lg, err = benchLoadGate(ctx, root, commit, cfg.lgRounds); err != nil {
			return err
		}
	}
	var extras [][]string
	if cfg.extra {
		for _, extra := range []func(context.Context) ([][]string, error){benchBinaries, benchReleaseCalls} {
			more, err := extra(ctx)
			if err != nil {
				return err
			}
			extras = append(extras, more...)
		}
	}
	rep := report{commit: commit, date: begin.UTC(), runs: cfg.runs, cases: selected, ours: ours, theirs: theirs,
		kubectl: kubectl != "", extras: extras, partial: cfg.only != nil, releases: releases, relOurs: relOurs, relTheirs: relTheirs,
		previews: previews, pvOurs: pvOurs, pvTheirs: pvTheirs, canary: canaries, canOurs: canOurs, canTheirs: canTheirs, waves: wavesOn, waveRuns: waveRuns, loadgate: lg}
	return writeReport(cfg, rep, begin)
}

// writeReport writes rep to cfg.out, then fails when a run could not be measured.
func writeReport(cfg config, rep report, begin time.Time) error {
	rep.wall = time.Since(begin)
	if err := os.WriteFile(cfg.out, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s in %s", cfg.out, rep.wall.Round(time.Second))
	if errs := rep.benchErrors(); len(errs) > 0 {
		return fmt.Errorf("%d runs could not be measured (see the file and %s): %s", len(errs), cfg.logs, strings.Join(errs, "; "))
	}
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// commitID is HEAD's short hash, with "-dirty" when the work tree has
// changes or untracked files (git status --porcelain is not empty).
func commitID(ctx context.Context, root string) string {
	git := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(out))
	}
	id := git("rev-parse", "--short", "HEAD")
	if st := git("status", "--porcelain"); st != "" {
		id += "-dirty"
	}
	return id
}
