// Package ghdeploys records the deploy and rollback actions' runs in
// GitHub's Deployments API (package ghdeploy), from their github-token,
// environment-url and health-url inputs and the runner's variables.
package ghdeploys

import (
	"context"
	"strings"
	"sync"

	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghdeploy"
	"github.com/org/erlmcp-deploy/internal/release"
)

// Recorder records one run's deploys; a Recorder without github-token does nothing.
type Recorder struct {
	t   *ghdeploy.Tracker
	url string
}

// New builds the Recorder from rt's inputs (github-token; environment-url, else health-url).
func New(ctx context.Context, rt *ghaction.Runtime) *Recorder {
	token := rt.String("github-token")
	if token == "" {
		return &Recorder{}
	}
	rt.Mask(token)
	url := rt.String("environment-url")
	if url == "" {
		url = rt.String("health-url")
	}
	client, err := release.NewClient(rt.Getenv("GITHUB_API_URL"), token, nil)
	if err != nil {
		rt.Warnf("GitHub deployments are not recorded: %v", err)
		return &Recorder{}
	}
	owner, repo, _ := strings.Cut(rt.Getenv("GITHUB_REPOSITORY"), "/")
	return &Recorder{url: url, t: ghdeploy.New(ghdeploy.Options{Client: client, Owner: owner, Repo: repo, Ref: rt.Getenv("GITHUB_SHA"),
		LogURL: setup.RunURL(rt), Log: rt})}
}

// Target is the recording of one deploy to one GitHub environment.
type Target struct {
	r    *Recorder
	env  string
	once sync.Once
	d    *ghdeploy.Deployment
	spec ghdeploy.Spec
}

// Target is the recording of a deploy to env ("production", or "production/prod-eu" for one context of several).
func (r *Recorder) Target(env string) *Target {
	return &Target{r: r, env: env}
}

// Describe sets what the deploy is; nothing is sent yet.
func (t *Target) Describe(description string, payload map[string]any) {
	t.spec = ghdeploy.Spec{Environment: t.env, Description: description, Payload: payload, EnvironmentURL: t.r.url,
		Production: isProduction(t.env)}
}

// Start creates the GitHub deployment (in_progress) once: at the deploy's
// first change, so bad input leaves nothing on GitHub.
func (t *Target) Start(ctx context.Context) {
	if t == nil || t.r.t == nil {
		return
	}
	t.once.Do(func() { t.d = t.r.t.Start(ctx, t.spec) })
}

// Finish writes the deploy's outcome (its status output) on the deployment,
// if one was started: succeeded → success; rolled-back, failed, aborted →
// failure; paused stays in_progress (the canary waits for a decision).
func (t *Target) Finish(ctx context.Context, status, reason string) {
	if t == nil || t.d == nil {
		return
	}
	switch status {
	case "succeeded":
		t.d.Finish(ctx, "success", t.spec.Description)
	case "paused":
	case "rolled-back", "failed", "aborted":
		t.d.Finish(ctx, "failure", status+": "+reason)
	default:
		t.d.Finish(ctx, "error", status+": "+reason)
	}
}

// Restored marks the newest deployment of env that deployed image (or the
// release's images) active again: a rollback put it back.
func (r *Recorder) Restored(ctx context.Context, env, image, description string) {
	if r == nil || r.t == nil || image == "" {
		return
	}
	r.t.Restored(ctx, ghdeploy.Spec{Environment: env, Description: description, EnvironmentURL: r.url, Production: isProduction(env),
		Payload: map[string]any{"image": image}},
		func(p map[string]any) bool { return p["image"] == image })
}

func isProduction(env string) bool {
	e, _, _ := strings.Cut(strings.ToLower(env), "/")
	return e == "production" || e == "prod"
}
