package ghdeploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v89/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/ghretry"
	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const (
	token  = "ghs_secret_token_never_logged"
	sha    = "0123456789abcdef0123456789abcdef01234567"
	runURL = "https://github.com/acme/erlmcp/actions/runs/42"
)

type env struct {
	t     *testing.T
	fake  *githubfake.Server
	sleep *githubfake.Sleeps
	log   *ui.Buffer
	tr    *Tracker
}

// newEnv is a Tracker against the fake, built with the client options release.NewClient uses.
func newEnv(t *testing.T, tweak ...func(*Options)) *env {
	t.Helper()
	fake := githubfake.New("acme", "erlmcp")
	t.Cleanup(fake.Close)
	base := fake.APIURL()
	client, err := github.NewClient(github.WithURLs(&base, &base), github.WithDisableRateLimitCheck(), github.WithAuthToken(token))
	require.NoError(t, err)
	e := &env{t: t, fake: fake, sleep: &githubfake.Sleeps{}, log: &ui.Buffer{}}
	o := Options{Client: client, Owner: "acme", Repo: "erlmcp", Ref: sha, LogURL: runURL,
		Retry: ghretry.Policy{Sleep: e.sleep.Sleep}, Log: ui.NewText(e.log, true)}
	for _, f := range tweak {
		f(&o)
	}
	e.tr = New(o)
	t.Cleanup(func() { assert.NotContains(t, e.log.String(), token, "the token is never logged") })
	return e
}

