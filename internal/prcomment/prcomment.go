// Package prcomment keeps one comment of ours on a pull request, found again
// by a hidden marker that starts its body (never by its author alone: the
// token's bot writes other comments too) and edited in place on every run.
//
// Every call goes through the shared GitHub retry policy (internal/ghretry);
// a call that still fails is returned as an error for the caller to report.
// Runs of one pull request must not overlap (the preview workflow's
// concurrency group), or both may create the comment.
package prcomment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/ghretry"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// maxPages bounds how many pages of 100 comments Find reads.
const maxPages = 30

// Options configure a Commenter.
type Options struct {
	// Client talks to GitHub; its own rate-limit check should be off
	// (github.WithDisableRateLimitCheck): the retry policy waits on rate limits.
	Client *github.Client
	// Owner and Repo name the repository of the pull requests.
	Owner, Repo string
	// Marker starts the comment's body, e.g. "<!-- erlmcp-deploy preview -->".
	Marker string
	// Retry is the policy of every call; zero fields get 3 attempts, a 1s to
	// 4s backoff and server-requested waits capped at 30s.
	Retry ghretry.Policy
	// Log receives the retries (nil = discard).
	Log ui.Logger
}

// Commenter writes the marked comment of pull requests.
type Commenter struct {
	o Options
}

// New returns a Commenter for o.
func New(o Options) (*Commenter, error) {
	if o.Client == nil || o.Owner == "" || o.Repo == "" {
		return nil, errors.New("pull-request comments need a GitHub client and a repository (GITHUB_REPOSITORY)")
	}
	if strings.TrimSpace(o.Marker) == "" {
		return nil, errors.New("pull-request comments need a marker to find them again")
	}
	o.Retry = o.Retry.Brief()
	if o.Log == nil {
		o.Log = ui.Discard{}
	}
	return &Commenter{o: o}, nil
}

// Result is the comment written.
type Result struct {
	ID      int64
	HTMLURL string
	// Created is set when there was no marked comment yet; Unchanged when the body was already the same.
	Created, Unchanged bool
}

// Marked reports whether body is one of ours: it starts with the marker
// (a reply quoting it starts with "> " and is not).
func (c *Commenter) Marked(body string) bool {
	return strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), c.o.Marker)
}

// Find returns the oldest marked comment of pull request number, nil when there is none.
func (c *Commenter) Find(ctx context.Context, number int) (*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 1; page <= maxPages; page++ {
		opts.Page = page
		var list []*github.IssueComment
		var resp *github.Response
		err := c.do(ctx, fmt.Sprintf("list the comments of pull request #%d", number), func() error {
			var err error
			list, resp, err = c.o.Client.Issues.ListComments(ctx, c.o.Owner, c.o.Repo, number, opts)
			return err
		})
		if err != nil {
			return nil, c.wrap(fmt.Sprintf("list the comments of pull request #%d", number), err)
		}
		for _, cm := range list {
			if c.Marked(cm.GetBody()) {
				return cm, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
	}
	return nil, nil
}

// Upsert writes body (the marker is put first when it is not there) as the
// marked comment of pull request number: edits it in place when it exists,
// else creates it.
func (c *Commenter) Upsert(ctx context.Context, number int, body string) (Result, error) {
	if !c.Marked(body) {
		body = c.o.Marker + "\n" + body
	}
	found, err := c.Find(ctx, number)
	if err != nil {
		return Result{}, err
	}
	if found != nil && found.GetBody() == body {
		return Result{ID: found.GetID(), HTMLURL: found.GetHTMLURL(), Unchanged: true}, nil
	}
	var out *github.IssueComment
	if found != nil {
		what := fmt.Sprintf("edit comment %d of pull request #%d", found.GetID(), number)
		err = c.do(ctx, what, func() error {
			var err error
			out, _, err = c.o.Client.Issues.EditComment(ctx, c.o.Owner, c.o.Repo, found.GetID(), &github.IssueComment{Body: github.Ptr(body)})
			return err
		})
		if err != nil {
			return Result{}, c.wrap(what, err)
		}
		return Result{ID: out.GetID(), HTMLURL: out.GetHTMLURL()}, nil
	}
	what := fmt.Sprintf("comment on pull request #%d", number)
	err = c.do(ctx, what, func() error {
		var err error
		out, _, err = c.o.Client.Issues.CreateComment(ctx, c.o.Owner, c.o.Repo, number, &github.IssueComment{Body: github.Ptr(body)})
		return err
	})
	if err != nil {
		return Result{}, c.wrap(what, err)
	}
	return Result{ID: out.GetID(), HTMLURL: out.GetHTMLURL(), Created: true}, nil
}

// do runs call under the retry policy, retries logged as info lines.
func (c *Commenter) do(ctx context.Context, what string, call func() error) error {
	return c.o.Retry.Do(ctx, what, c.o.Log.Infof, call)
}

// wrap says what failed, with the HTTP status and what a refusal needs.
func (c *Commenter) wrap(what string, err error) error {
	code := ghretry.StatusCode(err)
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl) || errors.As(err, &abuse):
		return fmt.Errorf("%s: rate limited: %w", what, err)
	case code == http.StatusForbidden || code == http.StatusNotFound || code == http.StatusUnauthorized:
		return fmt.Errorf("%s (HTTP %d): %w; the token needs the pull-requests: write permission "+
			"(a pull request from a fork gets a read-only GITHUB_TOKEN)", what, code, err)
	case code != 0:
		return fmt.Errorf("%s (HTTP %d): %w", what, code, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
