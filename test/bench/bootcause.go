package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// crashDurations collects failure line - first crash over runs where the
// watcher saw a crash; missing counts those runs where either never came.
func crashDurations(runs []outcome) (ds []time.Duration, missing int) {
	for _, o := range runs {
		if o.err != nil {
			continue
		}
		if d, ok := since(o.crashed, o.failLine); ok {
			ds = append(ds, d)
		} else {
			missing++
		}
	}
	return ds, missing
}

// causes is e.g. "missing-env ×3 ✓" (✗ where a run named another cause).
func causes(runs []outcome, want string) string {
	count := map[string]int{}
	var order []string
	for _, o := range runs {
		c := o.cause
		if c == "" {
			c = "(none)"
		}
		if count[c] == 0 {
			order = append(order, c)
		}
		count[c]++
	}
	var parts []string
	for _, c := range order {
		mark := "✓"
		if c != want {
			mark = "**✗**"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d %s", c, count[c], mark))
	}
	return strings.Join(parts, ", ")
}

// firstCrashMarkdown is the section of the first-crash verdicts: for each
// release whose crashed instance names a permanent cause, the watcher's
// first crash of a pod of the new image to erlmcp-deploy's failure line,
// beside the same crash loop whose log names no cause (the restart
// tolerance decides, as before first-crash verdicts).
func (r report) firstCrashMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	rows := 0
	for i, bc := range r.cases {
		if bc.class == "" && bc.id != "crashloop" {
			continue
		}
		if rows == 0 {
			w("\n## First crash → failure line\n\nMedian (max, n), from the moment the independent watcher first sees a pod of the new image crash " +
				"(a restart, or a non-zero exit) to erlmcp-deploy's failure line. The crashed instance's log is real OTP 25 / Elixir 1.14 output " +
				"from the boot corpus (served by the cluster for that namespace); `fault-crashloop` with the cluster's default log, which names " +
				"no cause, is how every crash loop was judged before: after `crashloop-restarts` (2) restarts of a real kubelet's back-off.\n\n")
			w("| release | failure-cause (each run) | first crash → failure line |\n| --- | --- | --- |\n")
		}
		rows++
		want := bc.class
		if want == "" {
			want = bootcause.CrashUnknown
		}
		w("| %s | %s | %s |\n", bc.title, causes(r.ours[i], want), stat(crashDurations(r.ours[i])))
	}
	return b.String()
}

// corpusMarkdown scores failure-cause over the whole boot corpus: each log
// as the crashed instance of a crash loop (diagnose.Explain, as a deploy
// names it), against the class its .want file gives.
func corpusMarkdown() string {
	cases, err := bootcorpus.All(corpusDir)
	if err != nil {
		return fmt.Sprintf("\n## Boot corpus\n\nnot scored: %v\n", err)
	}
	type score struct{ right, all int }
	by := map[string]*score{}
	var wrong []string
	for _, c := range cases {
		class := c.Class
		if class == "" {
			class = bootcause.CrashUnknown + " (no failure in the log)"
		}
		b := bootcause.Classify([]byte(c.Log))
		rep := &diagnose.Report{Pods: []diagnose.Pod{{Name: "p", Containers: []diagnose.Container{{Name: "c", Restarts: 3,
			State: "waiting: CrashLoopBackOff", Logs: c.Log, LogsPrevious: true, Boot: &b}}}}}
		got := diagnose.Explain(rollout.Verdict{Phase: rollout.Failed, Problems: []rollout.Problem{{Pod: "p", Container: "c", Reason: "CrashLoopBackOff"}}}, rep).Class
		if by[class] == nil {
			by[class] = &score{}
		}
		by[class].all++
		if got == strings.Fields(class)[0] {
			by[class].right++
		} else {
			wrong = append(wrong, fmt.Sprintf("- %s: %s, expected %s", c.Name, got, class))
		}
	}
	classes := make([]string, 0, len(by))
	for c := range by {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Boot corpus: failure-cause right per class\n\nEvery case of `internal/bootcause/testdata/corpus` (real OTP 25.2.3 / "+
		"Elixir 1.14 output made by `make boot-corpus`, and lines quoted from public bug reports) as the crashed instance of a crash "+
		"loop, named as a deploy names it (`diagnose.Explain`), against the class its `.want` file gives.\n\n| class | right / cases |\n| --- | --- |\n")
	right, all := 0, 0
	for _, c := range classes {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c, frac(by[c].right, by[c].all))
		right, all = right+by[c].right, all+by[c].all
	}
	fmt.Fprintf(&b, "| **all** | %s |\n", frac(right, all))
	if len(wrong) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(wrong, "\n"))
	}
	return b.String()
}
