// Package setup holds what the deploy, rollback and smoke adapters share:
// the per-environment config file, Slack, and who this run is. (The cluster
// client is in package connect, so smoke does not link client-go.)
package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/config"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/notify"
	"github.com/org/erlmcp-deploy/internal/probe"
)

// ApplyConfig reads the config file (the `config` input, else
// .github/erlmcp-deploy.yml when present) and makes its entry for the
// `environment` input the defaults of every other input. The file is shared by
// every action: keys of other actions are ignored (a debug line says so), keys
// of no action are invalid `config` input naming the file and line.
func ApplyConfig(rt *ghaction.Runtime) {
	env := rt.String("environment")
	s, err := config.LoadSettings(rt.String("config"), env)
	if err != nil {
		rt.Invalid("config", err.Error(), "")
		return
	}
	if len(s.Values) == 0 {
		return
	}
	defaults := make(map[string]ghaction.Default, len(s.Values))
	for k, v := range s.Values {
		defaults[k] = ghaction.Default{Value: v.Text, Line: v.Line}
	}
	rt.SetDefaults(s.Path, defaults)
	rt.Debugf("defaults for environment %q from %s", env, s.Path)
}

// RunURL is the URL of this workflow run, or "" outside GitHub Actions.
func RunURL(rt *ghaction.Runtime) string {
	server, repo, id := rt.Getenv("GITHUB_SERVER_URL"), rt.Getenv("GITHUB_REPOSITORY"), rt.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	u := fmt.Sprintf("%s/%s/actions/runs/%s", server, repo, id)
	if a := rt.Getenv("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
		u += "/attempts/" + a
	}
	return u
}

// Actor is who started the run: the GitHub actor, else user@host.
func Actor(rt *ghaction.Runtime) string {
	if a := rt.Getenv("GITHUB_ACTOR"); a != "" {
		return a
	}
	name := "someone"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return strings.TrimSuffix(name+"@"+host, "@")
}

// Holder identifies this run in locks: its URL, else user@host:pid.
func Holder(rt *ghaction.Runtime) string {
	if u := RunURL(rt); u != "" {
		return u
	}
	return fmt.Sprintf("%s:%d", Actor(rt), os.Getpid())
}

// TempDir is where files for later steps go: $RUNNER_TEMP, else the OS temp dir.
func TempDir(rt *ghaction.Runtime) string {
	if d := rt.Getenv("RUNNER_TEMP"); d != "" {
		return d
	}
	return os.TempDir()
}

// Notifier builds the Slack notifier from the slack-* inputs; a non-empty
// thread (a message this step posted) overrides slack-thread.
// $ERLMCP_SLACK_API_URL points it at another Slack API, for tests.
func Notifier(rt *ghaction.Runtime, thread string) *notify.Notifier {
	if thread == "" {
		thread = rt.String("slack-thread")
	}
	return notify.New(notify.Config{
		Token: rt.String("slack-token"), Channel: rt.String("slack-channel"), Thread: thread,
		Webhook: rt.String("slack-webhook"), Mention: rt.String("slack-mention"), APIURL: rt.Getenv("ERLMCP_SLACK_API_URL"),
	}, rt)
}

// Running posts (or updates) a "running" message when a bot token is set, so
// people see a stage start; it returns the notifier to report the end with.
func Running(ctx context.Context, rt *ghaction.Runtime, ev notify.Event) *notify.Notifier {
	n := Notifier(rt, "")
	if rt.String("slack-token") == "" {
		return n // a webhook cannot update: post the outcome only
	}
	if ts := n.NotifyBestEffort(ctx, ev); ts != "" {
		return Notifier(rt, ts)
	}
	return n
}

// Event is a Slack event with this run's context filled in.
func Event(rt *ghaction.Runtime, stage, environment, status string) notify.Event {
	ev := notify.Event{Stage: stage, Environment: environment, Status: status, RunURL: RunURL(rt), Actor: Actor(rt),
		Repository: rt.Getenv("GITHUB_REPOSITORY"), Commit: rt.Getenv("GITHUB_SHA"),
		Production: strings.EqualFold(environment, "production") || strings.EqualFold(environment, "prod")}
	if path := rt.Getenv("GITHUB_EVENT_PATH"); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			var payload struct {
				HeadCommit struct {
					Message string `json:"message"`
				} `json:"head_commit"`
			}
			if json.Unmarshal(b, &payload) == nil {
				ev.CommitMessage = payload.HeadCommit.Message
			}
		}
	}
	return ev
}

// Timeout reads the timeout input, which must be longer than zero.
func Timeout(rt *ghaction.Runtime) time.Duration {
	d := rt.Duration("timeout")
	if d <= 0 {
		rt.Invalid("timeout", "must be longer than 0", "a Go duration such as 90s, 5m, 10m")
	}
	return d
}

// HealthCheck validates the health-url input and returns the check deploy and
// rollback run after their rollout (nil when the input is empty).
func HealthCheck(rt *ghaction.Runtime) func(context.Context) error {
	return URLCheck(rt, "health-url")
}

// URLCheck is a check that the URL in input answers 2xx (nil when it is empty).
func URLCheck(rt *ghaction.Runtime, input string) func(context.Context) error {
	healthURL := rt.String(input)
	if healthURL == "" {
		return nil
	}
	if u, err := url.Parse(healthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		rt.Invalid(input, fmt.Sprintf("%q is not an http(s) URL", healthURL), "http://host[:port]/path or https://...")
		return nil
	}
	return func(ctx context.Context) error {
		r, err := probe.WaitHealthy(ctx, healthURL, probe.Options{})
		if err == nil {
			rt.Infof("health %s answered %d after %d attempt(s)", healthURL, r.Status, r.Attempts)
		}
		return err
	}
}

// CauseText is a failure's cause for a Slack event: the sentence, and the
// evidence with where it was read ("" for both when nothing failed).
func CauseText(c diagnose.Cause) (cause, evidence string) {
	if c.Class == "" {
		return "", ""
	}
	evidence = c.Evidence
	if evidence != "" && c.Source != "" {
		evidence = c.Source + ": " + evidence
	}
	return c.Sentence(), evidence
}

// InputErrors turns the apply engine's input problems into annotations on
// the input (and the manifest's file and line), saying nothing was changed
// unless the engine changed something.
func InputErrors(ie *apply.InputError) error {
	var out ghaction.InputErrors
	unchanged := " (nothing was changed)"
	if ie.Changed {
		unchanged = ""
	}
	for _, p := range ie.Problems {
		out = append(out, &ghaction.InputError{Name: ie.Input, Reason: p.Error() + unchanged, File: p.File, Line: p.Line})
	}
	if ie.Note != "" {
		out = append(out, &ghaction.InputError{Name: ie.Input, Reason: ie.Note + unchanged})
	}
	return out
}
