package preview

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/preview"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// down removes the pull request's preview: its namespace (waited for), its
// GitHub deployments marked inactive and its environment deleted, its
// comment edited to say it is gone.
func (r *run) down(ctx context.Context) error {
	p := r.cmd.Pull
	ns, _ := preview.NamespaceName(r.prefix, p.Number)
	r.rt.SetOutput("namespace", ns)
	r.ghSide()
	reason := fmt.Sprintf("pull request #%d was closed", p.Number)
	switch {
	case r.cmd.Overridden:
		reason = fmt.Sprintf("removed by %s (command: down)", r.rt.Getenv("GITHUB_ACTOR"))
	case p.Merged:
		reason = fmt.Sprintf("pull request #%d was merged", p.Number)
	}
	t, err := r.teardown(ctx, p.Number, ns, reason)
	if err != nil {
		return r.failedBefore(err)
	}
	if r.dryRun {
		r.rt.Summary().Heading(2, fmt.Sprintf("🧪 Dry run: the preview of pull request #%d would be removed (nothing changed)", p.Number)).Para(t)
		return nil
	}
	r.rt.SetOutput("status", "down")
	r.rt.Summary().Heading(2, fmt.Sprintf("⚪ Preview of pull request #%d removed", p.Number)).Para(summary.Cell(reason + "; " + t))
	return nil
}

// teardown removes pull request number's preview in namespace ns, for
// reason, and says what it did. A namespace that is not that preview (by its
// labels) is never touched: that is an error.
func (r *run) teardown(ctx context.Context, number int, ns, reason string) (string, error) {
	nss := r.kc.Clientset.CoreV1().Namespaces()
	env := r.environment(number)
	cur, err := nss.Get(ctx, ns, metav1.GetOptions{})
	did := ""
	switch {
	case apierrors.IsNotFound(err):
		did = "namespace " + ns + " was already gone"
		r.log.Infof("%s", did)
	case err != nil:
		return "", fmt.Errorf("read namespace %s: %w", ns, err)
	default:
		if n, ok := preview.Owner(r.repo, namespaceOf(cur)); !ok || n != number {
			return "", fmt.Errorf("namespace %s is not the preview of pull request #%d of %s (it lacks the labels %s): it is left alone",
				ns, number, r.repo, labelList(preview.Labels(r.repo, number)))
		}
		if r.dryRun {
			did = fmt.Sprintf("would delete namespace %s and everything in it; mark GitHub environment %s's deployments inactive and delete it", ns, env)
			r.log.Infof("dry run: %s", did)
			return did, nil
		}
		start := time.Now()
		if cur.DeletionTimestamp == nil {
			if err := nss.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("delete namespace %s: %w", ns, err)
			}
		}
		r.log.Infof("namespace %s of pull request #%d deleting (%s)", ns, number, reason)
		if err := r.waitGone(ctx, ns); err != nil {
			return "", err
		}
		did = fmt.Sprintf("namespace %s deleted in %s", ns, time.Since(start).Round(100*time.Millisecond))
		r.log.Infof("%s", did)
	}
	if r.dryRun {
		return did, nil
	}
	bg := context.WithoutCancel(ctx)
	if n := r.deploys.Deactivate(bg, env, 0, "preview removed: "+reason); n > 0 {
		r.log.Infof("GitHub environment %s: %d deployment(s) marked inactive", env, n)
	}
	if r.deploys.DeleteEnvironment(bg, env) {
		r.log.Infof("GitHub environment %s deleted", env)
	}
	r.commentGone(ctx, preview.State{Status: preview.StatusDown, Number: number, Namespace: ns, Reason: reason})
	return did, nil
}

// commentGone edits the pull request's preview comment, if it has one, to
// say the preview is gone (a pull request that never had one gets none).
func (r *run) commentGone(ctx context.Context, s preview.State) {
	if r.comments == nil {
		return
	}
	found, err := r.comments.Find(context.WithoutCancel(ctx), s.Number)
	switch {
	case err != nil:
		r.rt.Warnf("the preview comment of pull request #%d was not edited: %v", s.Number, err)
	case found != nil:
		r.comment(ctx, s)
	}
}

