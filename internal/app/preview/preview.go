// Package preview wires the preview action: a running copy of the release
// per pull request (up), removed when the pull request closes (down) or when
// a scheduled run finds it closed or idle past the ttl (reap).
//
// The decisions (what the event asks, names, labels, limits, what to reap,
// the comment) are package internal/preview's; the release is deployed,
// verified and restored by the apply engine, as deploy does.
package preview

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghdeploy"
	"github.com/org/erlmcp-deploy/internal/imageref"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/kube"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/prcomment"
	"github.com/org/erlmcp-deploy/internal/preview"
	"github.com/org/erlmcp-deploy/internal/release"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// run is one run of the preview action: its validated inputs and clients.
type run struct {
	rt   *ghaction.Runtime
	log  *timeline.Recorder
	cmd  preview.Cmd
	repo string // owner/name
	// release names the release; prefix is the namespace prefix.
	release, prefix string
	urlTemplate     string
	envPrefix       string
	limits          preview.Limits
	images          manifest.Images
	required        []string
	timeout, ttl    time.Duration
	dryRun          bool

	kc       *kube.Client
	gh       *github.Client // nil without github-token
	comments *prcomment.Commenter
	deploys  *ghdeploy.Tracker
}

// Run reads and validates every input, then brings the pull request's
// preview up, takes it down, or reaps idle and closed previews.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	r := &run{rt: rt, log: timeline.New(rt), repo: rt.Getenv("GITHUB_REPOSITORY"), dryRun: rt.Bool("dry-run")}
	r.github()
	r.command(ctx)
	r.inputs()
	if err := rt.InputErr(); err != nil {
		return err
	}
	end := r.log.Group("Connect")
	kc, err := connect.Kube(rt)
	end()
	if err != nil {
		rt.SetOutput("status", "failed")
		rt.SetOutput("failure-cause", "error")
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	r.kc = kc
	switch r.cmd.Verb {
	case preview.VerbUp:
		return r.up(ctx)
	case preview.VerbDown:
		return r.down(ctx)
	default:
		return r.reap(ctx)
	}
}

// github builds the GitHub clients from github-token (none without it).
func (r *run) github() {
	token := r.rt.String("github-token")
	if token == "" {
		return
	}
	r.rt.Mask(token)
	c, err := release.NewClient(r.rt.Getenv("GITHUB_API_URL"), token, nil)
	if err != nil {
		r.rt.Invalid("github-token", "GitHub API: "+err.Error(), "run on GitHub Actions, or set GITHUB_API_URL to an http(s) URL")
		return
	}
	r.gh = c
}

// command decides what the run does: from the event, the command input, and
// the pull-request input outside a pull_request event.
func (r *run) command(ctx context.Context) {
	rt := r.rt
	if !strings.Contains(r.repo, "/") {
		rt.Invalid("command", fmt.Sprintf("needs the repository as owner/name in GITHUB_REPOSITORY (it is %q)", r.repo),
			"run on GitHub Actions, or set GITHUB_REPOSITORY=owner/name")
		return
	}
	var payload []byte
	if path := rt.Getenv("GITHUB_EVENT_PATH"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			rt.Invalid("command", "the event payload cannot be read: "+err.Error(), "the file GITHUB_EVENT_PATH names")
			return
		}
		payload = b
	}
	number := rt.Int("pull-request")
	cmd, err := preview.Command(rt.Getenv("GITHUB_EVENT_NAME"), payload, rt.String("command"))
	switch {
	case number < 0:
		rt.Invalid("pull-request", "must be a pull request's number", "a number such as 12")
		return
	case number > 0 && (cmd.Verb == preview.VerbReap || !cmd.Overridden) && err == nil:
		rt.Invalid("pull-request", "is read only with command up or down", "set command: up or command: down, or drop pull-request")
		return
	case number > 0 && cmd.Pull != nil && cmd.Pull.Number != number:
		rt.Invalid("pull-request", fmt.Sprintf("is %d, and the event's pull request is #%d", number, cmd.Pull.Number), "the event's pull request, or no pull-request input")
		return
	case number > 0 && cmd.Pull == nil && rt.Getenv("GITHUB_EVENT_NAME") != "pull_request_target":
		verb := preview.Verb(strings.ToLower(strings.TrimSpace(rt.String("command"))))
		if verb != preview.VerbUp && verb != preview.VerbDown {
			rt.Invalid("command", "must be up or down with pull-request", "up, down")
			return
		}
		pull, perr := r.pull(ctx, number)
		if perr != nil {
			rt.Invalid("pull-request", perr.Error(), "an existing pull request of "+r.repo+", with github-token set")
			return
		}
		cmd, err = preview.Cmd{Verb: verb, Event: rt.Getenv("GITHUB_EVENT_NAME"), Overridden: true, Pull: pull}, nil
	}
	if err != nil {
		rt.Invalid("command", err.Error(), "up, down or reap; or the events "+preview.Events)
		return
	}
	r.cmd = cmd
}

