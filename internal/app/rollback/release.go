package rollback

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/kube"
	"github.com/org/erlmcp-deploy/internal/notify"
	render "github.com/org/erlmcp-deploy/internal/report"
	engine "github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// checkRelease validates the inputs of release mode: the release's name and
// a `to` a release understands (no image).
func checkRelease(rt *ghaction.Runtime, name string, list bool) {
	if err := inventory.ValidateName(name); err != nil {
		rt.Invalid("release", err.Error(), "a lowercase DNS name of at most 53 characters, e.g. erlmcp")
	}
	if list {
		return
	}
	if to := rt.String("to"); to == "cleanup" {
		return
	} else if _, err := engine.ParseReleaseTo(to); err != nil {
		rt.Invalid("to", err.Error(), "previous, last-successful or a release revision number")
	}
}

// detectRelease is the release to roll back when the `release` input is not
// given: the `deployment` name when the namespace holds its release history,
// else "" (image mode). An identity that may not list Secrets gets image
// mode (a debug line says so); another error reading the history gets image
// mode with a warning (an unreachable cluster then fails reading the
// Deployment; a release's Deployment carries the verified and failed marks
// the image rollback reads, so rolling its image back is a sound fallback).
func detectRelease(ctx context.Context, rt *ghaction.Runtime, cs kubernetes.Interface, ns, name string) string {
	if inventory.ValidateName(name) != nil {
		return "" // no release can have this name
	}
	revs, err := inventory.Store{Client: cs, Namespace: ns}.List(ctx, name)
	switch {
	case apierrors.IsForbidden(err):
		rt.Debugf("may not list Secrets in namespace %s, so no release history is read: rolling back deployment %s (%v)", ns, name, err)
		return ""
	case err != nil && ctx.Err() == nil:
		rt.Warnf("could not read the release history of %s in namespace %s (%v): rolling back deployment %s alone; give the release input to roll a release back", name, ns, err, name)
		return ""
	case len(revs) == 0:
		return ""
	}
	rt.Infof("namespace %s holds the history of release %s (%d revisions): release mode, the release is rolled back as a whole", ns, name, len(revs))
	return name
}

// releaseRun is what the release path takes from the image path's input reading.
type releaseRun struct {
	env, ns, name string
	list          bool
	timeout       time.Duration
	health        func(context.Context) error
	rollout       rollout.Options
}

// runRelease lists or rolls back a manifest release: the same outputs,
// summary and Slack message as the image path, for a whole set.
func runRelease(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder, kc *kube.Client, in releaseRun) error {
	eng, err := apply.New(kc.Config, kc.Clientset, log)
	if err != nil {
		rt.SetOutput("status", string(engine.StatusFailed))
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	rr := &engine.ReleaseRoller{Engine: eng, Log: log}
	if in.list {
		revs, err := rr.List(ctx, in.ns, in.name)
		if err == nil && len(revs) == 0 {
			err = fmt.Errorf("release %s has no revisions in namespace %s (deploy it with manifests first)", in.name, in.ns)
		}
		if err != nil {
			rt.SetOutput("status", string(engine.StatusFailed))
			return err
		}
		rt.Infof("revision history of release %s/%s (newest first):\n%s", in.ns, in.name, ReleaseTable(revs))
		res := &engine.ReleaseResult{Status: engine.StatusListed, Release: in.name, History: revs}
		serving := &revs[0]
		for i := range revs {
			if revs[i].Status == inventory.Deployed {
				serving = &revs[i]
				break
			}
		}
		res.Revision, res.FromRevision, res.Images = serving.Revision, serving.Revision, serving.Images
		reportRelease(rt, in.env, in.ns, res, timeline.Timeline{}) // a listing has no timeline worth a chart
		return nil
	}
	opts := engine.ReleaseOptions{Environment: in.env, Namespace: in.ns, Release: in.name, To: rt.String("to"), Timeout: in.timeout,
		DryRun: rt.Bool("dry-run"), Holder: setup.Holder(rt), HealthCheck: in.health, Rollout: in.rollout, Mask: rt.Mask}
	ev := setup.Event(rt, "rollback", in.env, notify.StatusRunning)
	ev.Details = []notify.Field{{Name: "Release", Value: in.ns + "/" + in.name}, {Name: "Target", Value: opts.To}}
	slack := setup.Running(ctx, rt, ev)
	res, err := rr.Run(ctx, opts)
	if err != nil {
		log.Fail(err.Error()) // a plan that failed, say, that no error line told
	}
	reportRelease(rt, in.env, in.ns, res, log.Own())
	if slack.Enabled() {
		switch {
		case res.DryRun || res.Status == engine.StatusUnchanged:
			ev.Status = notify.StatusUnchanged
		case res.Status == engine.StatusSucceeded:
			ev.Status = notify.StatusRolledBack
		default:
			ev.Status = notify.StatusFailed
		}
		ev.Revision, ev.PreviousRevision = num(int64(res.Revision)), num(int64(res.FromRevision))
		ev.Image = strings.Join(res.Images, ", ")
		if res.Failed != "" {
			ev.Details = append(ev.Details, notify.Field{Name: "Failed object", Value: res.Failed})
		}
		if err != nil {
			ev.Reason = err.Error()
		} else {
			ev.Reason = res.Message
		}
		ev.Cause, ev.Evidence = setup.CauseText(render.RollbackReleaseCause(res))
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, ev))
	}
	return err
}

// ReleaseTable renders a release history as an aligned text table (the log and the CLI).
func ReleaseTable(revs []inventory.Release) string {
	return table(engine.ReleaseHeader, engine.ReleaseRows(revs))
}

func reportRelease(rt *ghaction.Runtime, env, ns string, res *engine.ReleaseResult, tl timeline.Timeline) {
	out := render.RollbackRelease(env, ns, res, tl)
	for _, kv := range out.Outputs {
		rt.SetOutput(kv[0], kv[1])
	}
	rt.Summary().Para(out.Summary.String())
}