func (e *env) warnings() []string {
	var out []string
	for _, l := range strings.Split(e.log.String(), "\n") {
		if strings.HasPrefix(l, "warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// states maps every deployment's environment and description to its states.
func (e *env) states() map[string][]string {
	out := map[string][]string{}
	for _, d := range e.fake.Deployments() {
		out[d.Environment+" "+d.Description] = d.States()
	}
	return out
}

func spec(environment, image string) Spec {
	return Spec{Environment: environment, Description: "deploy " + image,
		Payload:        map[string]any{"image": image, "namespace": "mcp", "deployment": "erlmcp", "revision": 3},
		EnvironmentURL: "https://mcp.example.com", Production: true}
}

func (e *env) deploy(environment, image, state string) *Deployment {
	d := e.tr.Start(context.Background(), spec(environment, image))
	d.Finish(context.Background(), state, state+" of "+image)
	return d
}

func TestFinish(t *testing.T) {
	for _, tc := range []struct {
		state, want string
		warn        bool
	}{
		{StateSuccess, "success", false},
		{StateFailure, "failure", false},
		{StateError, "error", false},
		{"done", "error", true},
	} {
		t.Run(tc.state, func(t *testing.T) {
			e := newEnv(t)
			d := e.deploy("production", "ghcr.io/acme/erlmcp:1.2.0", tc.state)
			deps := e.fake.Deployments()
			require.Len(t, deps, 1)
			got := deps[0]
			assert.Equal(t, d.ID(), got.ID)
			assert.Equal(t, []string{"in_progress", tc.want}, got.States())
			assert.Equal(t, sha, got.Ref)
			assert.Equal(t, "deploy", got.Task)
			assert.Equal(t, "production", got.Environment)
			assert.Equal(t, "deploy ghcr.io/acme/erlmcp:1.2.0", got.Description)
			assert.True(t, got.ProductionEnvironment)
			assert.False(t, got.TransientEnvironment)
			assert.JSONEq(t, `{"image":"ghcr.io/acme/erlmcp:1.2.0","namespace":"mcp","deployment":"erlmcp","revision":3}`, string(got.Payload))
			for _, st := range got.Statuses {
				assert.Equal(t, runURL, st.LogURL, "log_url on every status")
				assert.True(t, st.AutoInactive)
			}
			assert.Empty(t, got.Statuses[0].EnvironmentURL)
			if tc.want == "success" {
				assert.Equal(t, "https://mcp.example.com", got.Statuses[1].EnvironmentURL)
			} else {
				assert.Empty(t, got.Statuses[1].EnvironmentURL, "environment_url only on success")
			}
			assert.Equal(t, tc.warn, len(e.warnings()) == 1, "%v", e.warnings())
			// Finish is once.
			d.Finish(context.Background(), StateFailure, "again")
			assert.Len(t, e.fake.Deployments()[0].Statuses, 2)
		})
	}
}

func TestCreateRequest(t *testing.T) {
	e := newEnv(t)
	s := spec("staging", "x:1")
	s.Production, s.Transient = false, true
	e.tr.Start(context.Background(), s)
	calls := e.fake.Calls()
	require.Len(t, calls, 2)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(calls[0].Body), &body))
	assert.Equal(t, map[string]any{"ref": sha, "task": "deploy", "auto_merge": false, "required_contexts": []any{},
		"environment": "staging", "description": "deploy x:1", "transient_environment": true, "production_environment": false,
		"payload": map[string]any{"image": "x:1", "namespace": "mcp", "deployment": "erlmcp", "revision": float64(3)}}, body)
	assert.False(t, e.fake.Deployments()[0].ProductionEnvironment, "GitHub's default for staging")
	assert.Equal(t, "POST /repos/acme/erlmcp/deployments/"+fmt.Sprint(e.fake.Deployments()[0].ID)+"/statuses", calls[1].String())
}

func TestAutoInactive(t *testing.T) {
	e := newEnv(t)
	e.deploy("production", "erlmcp:1.0.0", StateSuccess)
	e.deploy("production", "erlmcp:1.1.0", StateFailure)
	assert.Equal(t, []string{"in_progress", "success"}, e.states()["production deploy erlmcp:1.0.0"], "a failed deploy leaves the serving one active")
	e.deploy("production", "erlmcp:1.2.0", StateSuccess)
	assert.Equal(t, map[string][]string{
		"production deploy erlmcp:1.0.0": {"in_progress", "success", "inactive"},
		"production deploy erlmcp:1.1.0": {"in_progress", "failure"},
		"production deploy erlmcp:1.2.0": {"in_progress", "success"},
	}, e.states())
}

func TestEnvironmentsPerContext(t *testing.T) {
	e := newEnv(t)
	contexts := []string{"prod-eu", "prod-us"}
	for _, image := range []string{"erlmcp:1.0.0", "erlmcp:1.1.0"} {
		for _, kc := range contexts {
			state := StateSuccess
			if kc == "prod-us" && image == "erlmcp:1.1.0" {
				state = StateFailure
			}
			e.deploy(EnvironmentName("production", kc, len(contexts)), image, state)
		}
	}
	assert.Equal(t, map[string][]string{
		"production/prod-eu deploy erlmcp:1.0.0": {"in_progress", "success", "inactive"},
		"production/prod-eu deploy erlmcp:1.1.0": {"in_progress", "success"},
		"production/prod-us deploy erlmcp:1.0.0": {"in_progress", "success"},
		"production/prod-us deploy erlmcp:1.1.0": {"in_progress", "failure"},
	}, e.states())
}

func TestEnvironmentName(t *testing.T) {
	for _, tc := range []struct {
		env, kc  string
		contexts int
		want     string
	}{
		{"production", "prod-eu", 1, "production"},
		{"production", "prod-eu", 2, "production/prod-eu"},
		{"production", "", 2, "production"},
		{"staging", "kind", 0, "staging"},
	} {
		assert.Equal(t, tc.want, EnvironmentName(tc.env, tc.kc, tc.contexts))
	}
}

func imageIs(image string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["image"] == image }
}

func rollback(image string) Spec {
	s := spec("production", image)
	s.Description = "rollback to " + image
	return s
}

