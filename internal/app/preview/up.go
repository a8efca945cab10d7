package preview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/app/verdict"
	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/ghdeploy"
	"github.com/org/erlmcp-deploy/internal/notify"
	"github.com/org/erlmcp-deploy/internal/preview"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// up creates or updates the pull request's preview: the namespace with its
// quota and LimitRange, the release deployed and verified by the apply
// engine (a doomed push restores the previous one), a transient GitHub
// deployment, and the pull request's one comment.
func (r *run) up(ctx context.Context) error {
	rt, p := r.rt, r.cmd.Pull
	ns, _ := preview.NamespaceName(r.prefix, p.Number)
	url, _ := preview.URL(r.urlTemplate, p.Number, ns, p.HeadSHA)
	env := r.environment(p.Number)
	rt.SetOutput("namespace", ns)
	rt.SetOutput("url", url)
	state := preview.State{Number: p.Number, URL: url, Namespace: ns, SHA: p.HeadSHA}

	if ok, why := preview.AdmitFork(*p, rt.Bool("allow-forks")); !ok {
		r.ghSide()
		return r.refuse(ctx, state, why)
	}
	eng, err := apply.New(r.kc.Config, r.kc.Clientset, r.log)
	if err != nil {
		return r.failedBefore(fmt.Errorf("connect the apply engine: %w", err))
	}
	opts := apply.Options{Environment: env, Namespace: ns, Release: r.release, Manifests: rt.List("manifests"),
		Images: r.images, Required: r.required, Prune: true, Confine: true, DryRun: r.dryRun,
		Timeout: r.timeout, FailFast: true, RollbackOnFailure: true, Holder: setup.Holder(rt), Rollout: verdict.Options(rt),
		Mask: rt.Mask, ChangeCause: r.changeCause()}
	if err := eng.Check(opts); err != nil {
		return r.inputError(err)
	}
	cur, err := r.kc.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return r.failedBefore(fmt.Errorf("read namespace %s: %w", ns, err))
	}
	if cur != nil {
		if n, ok := preview.Owner(r.repo, namespaceOf(cur)); !ok || n != p.Number {
			rt.Invalid("namespace-prefix", fmt.Sprintf("namespace %s exists and is not the preview of pull request #%d of %s (it lacks the labels %s): it is left alone",
				ns, p.Number, r.repo, labelList(preview.Labels(r.repo, p.Number))), "a prefix that no other namespace of the cluster starts with")
			return rt.InputErr()
		}
	}
	if cur == nil || cur.DeletionTimestamp != nil {
		others, err := r.previews(ctx)
		if err != nil {
			return r.failedBefore(err)
		}
		existing := 0
		for _, o := range others {
			if o.Name != ns {
				existing++
			}
		}
		if ok, why := preview.Admit(existing, rt.Int("max-previews"), false); !ok {
			r.ghSide()
			return r.refuse(ctx, state, why)
		}
	}
	if r.dryRun {
		return r.upDryRun(ctx, eng, opts, cur)
	}
	r.ghSide()
	serving := ""
	if cur != nil && cur.DeletionTimestamp == nil {
		serving = cur.Annotations[preview.ServingSHAAnnotation]
	}

	end := r.log.Group(fmt.Sprintf("Namespace %s of pull request #%d", ns, p.Number))
	err = r.ensureNamespace(ctx, ns, cur)
	end()
	if err != nil {
		return r.failedBefore(err)
	}

	spec := ghdeploy.Spec{Environment: env, Description: fmt.Sprintf("preview of #%d at %s", p.Number, short(p.HeadSHA)), EnvironmentURL: url,
		Transient: true, Payload: map[string]any{"release": r.release, "namespace": ns, "pull_request": p.Number}}
	var dep *ghdeploy.Deployment
	changed := false
	opts.OnChange = func(ctx context.Context, images []string) {
		changed = true
		spec.Payload["image"] = strings.Join(images, ",")
		dep = r.deploys.Start(ctx, spec)
	}
	res, err := eng.Run(ctx, opts)
	var ie *apply.InputError
	if errors.As(err, &ie) {
		if cur == nil || cur.DeletionTimestamp != nil {
			r.undoNamespace(ns) // the server refused the manifests: the namespace this run created goes again
		}
		return r.inputError(err)
	}
	if err != nil {
		r.log.Fail(err.Error())
	}
	bg := context.WithoutCancel(ctx)
	cause := render.ReleaseCause(res)
	state.Images = res.Images
	status := "failed"
	switch {
	case res.Status == apply.StatusSucceeded && err == nil:
		status = "up"
		state.Status = preview.StatusUp
		dep.Finish(bg, ghdeploy.StateSuccess, spec.Description)
		if id := dep.ID(); id != 0 {
			r.deploys.Deactivate(bg, env, id, "superseded by "+short(p.HeadSHA))
		}
		if perr := r.annotate(bg, ns, map[string]string{preview.ServingSHAAnnotation: p.HeadSHA}); perr != nil {
			rt.Warnf("namespace %s: the serving commit was not recorded: %v", ns, perr)
		}
	default:
		state.Status = preview.StatusFailed
		state.Cause, state.Evidence = cause.Sentence(), cause.Evidence
		if res.RolledBack || !changed { // restored, or failed before any change: the previous push serves
			state.ServingSHA = serving
		}
		dep.Finish(bg, ghdeploy.StateFailure, string(res.Status)+": "+res.FailureReason)
	}
	rt.SetOutput("status", status)
	if status == "failed" {
		rt.SetOutput("failure-cause", cause.Class)
	} else {
		rt.SetOutput("failure-cause", "")
	}
	if ctx.Err() == nil {
		r.comment(ctx, state) // a cancelled run leaves the comment to the run that cancelled it
	}
	shown := opts
	shown.Environment = fmt.Sprintf("the preview of pull request #%d", p.Number)
	rt.Summary().Para(render.Release(shown, res, r.log.Own()).Summary.String()).Para(previewLine(url, env, ns))
	r.notify(ctx, env, status, res, p)
	return err
}