// pull reads pull request number from GitHub.
func (r *run) pull(ctx context.Context, number int) (*preview.PullRequest, error) {
	if r.gh == nil {
		return nil, errors.New("reading the pull request needs github-token")
	}
	owner, name, _ := strings.Cut(r.repo, "/")
	pr, _, err := r.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return nil, fmt.Errorf("read pull request #%d of %s: %w", number, r.repo, err)
	}
	p := &preview.PullRequest{Number: number, HeadSHA: pr.GetHead().GetSHA(), HeadRef: pr.GetHead().GetRef(),
		HeadRepo: pr.GetHead().GetRepo().GetFullName(), BaseRepo: pr.GetBase().GetRepo().GetFullName(),
		Title: pr.GetTitle(), User: pr.GetUser().GetLogin(), Merged: pr.GetMerged()}
	if p.BaseRepo == "" {
		p.BaseRepo = r.repo
	}
	if pr.GetState() != "open" && strings.EqualFold(r.rt.String("command"), "up") {
		return nil, fmt.Errorf("pull request #%d is %s: only an open pull request gets a preview", number, pr.GetState())
	}
	return p, nil
}

// inputs reads and checks the inputs the verb uses.
func (r *run) inputs() {
	rt := r.rt
	r.release = rt.String("release")
	if err := inventory.ValidateName(r.release); err != nil {
		rt.Invalid("release", err.Error(), "a lowercase DNS name of at most 53 characters, e.g. erlmcp")
	}
	r.prefix = rt.String("namespace-prefix")
	if r.prefix == "" {
		r.prefix = preview.DefaultPrefix(r.release)
	}
	number := 1
	if r.cmd.Pull != nil {
		number = r.cmd.Pull.Number
	}
	if _, err := preview.NamespaceName(r.prefix, number); err != nil {
		rt.Invalid("namespace-prefix", err.Error(), "lowercase letters, digits and '-', starting with a letter, e.g. erlmcp-pr-")
	}
	r.envPrefix = rt.String("environment-prefix")
	r.urlTemplate = rt.String("url-template")
	if _, err := preview.URL(r.urlTemplate, number, "ns", "0000000"); err != nil {
		rt.Invalid("url-template", err.Error(), "an http(s) URL with {number}, {namespace} or {sha}, e.g. https://pr-{number}.preview.example.com")
	}
	r.timeout = setup.Timeout(rt)
	if r.ttl = rt.Duration("ttl"); r.ttl < 0 {
		rt.Invalid("ttl", "must not be negative", "a Go duration such as 72h, or 0 to keep previews of open pull requests")
	}
	if rt.Int("max-previews") < 0 {
		rt.Invalid("max-previews", "must not be negative", "a number such as 10, or 0 for no limit")
	}
	switch r.cmd.Verb {
	case preview.VerbUp:
		r.upInputs()
	case preview.VerbReap:
		if r.gh == nil {
			rt.Invalid("github-token", "is required with reap: it tells which pull requests are still open", "a token with pull-requests: read (the default github.token)")
		}
	}
}