// waitGone waits until namespace ns no longer exists, up to the timeout.
func (r *run) waitGone(ctx context.Context, ns string) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, r.timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := r.kc.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		last = err
		if err == nil {
			last = terminating(cur.Status.Conditions)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s is still there after %s: %v", ns, r.timeout, last)
	}
	return nil
}

// terminating says what holds a namespace that is being deleted, from its conditions.
func terminating(conds []corev1.NamespaceCondition) error {
	var msgs []string
	for _, c := range conds {
		if c.Status == "True" && c.Message != "" {
			msgs = append(msgs, c.Message)
		}
	}
	if len(msgs) == 0 {
		return errors.New("it is terminating")
	}
	return errors.New("it is terminating: " + strings.Join(msgs, "; "))
}

// previews lists every preview namespace of the repository in the cluster.
func (r *run) previews(ctx context.Context) ([]preview.Namespace, error) {
	list, err := r.kc.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: preview.Selector(r.repo)})
	if err != nil {
		return nil, fmt.Errorf("list the preview namespaces of %s: %w", r.repo, err)
	}
	var out []preview.Namespace
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp == nil {
			out = append(out, namespaceOf(&list.Items[i]))
		}
	}
	return out, nil
}

// openPulls are the numbers of the repository's open pull requests.
func (r *run) openPulls(ctx context.Context) (map[int]bool, error) {
	owner, name, _ := strings.Cut(r.repo, "/")
	open := map[int]bool{}
	opts := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}}
	for page := 1; ; page++ {
		opts.Page = page
		list, resp, err := r.gh.PullRequests.List(ctx, owner, name, opts)
		if err != nil {
			return nil, fmt.Errorf("list the open pull requests of %s: %w", r.repo, err)
		}
		for _, p := range list {
			open[p.GetNumber()] = true
		}
		if resp.NextPage == 0 {
			return open, nil
		}
		if page >= 50 {
			return nil, fmt.Errorf("list the open pull requests of %s: more than %d pages", r.repo, page)
		}
	}
}

// reap removes every preview of the repository whose pull request is closed
// or whose last push is older than the ttl, and tables what it kept and removed.
func (r *run) reap(ctx context.Context) error {
	r.ghSide()
	nss, err := r.previews(ctx)
	if err != nil {
		return r.failedBefore(err)
	}
	open, err := r.openPulls(ctx)
	if err != nil {
		return r.failedBefore(fmt.Errorf("%w: no preview was removed", err))
	}
	now := time.Now()
	decisions := preview.Reap(r.repo, nss, open, now, r.ttl)
	rows := make([][]string, 0, len(decisions))
	var failed []string
	removed := 0
	for _, d := range decisions {
		action := "kept"
		if d.Remove {
			action = "removed"
			if r.dryRun {
				action = "would remove"
			}
			if _, err := r.teardown(ctx, d.Number, d.Namespace, d.Reason); err != nil {
				r.rt.Errorf("%v", err)
				failed = append(failed, d.Namespace)
				action = "failed: " + err.Error()
			} else if !r.dryRun {
				removed++
			}
		}
		last := "unknown"
		if !d.LastPush.IsZero() {
			last = preview.Age(now.Sub(d.LastPush)) + " ago"
		}
		rows = append(rows, []string{summary.InlineCode(d.Namespace), "#" + strconv.Itoa(d.Number), last, action, d.Reason})
	}
	title := fmt.Sprintf("🧹 Previews of %s: %d removed, %d kept", r.repo, removed, len(decisions)-removed-len(failed))
	if r.dryRun {
		title = fmt.Sprintf("🧪 Dry run of the reaper for %s (nothing changed)", r.repo)
	}
	r.log.Infof("%d preview(s) of %s: %d removed, %d failed", len(decisions), r.repo, removed, len(failed))
	s := r.rt.Summary().Heading(2, title)
	if len(rows) == 0 {
		s.Para("No preview namespace of this repository is up.")
	} else {
		s.Table([]string{"Namespace", "Pull request", "Last push", "Action", "Why"}, rows)
	}
	if !r.dryRun {
		r.rt.SetOutput("status", "reaped")
	}
	if len(failed) > 0 {
		r.rt.SetOutput("status", "failed")
		r.rt.SetOutput("failure-cause", "error")
		return fmt.Errorf("%d preview(s) not removed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

func sortedKeys[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}