// upDryRun says what up would do: with the namespace there, the engine's dry run; else the plan.
func (r *run) upDryRun(ctx context.Context, eng *apply.Engine, opts apply.Options, cur *corev1.Namespace) error {
	q, _ := r.limits.Quota(opts.Namespace)
	if cur == nil {
		r.log.Infof("dry run: would create namespace %s (labels %s), ResourceQuota %s (%s), LimitRange %s, then deploy release %s in it; nothing was changed",
			opts.Namespace, labelList(preview.Labels(r.repo, r.cmd.Pull.Number)), q.Name, resources(q.Spec.Hard), preview.LimitRangeName, opts.Release)
		r.rt.Summary().Heading(2, fmt.Sprintf("🧪 Dry run of the preview of pull request #%d (nothing changed)", r.cmd.Pull.Number)).
			Para(fmt.Sprintf("Would create namespace %s with ResourceQuota %s (%s) and LimitRange %s, and deploy release %s in it.",
				summary.InlineCode(opts.Namespace), q.Name, resources(q.Spec.Hard), preview.LimitRangeName, opts.Release))
		return nil
	}
	res, err := eng.Run(ctx, opts)
	r.rt.Summary().Para(render.Release(opts, res, r.log.Own()).Summary.String())
	return err
}

// ensureNamespace creates the preview's namespace (or records the push on
// it), then its ResourceQuota and LimitRange, and waits until the quota is
// in force: pods created before that would be refused.
func (r *run) ensureNamespace(ctx context.Context, name string, cur *corev1.Namespace) error {
	p := r.cmd.Pull
	nss := r.kc.Clientset.CoreV1().Namespaces()
	ann := preview.Annotations(r.repo, *p, time.Now())
	if cur != nil && cur.DeletionTimestamp != nil {
		r.log.Infof("namespace %s is being deleted (an earlier close or reap): waiting until it is gone", name)
		if err := r.waitGone(ctx, name); err != nil {
			return err
		}
		cur = nil
	}
	if cur == nil {
		_, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: preview.Labels(r.repo, p.Number), Annotations: ann}},
			metav1.CreateOptions{FieldManager: rollout.FieldManager})
		switch {
		case err == nil:
			r.log.Infof("namespace %s created for pull request #%d of %s", name, p.Number, r.repo)
		case apierrors.IsAlreadyExists(err):
			cur = &corev1.Namespace{}
		default:
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	if cur != nil {
		if err := r.annotate(ctx, name, ann); err != nil {
			return fmt.Errorf("record the push on namespace %s: %w", name, err)
		}
		r.log.Infof("namespace %s: push %s recorded", name, short(p.HeadSHA))
	}
	q, err := r.limits.Quota(name)
	if err != nil {
		return err
	}
	lr, err := r.limits.LimitRange(name)
	if err != nil {
		return err
	}
	if err := r.upsertLimitRange(ctx, lr); err != nil {
		return err
	}
	return r.upsertQuota(ctx, q)
}

