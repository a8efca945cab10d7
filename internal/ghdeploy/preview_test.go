package ghdeploy

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/githubfake"
)

// previewSpec is a preview's deployment, as the preview action records it.
func previewSpec(number int, image string) Spec {
	return Spec{Environment: fmt.Sprintf("pr-%d", number), Description: "preview " + image,
		Payload:        map[string]any{"image": image, "namespace": fmt.Sprintf("erlmcp-pr-%d", number), "pull_request": number},
		EnvironmentURL: fmt.Sprintf("https://pr-%d.preview.example.com", number), Transient: true}
}

// push records one push of pull request number's preview, as up does: the
// deployment, its outcome, and on success the preview's older deployments inactive.
func (e *env) push(number int, image, state string) *Deployment {
	ctx := context.Background()
	d := e.tr.Start(ctx, previewSpec(number, image))
	d.Finish(ctx, state, state+" of "+image)
	if state == StateSuccess {
		e.tr.Deactivate(ctx, fmt.Sprintf("pr-%d", number), d.ID(), "superseded by "+image)
	}
	return d
}

func TestPreviewDeployments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.push(13, "erlmcp:pr-13-a", StateSuccess)
	e.push(12, "erlmcp:pr-12-a", StateSuccess)
	e.push(12, "erlmcp:pr-12-b", StateSuccess)
	e.push(12, "erlmcp:pr-12-c", StateFailure)
	e.push(12, "erlmcp:pr-12-d", StateSuccess)
	assert.Equal(t, map[string][]string{
		"pr-13 preview erlmcp:pr-13-a": {"in_progress", "success"},
		"pr-12 preview erlmcp:pr-12-a": {"in_progress", "success", "inactive"},
		"pr-12 preview erlmcp:pr-12-b": {"in_progress", "success", "inactive"},
		"pr-12 preview erlmcp:pr-12-c": {"in_progress", "failure", "inactive"},
		"pr-12 preview erlmcp:pr-12-d": {"in_progress", "success"},
	}, e.states(), "one active deployment per preview; another pull request's preview untouched")
	for _, d := range e.fake.Deployments() {
		assert.True(t, d.TransientEnvironment, d.Description)
		assert.False(t, d.ProductionEnvironment, d.Description)
		if d.Statuses[1].State == "success" {
			assert.Equal(t, fmt.Sprintf("https://%s.preview.example.com", d.Environment), d.Statuses[1].EnvironmentURL)
		}
	}
	assert.Equal(t, "superseded by erlmcp:pr-12-b", e.fake.Deployments()[1].Statuses[2].Description)

	// down: every deployment of the preview inactive, its environment deleted.
	assert.Equal(t, 1, e.tr.Deactivate(ctx, "pr-12", 0, "preview removed: pull request closed"))
	assert.Equal(t, 0, e.tr.Deactivate(ctx, "pr-12", 0, "again"), "nothing left to mark")
	assert.True(t, e.tr.DeleteEnvironment(ctx, "pr-12"))
	for _, d := range e.fake.Deployments() {
		last := d.Statuses[len(d.Statuses)-1].State
		if d.Environment == "pr-12" {
			assert.Equal(t, "inactive", last, d.Description)
		} else {
			assert.Equal(t, "success", last, "pull request 13's preview is never touched")
		}
	}
	assert.Equal(t, []string{"pr-13"}, e.fake.Environments())
	assert.Empty(t, e.warnings())
}

func TestDeleteEnvironmentRefused(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.push(12, "erlmcp:pr-12-a", StateSuccess)
			e.push(14, "erlmcp:pr-14-a", StateSuccess)
			if status == http.StatusForbidden {
				e.fake.ForbidEnvironmentDeletes(true)
			} else {
				e.fake.FailNext("DELETE", "/repos/acme/erlmcp/environments/", 1, status, nil)
			}
			e.tr.Deactivate(ctx, "pr-12", 0, "preview removed")
			assert.False(t, e.tr.DeleteEnvironment(ctx, "pr-12"))
			e.fake.ResetCalls()
			e.tr.Deactivate(ctx, "pr-14", 0, "preview removed")
			assert.False(t, e.tr.DeleteEnvironment(ctx, "pr-14"), "not tried again this run")
			for _, c := range e.fake.Calls() {
				assert.NotEqual(t, "DELETE", c.Method, c.String())
			}
			require.Len(t, e.warnings(), 1, "one warning for the run")
			assert.Contains(t, e.warnings()[0], fmt.Sprintf("GitHub environment pr-12 was not deleted (HTTP %d: ", status))
			assert.Contains(t, e.warnings()[0], "administration: write permission, which GITHUB_TOKEN never has")
			assert.Equal(t, []string{"pr-12", "pr-14"}, e.fake.Environments())
			for _, d := range e.fake.Deployments() {
				assert.Equal(t, "inactive", d.Statuses[len(d.Statuses)-1].State, "deployments inactive all the same")
			}
			// Deployments are still recorded: a refused delete does not turn GitHub off.
			e.push(15, "erlmcp:pr-15-a", StateSuccess)
			assert.Equal(t, []string{"in_progress", "success"}, e.states()["pr-15 preview erlmcp:pr-15-a"])
		})
	}
}

func TestDeactivateFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.push(12, "erlmcp:pr-12-a", StateSuccess)
	e.fake.FailNext("GET", "/repos/acme/erlmcp/deployments", 3, http.StatusBadGateway, nil)
	assert.Equal(t, 0, e.tr.Deactivate(ctx, "pr-12", 0, "preview removed"))
	require.Len(t, e.warnings(), 1)
	assert.Contains(t, e.warnings()[0], "GitHub deployment of pr-12: listing deployments failed (HTTP 502)")
	assert.Len(t, e.sleep.All(), 2, "retried under the policy")
	// Off for the rest of the run after an outage: nothing is tried.
	e.fake.ResetCalls()
	assert.Equal(t, 0, e.tr.Deactivate(ctx, "pr-12", 0, "preview removed"))
	assert.False(t, e.tr.DeleteEnvironment(ctx, "pr-12"))
	assert.Empty(t, e.fake.Calls())

	// Many deployments: every page is read.
	e = newEnv(t)
	for i := range 120 {
		e.fake.AddDeployment(githubfake.Deployment{Ref: "main", Environment: "pr-7", TransientEnvironment: true,
			Statuses: []githubfake.DeploymentStatus{{State: []string{"success", "failure", "inactive"}[i%3]}}})
	}
	assert.Equal(t, 80, e.tr.Deactivate(ctx, "pr-7", 0, "preview removed"))
	for _, d := range e.fake.Deployments() {
		assert.Equal(t, "inactive", d.Statuses[len(d.Statuses)-1].State)
	}
}

func TestNilTrackerPreview(t *testing.T) {
	var tr *Tracker
	assert.Equal(t, 0, tr.Deactivate(context.Background(), "pr-1", 0, "x"))
	assert.False(t, tr.DeleteEnvironment(context.Background(), "pr-1"))
	assert.Equal(t, 0, New(Options{}).Deactivate(context.Background(), "pr-1", 0, "x"))
}
