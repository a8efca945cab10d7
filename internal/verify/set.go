package verify

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Member is one object of a set to verify: a Deployment (watched with every
// rule of a single deploy) or any other object (rollout.ObjectWatch).
type Member struct {
	// Name is how the object is shown, e.g. "Deployment/erlmcp".
	Name string
	// Deployment is the Deployment as our change returned it (nil for other kinds).
	Deployment *appsv1.Deployment
	// Object watches any other kind (nil for a Deployment).
	Object *rollout.ObjectWatch
	// Since overrides the Deployment's change time (rollout.ChangeTime),
	// e.g. a server-side apply's time from managedFields.
	Since time.Time
}

// MemberOutcome is what the verification saw of one member.
type MemberOutcome struct {
	Name    string
	Verdict rollout.Verdict
	// Result is a Deployment's watch result (zero for other kinds).
	Result rollout.Result
	// Object is another kind's watch result.
	Object rollout.ObjectResult
	// Rechecked: the verdict comes from a re-read after the API server failed.
	Rechecked bool
	// Stopped: the wait was stopped because another member failed first.
	Stopped     bool
	Diagnostics *diagnose.Report
}

// SetOutcome is what the verification of a set saw.
type SetOutcome struct {
	Members []MemberOutcome
	// Health is "passed", "failed", or "" when no health check ran.
	Health string
	// HealthMessage is why the health check failed.
	HealthMessage string
	Elapsed       time.Duration
}

// Failed is the member whose verdict failed the set first (nil when none).
func (o SetOutcome) Failed() *MemberOutcome {
	var found *MemberOutcome
	for i := range o.Members {
		m := &o.Members[i]
		if m.Stopped || m.Verdict.Phase != rollout.Failed {
			continue
		}
		if found == nil || rank(Conclude(Outcome{Result: rollout.Result{Verdict: m.Verdict}}).Kind) > rank(Conclude(Outcome{Result: rollout.Result{Verdict: found.Verdict}}).Kind) {
			found = m
		}
	}
	return found
}

// rank orders what a failed member means: another writer's change outranks
// a doomed member (no rollback over it), which outranks an unknown one.
func rank(k Kind) int {
	switch k {
	case Foreign:
		return 3
	case Doomed:
		return 2
	case Unknown:
		return 1
	}
	return 0
}

// RunSet verifies every member at once until each succeeds, one fails (the
// others are stopped: one doomed object dooms the set), or the deadline;
// then the health check once, and diagnostics of the failed member. One
// progress line speaks for the set. The error is non-nil only when ctx ended.
func (s Step) RunSet(ctx context.Context, members []Member, deadline time.Time) (SetOutcome, error) {
	start := s.now()
	title := s.Group
	if title == "" {
		title = "Rollout"
	}
	end := s.Log.Group(title)
	out := SetOutcome{Members: make([]MemberOutcome, len(members))}
	prog := newProgress(s, members)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i, m := range members {
		out.Members[i].Name = m.Name
		wg.Add(1)
		go func() {
			defer wg.Done()
			mo := &out.Members[i]
			s.member(sctx, ctx, m, deadline, mo, prog)
			if !mo.Stopped && mo.Verdict.Phase == rollout.Failed {
				stop()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			prog.flush()
		}
	}
	prog.flush()
	out.Elapsed = s.now().Sub(start)
	if ctx.Err() != nil {
		end()
		return out, ctx.Err()
	}
	quiet := 0
	for _, mo := range out.Members {
		if mo.Verdict.Phase == rollout.Succeeded && mo.Result.Deployment == nil && len(mo.Object.Pods) == 0 {
			quiet++ // a ConfigMap, Service, …: Current as soon as it exists
			continue
		}
		s.Log.Infof("%s: %s", mo.Name, describeVerdict(mo))
	}
	if quiet > 0 {
		s.Log.Infof("%d other objects ready (kstatus Current)", quiet)
	}
	if ok := allSucceeded(out); ok && s.HealthCheck != nil {
		var o Outcome
		o.Verdict.Phase = rollout.Succeeded
		if err := s.health(ctx, max(deadline.Sub(s.now()), time.Second), &o); err != nil {
			end()
			return out, err
		}
		out.Health = o.Health
		if o.Health == "failed" {
			out.HealthMessage = o.Verdict.Message
		}
	}
	end()
	if f := out.Failed(); f != nil && Conclude(Outcome{Result: rollout.Result{Verdict: f.Verdict}}).Kind == Doomed {
		f.Diagnostics = s.diagnoseMember(ctx, f)
	}
	out.Elapsed = s.now().Sub(start)
	return out, nil
}

// member waits for one member; sctx stops when another member failed.
func (s Step) member(sctx, ctx context.Context, m Member, deadline time.Time, mo *MemberOutcome, prog *progress) {
	if m.Deployment != nil {
		w, err := rollout.NewWatch(s.Client, m.Deployment, deadline, s.Rollout, func(v rollout.Verdict) { prog.set(m.Name, v) }, s.Now)
		if err != nil {
			mo.Verdict = rollout.Verdict{Phase: rollout.Failed, Reason: "Invalid", Message: err.Error()}
			return
		}
		w.ReadCrash = s.readCrash
		if !m.Since.IsZero() {
			w.Since = m.Since
		}
		res, err := w.Run(sctx)
		if err != nil {
			mo.Result, mo.Verdict, mo.Stopped = res, res.Verdict, ctx.Err() == nil
			return
		}
		o := Outcome{Result: res}
		if res.Verdict.Reason == rollout.ReasonAPIUnavailable {
			o = s.recheck(ctx, w, o)
		}
		mo.Result, mo.Verdict, mo.Rechecked = o.Result, o.Verdict, o.Rechecked
		prog.set(m.Name, mo.Verdict)
		return
	}
	ow := *m.Object
	ow.Deadline, ow.Options, ow.Now = deadline, s.Rollout, s.Now
	ow.OnChange = func(v rollout.Verdict) { prog.set(m.Name, v) }
	res, err := ow.Run(sctx)
	mo.Object, mo.Verdict = res, res.Verdict
	if err != nil {
		mo.Stopped = ctx.Err() == nil
		return
	}
	prog.set(m.Name, mo.Verdict)
}

func (s Step) diagnoseMember(ctx context.Context, m *MemberOutcome) *diagnose.Report {
	if m.Result.Deployment != nil {
		return s.diagnose(ctx, Outcome{Result: m.Result})
	}
	if len(m.Object.Pods) == 0 || m.Object.Object == nil {
		return nil
	}
	end := s.Log.Group("Diagnostics: " + m.Name)
	defer end()
	var failing []string
	for _, p := range m.Verdict.Problems {
		failing = append(failing, p.Pod)
	}
	owner := map[types.UID]string{m.Object.Object.GetUID(): strings.ToLower(m.Object.Object.GetKind()) + "/" + m.Object.Object.GetName()}
	rep := diagnose.CollectFor(ctx, s.Client, m.Object.Object.GetNamespace(), owner, failing, m.Object.Pods)
	rep.Cause = diagnose.Explain(m.Verdict, &rep)
	s.Log.Errorf("cause: %s", rep.Cause.Line())
	if txt := rep.Text(); txt != "" {
		s.Log.Infof("%s", txt)
	}
	return &rep
}

func allSucceeded(o SetOutcome) bool {
	for _, m := range o.Members {
		if m.Verdict.Phase != rollout.Succeeded {
			return false
		}
	}
	return true
}

// describeVerdict is one member's final state in a few words.
func describeVerdict(m MemberOutcome) string {
	switch {
	case m.Stopped:
		return "not waited for further (another object failed first): " + shortState(m.Verdict)
	case m.Verdict.Phase == rollout.Failed:
		return "FAILED: " + m.Verdict.Message
	}
	return string(m.Verdict.Phase) + ": " + shortState(m.Verdict)
}

func shortState(v rollout.Verdict) string {
	if v.Progress != (rollout.Progress{}) {
		return v.Progress.String()
	}
	return v.Message
}

// ConcludeSet turns a set's outcome into its meaning: a pure function. The
// set is verified when every member succeeded and the health check passed;
// otherwise the most telling failed member decides (another writer's change,
// then a doomed member, then an unknown one), its name leading the reason.
func ConcludeSet(o SetOutcome) Conclusion {
	if f := o.Failed(); f != nil {
		c := Conclude(Outcome{Result: rollout.Result{Verdict: f.Verdict}})
		c.Reason = f.Name + ": " + c.Reason
		return c
	}
	if o.Health == "failed" {
		v := rollout.Verdict{Phase: rollout.Failed, Reason: ReasonHealthCheck, Message: o.HealthMessage}
		return Conclude(Outcome{Result: rollout.Result{Verdict: v}})
	}
	for _, m := range o.Members {
		if m.Verdict.Phase != rollout.Succeeded {
			return Conclusion{Kind: Unknown, Reason: m.Name + " did not reach a verdict: " + m.Verdict.Message,
				Advice: "run deploy again: it waits for the release and judges it"}
		}
	}
	return Conclusion{Kind: Verified}
}

// progress is the set's one progress line, printed at most once a second
// and only when something changed.
type progress struct {
	s     Step
	mu    sync.Mutex
	order []string
	state map[string]string
	done  map[string]bool
	dirty bool
	last  string
}

func newProgress(s Step, members []Member) *progress {
	p := &progress{s: s, state: map[string]string{}, done: map[string]bool{}}
	for _, m := range members {
		p.order = append(p.order, m.Name)
		p.state[m.Name] = "waiting"
	}
	return p
}

func (p *progress) set(name string, v rollout.Verdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := shortState(v)
	if v.Phase == rollout.Succeeded {
		st = "ready"
	}
	if v.Phase == rollout.Failed {
		st = "failed: " + v.Reason
	}
	if len(v.Tolerated) > 0 {
		st += " (tolerating: " + strings.Join(v.Tolerated, "; ") + ")"
	}
	p.done[name] = v.Phase == rollout.Succeeded
	if p.state[name] != st {
		p.state[name], p.dirty = st, true
	}
}

func (p *progress) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty {
		return
	}
	p.dirty = false
	ready := 0
	var parts []string
	for _, n := range p.order {
		if p.done[n] {
			ready++
			continue
		}
		parts = append(parts, n+" "+p.state[n])
	}
	line := fmt.Sprintf("%d/%d ready", ready, len(p.order))
	if len(parts) > 0 {
		line += " — " + strings.Join(parts, " · ")
	}
	if line != p.last {
		p.s.Log.Infof("%s", line)
		p.last = line
	}
}