// upInputs reads the release and the namespace's limits.
func (r *run) upInputs() {
	rt := r.rt
	if len(rt.List("manifests")) == 0 {
		rt.Invalid("manifests", "is required with up: it is the release the preview runs", "files, directories or kustomization directories, one per line")
	}
	images, err := manifest.ParseImages(strings.Join(rt.List("images"), "\n"))
	if err != nil {
		rt.Invalid("images", err.Error(), "`repository=reference`, one per line, e.g. ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:pr-12")
	}
	if s := rt.String("image"); s != "" {
		ref, err := imageref.Parse(s)
		switch {
		case err != nil:
			rt.Invalid("image", err.Error(), "repo:tag or repo@sha256:<64 hex digits>")
		default:
			if _, dup := images[ref.Name()]; dup {
				rt.Invalid("images", "names repository "+ref.Name()+" that the image input sets too", "one image per repository")
			}
			if images == nil {
				images = manifest.Images{}
			}
			images[ref.Name()] = ref.String()
			r.required = append(r.required, ref.Name())
		}
	}
	r.images = images
	r.limits = preview.Limits{Pods: rt.String("quota-pods"),
		RequestsCPU: rt.String("quota-requests-cpu"), RequestsMemory: rt.String("quota-requests-memory"),
		LimitsCPU: rt.String("quota-limits-cpu"), LimitsMemory: rt.String("quota-limits-memory"),
		DefaultRequestCPU: rt.String("default-request-cpu"), DefaultRequestMemory: rt.String("default-request-memory"),
		DefaultCPU: rt.String("default-limit-cpu"), DefaultMemory: rt.String("default-limit-memory")}
	var ie *preview.InputError
	if err := r.limits.Validate(); errors.As(err, &ie) {
		rt.Invalid(ie.Input, fmt.Sprintf("%q %s", ie.Value, ie.Problem), ie.Accepted)
	}
}

// trackerRef is the commit the GitHub deployments name: the pull request's head, else the run's.
func (r *run) trackerRef() string {
	if r.cmd.Pull != nil && r.cmd.Pull.HeadSHA != "" {
		return r.cmd.Pull.HeadSHA
	}
	if sha := r.rt.Getenv("GITHUB_SHA"); sha != "" {
		return sha
	}
	return "HEAD"
}

// ghSide builds the comment writer and the deployment tracker (after input validation, so bad input writes nothing).
func (r *run) ghSide() {
	if r.gh == nil || r.dryRun {
		return
	}
	owner, name, _ := strings.Cut(r.repo, "/")
	c, err := prcomment.New(prcomment.Options{Client: r.gh, Owner: owner, Repo: name, Marker: preview.Marker, Log: r.rt})
	if err != nil {
		r.rt.Warnf("the pull request's comment is not written: %v", err)
	}
	r.comments = c
	r.deploys = ghdeploy.New(ghdeploy.Options{Client: r.gh, Owner: owner, Repo: name, Ref: r.trackerRef(), LogURL: setup.RunURL(r.rt), Log: r.rt})
}

// comment writes the pull request's one preview comment (a warning when GitHub refuses).
func (r *run) comment(ctx context.Context, s preview.State) {
	if r.comments == nil {
		return
	}
	s.RunURL, s.Updated = setup.RunURL(r.rt), time.Now()
	res, err := r.comments.Upsert(context.WithoutCancel(ctx), s.Number, preview.CommentBody(s))
	switch {
	case err != nil:
		r.rt.Warnf("the preview comment of pull request #%d was not written: %v", s.Number, err)
	case res.Created:
		r.log.Infof("commented on pull request #%d: %s", s.Number, res.HTMLURL)
	default:
		r.log.Infof("comment %d of pull request #%d updated", res.ID, s.Number)
	}
}

// environment is the GitHub environment of pull request number's preview.
func (r *run) environment(number int) string { return preview.EnvironmentName(r.envPrefix, number) }