func TestRestored(t *testing.T) {
	t.Run("the deploy failed: the restored one is active again, the failed one stays failed", func(t *testing.T) {
		e := newEnv(t)
		e.deploy("production", "erlmcp:1.0.0", StateSuccess)
		e.deploy("production", "erlmcp:1.1.0", StateSuccess)
		e.deploy("production", "erlmcp:1.2.0", StateFailure)
		e.tr.Restored(context.Background(), rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
		assert.Equal(t, map[string][]string{
			"production deploy erlmcp:1.0.0": {"in_progress", "success", "inactive"},
			"production deploy erlmcp:1.1.0": {"in_progress", "success", "success"},
			"production deploy erlmcp:1.2.0": {"in_progress", "failure"},
		}, e.states())
		restored := e.fake.Deployments()[1].Statuses[2]
		assert.Equal(t, "rollback to erlmcp:1.1.0", restored.Description)
		assert.Equal(t, "https://mcp.example.com", restored.EnvironmentURL)
		assert.Equal(t, runURL, restored.LogURL)
		assert.Empty(t, e.warnings())
	})
	t.Run("the release failed after its deploy succeeded: auto_inactive makes it inactive", func(t *testing.T) {
		e := newEnv(t)
		e.deploy("production", "erlmcp:1.1.0", StateSuccess)
		e.deploy("production", "erlmcp:1.2.0", StateSuccess)
		e.tr.Restored(context.Background(), rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
		assert.Equal(t, map[string][]string{
			"production deploy erlmcp:1.1.0": {"in_progress", "success", "inactive", "success"},
			"production deploy erlmcp:1.2.0": {"in_progress", "success", "inactive"},
		}, e.states())
	})
	t.Run("the newest match wins, other environments are not looked at", func(t *testing.T) {
		e := newEnv(t)
		e.deploy("production", "erlmcp:1.1.0", StateSuccess)
		e.deploy("production", "erlmcp:1.1.0", StateSuccess)
		e.deploy("staging", "erlmcp:1.1.0", StateSuccess)
		e.deploy("production", "erlmcp:1.2.0", StateFailure)
		e.tr.Restored(context.Background(), rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
		deps := e.fake.Deployments()
		assert.Equal(t, []string{"in_progress", "success", "inactive"}, deps[0].States())
		assert.Equal(t, []string{"in_progress", "success", "success"}, deps[1].States())
		assert.Equal(t, []string{"in_progress", "success"}, deps[2].States())
		assert.Contains(t, e.fake.Calls()[len(e.fake.Calls())-2].Query, "environment=production")
	})
	t.Run("a string payload matches too", func(t *testing.T) {
		e := newEnv(t)
		old := e.fake.AddDeployment(githubfake.Deployment{Ref: "v1", Payload: json.RawMessage(`"{\"image\":\"erlmcp:1.0.0\"}"`),
			Statuses: []githubfake.DeploymentStatus{{State: "success"}}})
		e.tr.Restored(context.Background(), rollback("erlmcp:1.0.0"), imageIs("erlmcp:1.0.0"))
		deps := e.fake.Deployments()
		require.Len(t, deps, 1)
		assert.Equal(t, old, deps[0].ID)
		assert.Equal(t, []string{"success", "success"}, deps[0].States())
	})
	t.Run("no match: a new deployment, in_progress then success", func(t *testing.T) {
		e := newEnv(t)
		e.deploy("production", "erlmcp:1.2.0", StateSuccess)
		e.tr.Restored(context.Background(), rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
		assert.Equal(t, map[string][]string{
			"production deploy erlmcp:1.2.0":      {"in_progress", "success", "inactive"},
			"production rollback to erlmcp:1.1.0": {"in_progress", "success"},
		}, e.states())
	})
}

func TestRestoredLooksFivePagesBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newer int // deployments newer than the match
		found bool
	}{
		{"on page 2", 150, true},
		{"last of page 5", 499, true},
		{"on page 6", 500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			match := e.fake.AddDeployment(githubfake.Deployment{Ref: "v1", Payload: json.RawMessage(`{"image":"erlmcp:1.0.0"}`),
				Statuses: []githubfake.DeploymentStatus{{State: "success"}}})
			for range tc.newer {
				e.fake.AddDeployment(githubfake.Deployment{Ref: "v2", Payload: json.RawMessage(`{"image":"erlmcp:2.0.0"}`),
					Statuses: []githubfake.DeploymentStatus{{State: "failure"}}})
			}
			e.tr.Restored(context.Background(), rollback("erlmcp:1.0.0"), imageIs("erlmcp:1.0.0"))
			deps := e.fake.Deployments()
			lists := 0
			for _, c := range e.fake.Calls() {
				if c.Method == http.MethodGet {
					lists++
				}
			}
			assert.LessOrEqual(t, lists, 5)
			if tc.found {
				assert.Equal(t, match, deps[0].ID)
				assert.Equal(t, []string{"success", "success"}, deps[0].States())
				assert.Len(t, deps, tc.newer+1)
			} else {
				assert.Equal(t, []string{"success", "inactive"}, deps[0].States(), "not found: the new deployment's success made it inactive")
				assert.Equal(t, []string{"in_progress", "success"}, deps[len(deps)-1].States(), "a new deployment")
			}
		})
	}
}

func TestOutage(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"GET", "POST"} {
		e.fake.FailNext(m, "/repos/acme/erlmcp/deployments", 1000, http.StatusInternalServerError, nil)
	}
	d := e.tr.Start(context.Background(), spec("production/prod-eu", "erlmcp:1.2.0"))
	assert.Zero(t, d.ID())
	d.Finish(context.Background(), StateSuccess, "done")
	e.tr.Start(context.Background(), spec("production/prod-us", "erlmcp:1.2.0")).Finish(context.Background(), StateSuccess, "done")
	e.tr.Restored(context.Background(), rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
	assert.Len(t, e.fake.Calls(), 3, "three tries of the first call, then nothing more this run")
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, e.sleep.All())
	w := e.warnings()
	require.Len(t, w, 1, e.log.String())
	assert.Contains(t, w[0], "production/prod-eu")
	assert.Contains(t, w[0], "HTTP 500")
	assert.Contains(t, w[0], "the deploy goes on")
	assert.Empty(t, e.fake.Deployments())
}