// undoNamespace deletes the namespace this run created, when the release
// was refused before any of it was applied (without waiting: it is empty).
func (r *run) undoNamespace(ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.kc.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.rt.Warnf("namespace %s was created for this push and could not be deleted again: %v (the next push uses it, down or reap removes it)", ns, err)
		return
	}
	r.log.Infof("namespace %s deleted again: the release was refused before any of it was applied", ns)
}

// annotate merges ann into the namespace's annotations.
func (r *run) annotate(ctx context.Context, name string, ann map[string]string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	_, err = r.kc.Clientset.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: rollout.FieldManager})
	return err
}

func (r *run) upsertLimitRange(ctx context.Context, lr *corev1.LimitRange) error {
	c := r.kc.Clientset.CoreV1().LimitRanges(lr.Namespace)
	cur, err := c.Get(ctx, lr.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Create(ctx, lr, metav1.CreateOptions{FieldManager: rollout.FieldManager}); err != nil {
			return fmt.Errorf("create LimitRange %s/%s: %w", lr.Namespace, lr.Name, err)
		}
		r.log.Infof("LimitRange %s: containers without their own get %s", lr.Name, limitRangeText(lr))
		return nil
	case err != nil:
		return fmt.Errorf("read LimitRange %s/%s: %w", lr.Namespace, lr.Name, err)
	case apiequality.Semantic.DeepEqual(cur.Spec, lr.Spec):
		return nil
	}
	cur.Spec = lr.Spec
	if _, err := c.Update(ctx, cur, metav1.UpdateOptions{FieldManager: rollout.FieldManager}); err != nil {
		return fmt.Errorf("update LimitRange %s/%s: %w", lr.Namespace, lr.Name, err)
	}
	r.log.Infof("LimitRange %s updated: %s", lr.Name, limitRangeText(lr))
	return nil
}

func (r *run) upsertQuota(ctx context.Context, q *corev1.ResourceQuota) error {
	c := r.kc.Clientset.CoreV1().ResourceQuotas(q.Namespace)
	cur, err := c.Get(ctx, q.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Create(ctx, q, metav1.CreateOptions{FieldManager: rollout.FieldManager}); err != nil {
			return fmt.Errorf("create ResourceQuota %s/%s: %w", q.Namespace, q.Name, err)
		}
		r.log.Infof("ResourceQuota %s: %s", q.Name, resources(q.Spec.Hard))
	case err != nil:
		return fmt.Errorf("read ResourceQuota %s/%s: %w", q.Namespace, q.Name, err)
	case !apiequality.Semantic.DeepEqual(cur.Spec, q.Spec):
		cur.Spec = q.Spec
		if _, err := c.Update(ctx, cur, metav1.UpdateOptions{FieldManager: rollout.FieldManager}); err != nil {
			return fmt.Errorf("update ResourceQuota %s/%s: %w", q.Namespace, q.Name, err)
		}
		r.log.Infof("ResourceQuota %s updated: %s", q.Name, resources(q.Spec.Hard))
	}
	// The quota admits pods only once its controller has counted the namespace's usage.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := c.Get(ctx, q.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // polled again
		}
		return apiequality.Semantic.DeepEqual(cur.Status.Hard, q.Spec.Hard), nil
	})
	if err != nil {
		return fmt.Errorf("ResourceQuota %s/%s is not in force after a minute (no quota controller counted its usage): %w", q.Namespace, q.Name, err)
	}
	return nil
}

