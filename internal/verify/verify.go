// Package verify is the one verify step that every rollout ends in — a
// deploy, its automatic rollback and the rollback action: wait for the
// rollout (package rollout), check health, re-read once when the API server
// failed until the deadline, diagnose a failure before anything deletes the
// pods; and Conclude, a pure function from what happened to what it means.
package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// ReasonHealthCheck is the verdict reason of a failed health check.
const ReasonHealthCheck = "HealthCheckFailed"

// DefaultRecheck bounds the wait for the API server to answer again after
// it failed until the deadline.
const DefaultRecheck = 30 * time.Second

// Step is one verification: the same for deploy, its automatic rollback and
// the rollback action.
type Step struct {
	Client kubernetes.Interface
	Log    ui.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rollout tunes the verdict's rules.
	Rollout rollout.Options
	// HealthCheck, when set, must pass once the rollout is complete.
	HealthCheck func(context.Context) error
	// Recheck bounds the re-read after an unknown verdict (default DefaultRecheck).
	Recheck time.Duration
	// Group titles the log group of the wait and the health check (default
	// "Rollout"); diagnostics get a group of their own after it.
	Group string
}

// Outcome is what one verification saw.
type Outcome struct {
	rollout.Result
	// Health is "passed", "failed", or "" when no health check ran.
	Health string
	// Rechecked is true when the verdict comes from a re-read after the API
	// server failed until the deadline.
	Rechecked bool
	// Diagnostics is the evidence of a failure (nil otherwise).
	Diagnostics *diagnose.Report
}

func (s Step) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run verifies the rollout that d (as returned by the change) describes:
// wait → health → diagnose. The error is non-nil only when ctx ended; the
// Outcome is filled as far as it got.
func (s Step) Run(ctx context.Context, d *appsv1.Deployment, deadline time.Time) (Outcome, error) {
	w, err := rollout.NewWatch(s.Client, d, deadline, s.Rollout, rollout.LogProgress(s.Log), s.Now)
	if err != nil {
		return Outcome{}, err
	}
	w.ReadCrash = s.readCrash
	title := s.Group
	if title == "" {
		title = "Rollout"
	}
	end := s.Log.Group(title)
	out, err := s.wait(ctx, w, deadline)
	end()
	if err != nil {
		return out, err
	}
	if out.Verdict.Phase == rollout.Failed && Conclude(out).Kind == Doomed {
		out.Diagnostics = s.diagnose(ctx, out)
	}
	return out, nil
}