func TestRateLimitsRecover(t *testing.T) {
	e := newEnv(t)
	e.fake.FailNextBody("POST", "/repos/acme/erlmcp/deployments", 1, http.StatusForbidden, http.Header{"Retry-After": {"20"}},
		`{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	e.fake.FailNext("POST", "/repos/acme/erlmcp/deployments/", 1, http.StatusForbidden,
		http.Header{"X-RateLimit-Remaining": {"0"}, "X-RateLimit-Limit": {"5000"},
			"X-RateLimit-Reset": {fmt.Sprint(time.Now().Add(time.Hour).Unix())}})
	e.fake.FailNext("POST", "/repos/acme/erlmcp/deployments/", 1, http.StatusBadGateway, nil)
	e.deploy("production", "erlmcp:1.2.0", StateSuccess)
	assert.Equal(t, map[string][]string{"production deploy erlmcp:1.2.0": {"in_progress", "success"}}, e.states())
	assert.Equal(t, []time.Duration{20 * time.Second, 30 * time.Second, 2 * time.Second}, e.sleep.All(),
		"the secondary limit's Retry-After, the primary reset capped at 30s, then the backoff before a third try")
	assert.Empty(t, e.warnings(), "a GitHub failure that recovers is no warning")
	assert.Contains(t, e.log.String(), "retrying in 20s")
}

func TestWaitBudget(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Retry.Attempts = 10; o.WaitBudget = time.Minute })
	e.fake.FailNextBody("POST", "/repos/acme/erlmcp/deployments", 100, http.StatusForbidden, http.Header{"Retry-After": {"25"}},
		`{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest#secondary-rate-limits"}`)
	d := e.tr.Start(context.Background(), spec("production", "erlmcp:1.2.0"))
	assert.Zero(t, d.ID())
	assert.Equal(t, []time.Duration{25 * time.Second, 25 * time.Second}, e.sleep.All(), "the third wait would pass the budget")
	w := e.warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "HTTP 403")
	assert.NotContains(t, w[0], "permission", "a rate limit is not a missing permission")
	e.tr.Start(context.Background(), spec("staging", "erlmcp:1.2.0"))
	assert.Len(t, e.fake.Calls(), 3, "off for the rest of the run")
}

func TestClientErrors(t *testing.T) {
	t.Run("a refused deployment warns and the next one is recorded", func(t *testing.T) {
		e := newEnv(t)
		e.fake.FailNext("POST", "/repos/acme/erlmcp/deployments", 1, http.StatusUnprocessableEntity, nil)
		assert.Zero(t, e.deploy("production", "erlmcp:1.1.0", StateSuccess).ID())
		assert.NotZero(t, e.deploy("production", "erlmcp:1.2.0", StateSuccess).ID())
		w := e.warnings()
		require.Len(t, w, 1)
		assert.Contains(t, w[0], "HTTP 422")
		assert.Empty(t, e.sleep.All(), "a 422 is not retried")
	})
	t.Run("a missing permission warns once and stops", func(t *testing.T) {
		e := newEnv(t)
		e.fake.FailNextBody("POST", "/repos/acme/erlmcp/deployments", 1, http.StatusForbidden, nil,
			`{"message":"Resource not accessible by integration"}`)
		e.deploy("production/prod-eu", "erlmcp:1.2.0", StateSuccess)
		e.deploy("production/prod-us", "erlmcp:1.2.0", StateSuccess)
		w := e.warnings()
		require.Len(t, w, 1)
		assert.Contains(t, w[0], "(HTTP 403): Resource not accessible by integration")
		assert.Contains(t, w[0], "deployments: write")
		assert.Len(t, e.fake.Calls(), 1)
	})
	t.Run("a failed final status warns", func(t *testing.T) {
		e := newEnv(t)
		d := e.tr.Start(context.Background(), spec("production", "erlmcp:1.2.0"))
		e.fake.FailNext("POST", "/repos/acme/erlmcp/deployments/", 1, http.StatusUnprocessableEntity, nil)
		d.Finish(context.Background(), StateSuccess, "ok")
		w := e.warnings()
		require.Len(t, w, 1)
		assert.Contains(t, w[0], "success status")
		assert.Equal(t, []string{"in_progress"}, e.fake.Deployments()[0].States())
	})
	t.Run("no ref: one warning, no call", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Ref = "" })
		e.deploy("production", "erlmcp:1.2.0", StateSuccess)
		assert.Len(t, e.warnings(), 1)
		assert.Empty(t, e.fake.Calls())
	})
}

