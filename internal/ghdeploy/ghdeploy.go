// Package ghdeploy records deploys on GitHub's Deployments API, which the
// repository's Environments page shows: one deployment per environment (per
// kube context when there are several), statuses in_progress then success,
// failure or error, with the run's log URL and the environment's URL, and
// auto_inactive so only the serving deployment is active. A rollback writes a
// success status on the deployment it restored.
//
// GitHub failing never fails a deploy: every call goes through the shared
// GitHub retry policy (internal/ghretry) and a call that still fails is one
// warning; after an outage, a rate limit that outlasts the retries or a
// missing permission, the Tracker records nothing more for the rest of the run.
package ghdeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/ghretry"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Final states a deploy records with Finish.
const (
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// maxDescription is GitHub's limit, in characters, on a deployment status description.
const maxDescription = 140

// task is the deployment task every deploy records.
const task = "deploy"

// maxListPages bounds how far back Restored looks for the restored deployment.
const maxListPages = 5

// Options configure a Tracker.
type Options struct {
	// Client talks to GitHub; nil makes a Tracker that does nothing. Its own
	// rate-limit check should be off (github.WithDisableRateLimitCheck, as
	// release.NewClient does): the Tracker waits on rate limits itself.
	Client *github.Client
	// Owner and Repo name the repository (GITHUB_REPOSITORY) the deployments are recorded on.
	Owner, Repo string
	// Ref is the commit or ref deployed (GITHUB_SHA); GitHub requires it.
	Ref string
	// LogURL is the run's URL, the log_url of every status.
	LogURL string
	// Retry is the policy of every call; zero fields get 3 attempts, a 1s to
	// 4s backoff and server-requested waits capped at 30s.
	Retry ghretry.Policy
	// WaitBudget is the most the Tracker's retries may wait in all (default
	// 2m): past it, GitHub deployments are off for the run.
	WaitBudget time.Duration
	// Log receives the warnings (nil = discard).
	Log ui.Logger
}

// Tracker records deploys on GitHub; its methods are safe for concurrent use
// and do nothing on a nil Tracker or one without a Client.
type Tracker struct {
	o          Options
	off        atomic.Bool  // GitHub failed for good earlier in the run
	envRefused atomic.Bool  // deleting an environment was refused: the token lacks administration rights
	waited     atomic.Int64 // nanoseconds the retries waited so far
}

// New returns a Tracker for o (one that does nothing when o.Client is nil).
func New(o Options) *Tracker {
	o.Retry = o.Retry.Brief()
	if o.WaitBudget <= 0 {
		o.WaitBudget = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = ui.Discard{}
	}
	t := &Tracker{o: o}
	if o.Client != nil && (o.Ref == "" || o.Owner == "" || o.Repo == "") {
		o.Log.Warnf("GitHub deployments are not recorded: no repository or ref (GITHUB_REPOSITORY, GITHUB_SHA) to record them on")
		t.off.Store(true)
	}
	return t
}

// EnvironmentName is the GitHub environment of a deploy: environment itself,
// or "environment/kubeContext" when the deploy goes to several contexts.
func EnvironmentName(environment, kubeContext string, contexts int) string {
	if contexts <= 1 || kubeContext == "" {
		return environment
	}
	return environment + "/" + kubeContext
}

// Spec is one deployment to record.
type Spec struct {
	// Environment is the GitHub environment, e.g. "production" or "production/prod-eu".
	Environment string
	// Description says what is deployed, e.g. "deploy ghcr.io/acme/erlmcp:1.2.0".
	Description string
	// Payload is stored with the deployment, e.g. image, namespace, deployment,
	// context, revision; Restored matches on it.
	Payload map[string]any
	// EnvironmentURL is where the deployed service answers, shown on success.
	EnvironmentURL string
	// Production marks a production environment (GitHub does so by default
	// for "production"); Transient one that will not outlive the deployment.
	Production, Transient bool
}

// Deployment is one GitHub deployment under way; its methods do nothing on a
// nil Deployment or one GitHub refused.
type Deployment struct {
	t        *Tracker
	id       int64
	spec     Spec
	finished atomic.Bool
}

// ID is the GitHub deployment's ID (0 when none was recorded).
func (d *Deployment) ID() int64 {
	if d == nil {
		return 0
	}
	return d.id
}

// on reports whether the Tracker may call GitHub.
func (t *Tracker) on() bool {
	return t != nil && t.o.Client != nil && !t.off.Load()
}

// Start records a deployment of s and its in_progress status. When GitHub
// fails it warns once and returns a Deployment whose methods do nothing.
func (t *Tracker) Start(ctx context.Context, s Spec) *Deployment {
	if !t.on() {
		return &Deployment{}
	}
	req := github.DeploymentRequest{Ref: t.o.Ref, Task: github.Ptr(task), AutoMerge: github.Ptr(false),
		RequiredContexts: []string{}, Environment: github.Ptr(s.Environment), Description: github.Ptr(truncate(s.Description))}
	if len(s.Payload) > 0 {
		req.Payload = s.Payload
	}
	if s.Production || s.Transient {
		// A transient (preview) environment says it is not production outright.
		req.ProductionEnvironment = github.Ptr(s.Production)
	}
	if s.Transient {
		req.TransientEnvironment = github.Ptr(true)
	}
	var dep *github.Deployment
	err := t.do(ctx, "create GitHub deployment of "+s.Environment, func() error {
		var err error
		dep, _, err = t.o.Client.Repositories.CreateDeployment(ctx, t.o.Owner, t.o.Repo, req)
		return err
	})
	if err != nil {
		t.fail(s.Environment, "creating the deployment", err)
		return &Deployment{}
	}
	d := &Deployment{t: t, id: dep.GetID(), spec: s}
	if err := d.status(ctx, "in_progress", s.Description); err != nil {
		t.fail(s.Environment, "the in_progress status", err)
		return &Deployment{}
	}
	t.o.Log.Debugf("GitHub deployment %d of %s: in_progress", d.id, s.Environment)
	return d
}

// Finish records the outcome, state success, failure or error (anything else
// is recorded as error), once; later calls do nothing. A success carries the
// environment URL and makes the environment's other deployments inactive.
func (d *Deployment) Finish(ctx context.Context, state, description string) {
	if d == nil || d.id == 0 || !d.t.on() || !d.finished.CompareAndSwap(false, true) {
		return
	}
	switch state {
	case StateSuccess, StateFailure, StateError:
	default:
		d.t.o.Log.Warnf("GitHub deployment %d of %s: unknown state %q recorded as %s", d.id, d.spec.Environment, state, StateError)
		state = StateError
	}
	if err := d.status(ctx, state, description); err != nil {
		d.t.fail(d.spec.Environment, "the "+state+" status", err)
		return
	}
	d.t.o.Log.Debugf("GitHub deployment %d of %s: %s", d.id, d.spec.Environment, state)
}

// status writes one status of d (auto_inactive on, log_url always,
// environment_url on success).
func (d *Deployment) status(ctx context.Context, state, description string) error {
	req := github.DeploymentStatusRequest{State: state, Description: github.Ptr(truncate(description)), AutoInactive: github.Ptr(true)}
	if d.t.o.LogURL != "" {
		req.LogURL = github.Ptr(d.t.o.LogURL)
	}
	if state == StateSuccess && d.spec.EnvironmentURL != "" {
		req.EnvironmentURL = github.Ptr(d.spec.EnvironmentURL)
	}
	return d.t.do(ctx, fmt.Sprintf("GitHub deployment %d %s status", d.id, state), func() error {
		_, _, err := d.t.o.Client.Repositories.CreateDeploymentStatus(ctx, d.t.o.Owner, d.t.o.Repo, d.id, req)
		return err
	})
}

// Restored records a rollback of s.Environment: a success status, with
// s.Description and s.EnvironmentURL, on the newest deployment of the
// environment whose payload match accepts (among the newest 500), so
// auto_inactive makes the one it replaced inactive; when none matches, a new
// deployment of s, in_progress then success. GitHub failing is a warning.
func (t *Tracker) Restored(ctx context.Context, s Spec, match func(payload map[string]any) bool) {
	if !t.on() {
		return
	}
	opts := &github.DeploymentsListOptions{Environment: s.Environment, ListOptions: github.ListOptions{PerPage: 100}}
	var found *github.Deployment
	for page := 1; page <= maxListPages && found == nil && match != nil; page++ {
		opts.Page = page
		var list []*github.Deployment
		var resp *github.Response
		err := t.do(ctx, "list GitHub deployments of "+s.Environment, func() error {
			var err error
			list, resp, err = t.o.Client.Repositories.ListDeployments(ctx, t.o.Owner, t.o.Repo, opts)
			return err
		})
		if err != nil {
			t.fail(s.Environment, "listing deployments", err)
			return
		}
		for _, dep := range list {
			if match(payload(dep.Payload)) {
				found = dep
				break
			}
		}
		if resp.NextPage == 0 {
			break
		}
	}
	if found == nil {
		t.Start(ctx, s).Finish(ctx, StateSuccess, s.Description)
		return
	}
	d := &Deployment{t: t, id: found.GetID(), spec: s}
	d.Finish(ctx, StateSuccess, s.Description)
}

// Deactivate marks inactive, with description, every deployment of
// environment (among its newest 500) whose latest status is not inactive,
// except the one whose ID is except (0: none), and returns how many it marked. A preview calls it
// after a push succeeded, and on down: GitHub's auto_inactive leaves
// transient environments' deployments alone. GitHub failing is a warning.
func (t *Tracker) Deactivate(ctx context.Context, environment string, except int64, description string) int {
	if !t.on() {
		return 0
	}
	opts := &github.DeploymentsListOptions{Environment: environment, ListOptions: github.ListOptions{PerPage: 100}}
	var deps []*github.Deployment
	for page := 1; page <= maxListPages; page++ {
		opts.Page = page
		var list []*github.Deployment
		var resp *github.Response
		err := t.do(ctx, "list GitHub deployments of "+environment, func() error {
			var err error
			list, resp, err = t.o.Client.Repositories.ListDeployments(ctx, t.o.Owner, t.o.Repo, opts)
			return err
		})
		if err != nil {
			t.fail(environment, "listing deployments", err)
			return 0
		}
		deps = append(deps, list...)
		if resp.NextPage == 0 {
			break
		}
	}
	marked := 0
	for _, dep := range deps {
		if dep.GetID() == except || dep.GetEnvironment() != environment {
			continue
		}
		var latest []*github.DeploymentStatus
		err := t.do(ctx, fmt.Sprintf("GitHub deployment %d statuses", dep.GetID()), func() error {
			var err error
			latest, _, err = t.o.Client.Repositories.ListDeploymentStatuses(ctx, t.o.Owner, t.o.Repo, dep.GetID(), &github.ListOptions{PerPage: 1})
			return err
		})
		if err != nil {
			t.fail(environment, fmt.Sprintf("reading deployment %d's statuses", dep.GetID()), err)
			return marked
		}
		if len(latest) > 0 && latest[0].GetState() == stateInactive {
			continue
		}
		d := &Deployment{t: t, id: dep.GetID(), spec: Spec{Environment: environment}}
		if err := d.status(ctx, stateInactive, description); err != nil {
			t.fail(environment, fmt.Sprintf("marking deployment %d inactive", dep.GetID()), err)
			return marked
		}
		marked++
	}
	t.o.Log.Debugf("GitHub deployments of %s: %d marked inactive", environment, marked)
	return marked
}

// stateInactive is the status of a deployment that no longer serves.
const stateInactive = "inactive"

// DeleteEnvironment deletes the GitHub environment (a closed pull request's
// preview), and reports whether it did. That needs administration rights,
// which GITHUB_TOKEN never has: a 403 or 404 is one warning for the run, and
// later calls do not try again. Any other failure is a warning too.
func (t *Tracker) DeleteEnvironment(ctx context.Context, environment string) bool {
	if !t.on() {
		return false
	}
	if t.envRefused.Load() {
		t.o.Log.Debugf("GitHub environment %s is left: the token may not delete environments", environment)
		return false
	}
	err := t.do(ctx, "delete GitHub environment "+environment, func() error {
		_, err := t.o.Client.Repositories.DeleteEnvironment(ctx, t.o.Owner, t.o.Repo, url.PathEscape(environment))
		return err
	})
	if err == nil {
		t.o.Log.Debugf("GitHub environment %s deleted", environment)
		return true
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	limited := errors.As(err, &rl) || errors.As(err, &abuse) // a 403 that is a rate limit, not a refusal
	if code := ghretry.StatusCode(err); !limited && (code == http.StatusForbidden || code == http.StatusNotFound) {
		if t.envRefused.CompareAndSwap(false, true) {
			t.o.Log.Warnf("GitHub environment %s was not deleted (HTTP %d: %s): deleting an environment needs a token with "+
				"the administration: write permission, which GITHUB_TOKEN never has; its deployments are inactive, so it shows "+
				"nothing live. Delete it by hand, or give github-token a token with that permission; no more environments are deleted this run",
				environment, code, message(err))
		}
		return false
	}
	t.fail(environment, "deleting the environment", err)
	return false
}

// message is GitHub's own message in err, else err itself.
func message(err error) string {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Message != "" {
		return er.Message
	}
	return err.Error()
}

// payload decodes a deployment's payload, a JSON object or a string holding
// one (nil when it is neither).
func payload(raw json.RawMessage) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		return m
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && json.Unmarshal([]byte(s), &m) == nil {
		return m
	}
	return nil
}

// truncate shortens s to maxDescription characters, ending it with "…" when cut.
func truncate(s string) string {
	r := []rune(s)
	if len(r) <= maxDescription {
		return s
	}
	return string(r[:maxDescription-1]) + "…"
}

// errBudget stops the retries once they waited WaitBudget in all.
var errBudget = errors.New("retry wait budget spent")

// do runs call under the retry policy; retries are info lines, and they stop
// once the run's retries waited WaitBudget.
func (t *Tracker) do(ctx context.Context, what string, call func() error) error {
	p := t.o.Retry
	p.Sleep = func(ctx context.Context, d time.Duration) error {
		if time.Duration(t.waited.Add(int64(d))) > t.o.WaitBudget {
			return errBudget
		}
		return t.o.Retry.Sleep(ctx, d)
	}
	var last error
	err := p.Do(ctx, what, t.o.Log.Infof, func() error {
		last = call()
		return last
	})
	if errors.Is(err, errBudget) {
		return fmt.Errorf("%w (retries stopped: they waited %s in all this run)", last, t.o.WaitBudget)
	}
	return err
}

// fail warns that what failed for environment, naming the HTTP status, and
// turns the Tracker off when GitHub cannot be expected to answer later calls
// (an outage, a rate limit that outlasted the retries, a missing permission).
func (t *Tracker) fail(environment, what string, err error) {
	code := ghretry.StatusCode(err)
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	rateLimited := errors.As(err, &rl) || errors.As(err, &abuse) || code == http.StatusTooManyRequests
	status := "no HTTP status"
	if code != 0 {
		status = fmt.Sprintf("HTTP %d", code)
	}
	msg := message(err)
	note := ""
	if !rateLimited && (code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound) {
		note = "; the token needs the deployments: write permission"
	}
	if code == 0 || code >= 500 || rateLimited || note != "" {
		if t.off.CompareAndSwap(false, true) {
			note += "; no more GitHub deployments are recorded this run"
		}
	}
	t.o.Log.Warnf("GitHub deployment of %s: %s failed (%s): %s%s; the deploy goes on", environment, what, status, msg, note)
}