// refuse gives the pull request no preview: a comment and a warning say why; nothing is created.
func (r *run) refuse(ctx context.Context, s preview.State, why string) error {
	r.rt.Warnf("no preview for pull request #%d: %s", s.Number, why)
	s.Status, s.Reason = preview.StatusRefused, why
	r.comment(ctx, s)
	r.rt.SetOutput("status", "refused")
	r.rt.Summary().Heading(2, fmt.Sprintf("⛔ No preview for pull request #%d", s.Number)).Para(summary.Cell(why))
	return nil
}

// inputError is the engine's refusal of the manifests or images, as annotations on the inputs (nothing was changed).
func (r *run) inputError(err error) error {
	var ie *apply.InputError
	if !errors.As(err, &ie) {
		return r.failedBefore(err)
	}
	return setup.InputErrors(ie)
}

// failedBefore ends a run that failed before deploying anything.
func (r *run) failedBefore(err error) error {
	r.rt.SetOutput("status", "failed")
	r.rt.SetOutput("failure-cause", render.FailureCause(true, rollout.Verdict{}, nil, err.Error()).Class)
	r.log.Fail(err.Error())
	r.rt.Summary().Heading(2, "❌ Preview failed before any deploy").Para(summary.Cell(err.Error()))
	return err
}

// changeCause is the change-cause of the preview's Deployments.
func (r *run) changeCause() string {
	p := r.cmd.Pull
	cause := fmt.Sprintf("preview of pull request #%d at %s by %s", p.Number, short(p.HeadSHA), setup.Actor(r.rt))
	if u := setup.RunURL(r.rt); u != "" {
		cause += " in " + u
	}
	return cause
}

// notify posts the push's outcome to Slack when it is configured.
func (r *run) notify(ctx context.Context, env, status string, res *apply.Result, p *preview.PullRequest) {
	n := setup.Notifier(r.rt, "")
	if !n.Enabled() {
		return
	}
	word := notify.StatusSucceeded
	switch {
	case ctx.Err() != nil:
		word = notify.StatusCancelled
	case status == "failed" && res.RolledBack:
		word = notify.StatusRolledBack
	case status == "failed":
		word = notify.StatusFailed
	}
	ev := setup.Event(r.rt, "preview", env, word)
	ev.Image, ev.Reason = strings.Join(res.Images, ", "), res.FailureReason
	ev.Cause, ev.Evidence = setup.CauseText(render.ReleaseCause(res))
	ev.Commit = p.HeadSHA
	ev.Details = []notify.Field{{Name: "Pull request", Value: fmt.Sprintf("#%d %s", p.Number, p.Title)}}
	r.rt.SetOutput("slack-ts", n.NotifyBestEffort(ctx, ev))
}

// previewLine says where the preview is, under the release's summary.
func previewLine(url, env, ns string) string {
	at := ""
	if url != "" {
		at = " at " + url
	}
	return fmt.Sprintf("Preview%s · namespace %s · GitHub environment %s", at, summary.InlineCode(ns), summary.InlineCode(env))
}

// namespaceOf is what package preview reads of a namespace.
func namespaceOf(ns *corev1.Namespace) preview.Namespace {
	return preview.Namespace{Name: ns.Name, Labels: ns.Labels, Annotations: ns.Annotations, Created: ns.CreationTimestamp.Time}
}

func labelList(labels map[string]string) string {
	var out []string
	for _, k := range sortedKeys(labels) {
		out = append(out, k+"="+labels[k])
	}
	return strings.Join(out, ",")
}

func resources(l corev1.ResourceList) string {
	var out []string
	for _, k := range sortedKeys(l) {
		q := l[corev1.ResourceName(k)]
		out = append(out, k+"="+q.String())
	}
	return strings.Join(out, ", ")
}

func limitRangeText(lr *corev1.LimitRange) string {
	if len(lr.Spec.Limits) == 0 {
		return "no defaults"
	}
	l := lr.Spec.Limits[0]
	return "requests " + resources(l.DefaultRequest) + "; limits " + resources(l.Default)
}

// short is a commit's first 7 characters.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