func TestDescriptionTruncated(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"short", 5},
		{strings.Repeat("é", 140), 140},
		{strings.Repeat("é", 141), 140},
		{strings.Repeat("x", 500), 140},
	} {
		got := truncate(tc.in)
		assert.Equal(t, tc.want, len([]rune(got)))
		assert.Equal(t, len([]rune(tc.in)) > 140, strings.HasSuffix(got, "…"))
	}
	e := newEnv(t)
	e.deploy("production", strings.Repeat("ghcr.io/acme/erlmcp:1.2.0 ", 10), StateSuccess)
	d := e.fake.Deployments()[0]
	assert.Equal(t, []string{"in_progress", "success"}, d.States(), "GitHub refuses a longer status description")
	assert.Len(t, []rune(d.Description), 140)
}

func TestNothingWithoutClient(t *testing.T) {
	ctx := context.Background()
	for name, tr := range map[string]*Tracker{"nil client": New(Options{Owner: "acme", Repo: "erlmcp", Ref: sha}), "nil tracker": nil} {
		t.Run(name, func(t *testing.T) {
			d := tr.Start(ctx, spec("production", "erlmcp:1.2.0"))
			assert.Zero(t, d.ID())
			d.Finish(ctx, StateSuccess, "ok")
			tr.Restored(ctx, rollback("erlmcp:1.1.0"), imageIs("erlmcp:1.1.0"))
		})
	}
	var d *Deployment
	d.Finish(ctx, StateSuccess, "ok")
	assert.Zero(t, d.ID())
}