// wait watches to a verdict (re-reading an unknown one) and runs the health check.
func (s Step) wait(ctx context.Context, w *rollout.Watch, deadline time.Time) (Outcome, error) {
	res, err := w.Run(ctx)
	out := Outcome{Result: res}
	if err != nil {
		return out, err
	}
	healthBudget := deadline.Sub(s.now())
	if out.Verdict.Reason == rollout.ReasonAPIUnavailable {
		out = s.recheck(ctx, w, out)
		healthBudget = s.recheckBudget()
	}
	if out.Verdict.Phase == rollout.Succeeded && s.HealthCheck != nil {
		if err := s.health(ctx, max(healthBudget, time.Second), &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s Step) recheckBudget() time.Duration {
	if s.Recheck > 0 {
		return s.Recheck
	}
	return DefaultRecheck
}

// recheck re-reads the rollout once the API server answers again, so a
// rollout that finished (or is doomed) while we could not see it is judged
// on facts; a rollout still under way stays unknown.
func (s Step) recheck(ctx context.Context, w *rollout.Watch, out Outcome) Outcome {
	s.Log.Warnf("the API server failed until the deadline: re-reading the rollout once it answers (up to %s)", s.recheckBudget())
	rctx, cancel := context.WithTimeout(ctx, s.recheckBudget())
	defer cancel()
	for {
		res, err := w.Reread(rctx, out.Memory, s.now())
		if err == nil {
			res.Elapsed = out.Elapsed
			prev := out.Verdict
			out.Result, out.Rechecked = res, true
			if res.Verdict.Phase == rollout.Progressing {
				out.Verdict.Phase, out.Verdict.Reason = rollout.Failed, rollout.ReasonAPIUnavailable
				out.Verdict.Message = fmt.Sprintf("the API server failed until the deadline (%s); once it answered, the rollout was still under way: %s",
					strings.TrimPrefix(prev.Message, "the API server kept failing since "), res.Verdict.Message)
			}
			s.Log.Infof("the API server answers again: %s: %s", out.Verdict.Phase, out.Verdict.Message)
			return out
		}
		select {
		case <-rctx.Done():
			s.Log.Warnf("the API server still fails: %v", err)
			return out
		case <-time.After(time.Second):
		}
	}
}

// health runs the health check in a log group of its own (inside the
// rollout's), so the run's timeline shows it.
func (s Step) health(ctx context.Context, budget time.Duration, out *Outcome) error {
	end := s.Log.Group("Health check")
	defer end()
	hctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	err := s.HealthCheck(hctx)
	switch {
	case err == nil:
		out.Health = "passed"
		s.Log.Infof("health check passed")
		return nil
	case ctx.Err() != nil:
		return err
	}
	out.Health = "failed"
	s.Log.Infof("failed: %v", err)
	out.Verdict = rollout.Verdict{Phase: rollout.Failed, Reason: ReasonHealthCheck, Message: err.Error(), Progress: out.Verdict.Progress}
	return nil
}

func (s Step) diagnose(ctx context.Context, out Outcome) *diagnose.Report {
	end := s.Log.Group("Diagnostics")
	defer end()
	var failing []string
	for _, p := range out.Verdict.Problems {
		failing = append(failing, p.Pod)
	}
	rep := diagnose.Collect(ctx, s.Client, out.Deployment, out.NewReplicaSet, failing, out.Pods)
	rep.Cause = diagnose.Explain(out.Verdict, &rep)
	s.Log.Errorf("cause: %s", rep.Cause.Line())
	if txt := rep.Text(); txt != "" {
		s.Log.Infof("%s", txt)
	}
	return &rep
}

// readCrash reads a crashed container instance's log for the watch's first-crash verdict.
func (s Step) readCrash(ctx context.Context, pod *corev1.Pod, container string, previous bool) ([]byte, error) {
	return diagnose.CrashLog(ctx, s.Client, pod.Namespace, pod.Name, container, previous)
}

// Kind is what a verification means.
type Kind string

// Kinds of conclusion.
const (
	// Verified: the rollout completed and its health check passed.
	Verified Kind = "verified"
	// Doomed: the rollout failed on facts (a pod, the deadline, the health check).
	Doomed Kind = "doomed"
	// Unknown: the API server failed, so what serves is not known.
	Unknown Kind = "unknown"
	// Foreign: another writer changed the Deployment during the wait.
	Foreign Kind = "foreign"
)

// Conclusion is what an Outcome means and what to do next.
type Conclusion struct {
	Kind Kind
	// Reason is the failure reason for outputs and Slack ("" when verified).
	Reason string
	// RollBack: a deploy should restore the last good revision.
	RollBack bool
	// Advice is the next step for the person reading the log ("" when verified).
	Advice string
}

// Conclude turns an Outcome into its meaning: a pure function.
func Conclude(o Outcome) Conclusion {
	v := o.Verdict
	if v.Phase == rollout.Succeeded {
		return Conclusion{Kind: Verified}
	}
	reason := v.Message
	if v.Reason != "" && !strings.Contains(v.Message, v.Reason) {
		reason = v.Reason + ": " + v.Message
	}
	switch v.Reason {
	case rollout.ReasonAPIUnavailable:
		return Conclusion{Kind: Unknown, Reason: reason,
			Advice: "no rollback: the rollout may have succeeded; run deploy again once the API server answers (it waits for the rollout and judges it), or rollback to return to the previous revision"}
	case rollout.ReasonTemplateChanged:
		return Conclusion{Kind: Foreign, Reason: reason,
			Advice: "no rollback over another writer's change: if a GitOps controller (Argo CD, Flux) owns this Deployment, deploy through it or suspend its self-heal, then deploy again"}
	}
	return Conclusion{Kind: Doomed, Reason: reason, RollBack: true, Advice: advice(v)}
}

// advice is the usual fix for a doomed rollout's reason.
func advice(v rollout.Verdict) string {
	switch v.Reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		return "check that the image reference exists and that the pull secret may read it"
	case "CrashLoopBackOff", rollout.ReasonRestarts, "RunContainerError", "ContainerCannotRun", "Error":
		return "the new version crashes: read its log above (the previous instance's for a crash loop)"
	case "OOMKilled":
		return "raise the container's memory limit or fix the leak"
	case "CreateContainerConfigError", "CreateContainerError":
		return "a ConfigMap, Secret or key the pod needs is missing: create it, then deploy again"
	case rollout.ReasonUnschedulable:
		return "no node fits the pod: add capacity (or enable an autoscaler), or lower its requests"
	case rollout.ReasonFailedCreate:
		return "the ReplicaSet cannot create pods (ResourceQuota, LimitRange or an admission webhook): raise the quota or lower the requests"
	case ReasonHealthCheck:
		return "the pods are Ready but the service's health check fails: read the health answer above"
	case rollout.ReasonTimeout, rollout.ReasonProgressDeadline:
		return "the rollout did not finish in time: the pods may be slow to become Ready (readiness probe) or stuck; raise timeout if slow starts are expected"
	}
	return "read the diagnostics above"
}
