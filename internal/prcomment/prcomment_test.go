package prcomment

import (
	"context"
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
	"github.com/org/erlmcp-deploy/internal/preview"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const token = "ghs_secret_token_never_logged"

type env struct {
	fake  *githubfake.Server
	sleep *githubfake.Sleeps
	log   *ui.Buffer
	c     *Commenter
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := githubfake.New("acme", "erlmcp")
	t.Cleanup(fake.Close)
	base := fake.APIURL()
	client, err := github.NewClient(github.WithURLs(&base, &base), github.WithDisableRateLimitCheck(), github.WithAuthToken(token))
	require.NoError(t, err)
	e := &env{fake: fake, sleep: &githubfake.Sleeps{}, log: &ui.Buffer{}}
	e.c, err = New(Options{Client: client, Owner: "acme", Repo: "erlmcp", Marker: preview.Marker,
		Retry: ghretry.Policy{Sleep: e.sleep.Sleep}, Log: ui.NewText(e.log, true)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NotContains(t, e.log.String(), token, "the token is never logged") })
	return e
}

// writes lists the write calls as "METHOD /path".
func (e *env) writes() []string {
	var out []string
	for _, c := range e.fake.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, c.String())
		}
	}
	return out
}

func state(status preview.Status, sha string) preview.State {
	return preview.State{Status: status, Number: 12, URL: "https://pr-12.preview.example.com", Namespace: "erlmcp-pr-12",
		Images: []string{"ghcr.io/acme/erlmcp:pr-12-" + sha[:7]}, SHA: sha, Updated: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
}

func TestThreePushesEditOneComment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddPull(githubfake.Pull{Number: 12})
	e.fake.AddPull(githubfake.Pull{Number: 13})
	// The same bot's other comment, a reviewer quoting ours, and enough chatter that ours lands on page 2.
	bot := e.fake.AddComment(githubfake.Comment{Issue: 12, Body: "🤖 Coverage went up by 0.4%", User: githubfake.DefaultCommentUser})
	quote := e.fake.AddComment(githubfake.Comment{Issue: 12, Body: "> " + preview.Marker + "\n> ### 🟢 Preview is up\n\nNice!", User: "reviewer"})
	for i := range 120 {
		e.fake.AddComment(githubfake.Comment{Issue: 12, Body: fmt.Sprintf("comment %d", i), User: "reviewer"})
	}
	other := e.fake.AddComment(githubfake.Comment{Issue: 13, Body: preview.Marker + "\npull request 13's preview"})

	shas := []string{"1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "3333333ccccccccccccccccccccccccccccccccc"}
	var ids []int64
	for i, sha := range shas {
		s := state(preview.StatusUp, sha)
		if i == 2 {
			s.Status = preview.StatusFailed
			s.ServingSHA = shas[1]
			s.Cause = "missing-env: the release needs the environment variable ERLMCP_SECRET_KEY, which deployment/erlmcp does not set."
			s.Evidence = "** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing."
		}
		res, err := e.c.Upsert(ctx, 12, preview.CommentBody(s))
		require.NoError(t, err)
		assert.Equal(t, i == 0, res.Created, "push %d", i)
		assert.Contains(t, res.HTMLURL, fmt.Sprintf("/pull/12#issuecomment-%d", res.ID))
		ids = append(ids, res.ID)
	}
	assert.Equal(t, []int64{ids[0], ids[0], ids[0]}, ids, "one comment")
	assert.Equal(t, []string{
		"POST /repos/acme/erlmcp/issues/12/comments",
		fmt.Sprintf("PATCH /repos/acme/erlmcp/issues/comments/%d", ids[0]),
		fmt.Sprintf("PATCH /repos/acme/erlmcp/issues/comments/%d", ids[0]),
	}, e.writes(), "one POST, two PATCHes")

	var ours []githubfake.Comment
	for _, c := range e.fake.Comments(12) {
		if strings.HasPrefix(c.Body, preview.Marker) {
			ours = append(ours, c)
		}
		switch c.ID {
		case bot:
			assert.Equal(t, "🤖 Coverage went up by 0.4%", c.Body, "another comment of the same bot is never edited")
		case quote:
			assert.Equal(t, 0, c.Updated, "a reply quoting the marker is not ours")
		}
	}
	require.Len(t, ours, 1)
	assert.Equal(t, 2, ours[0].Updated)
	assert.Contains(t, ours[0].Body, "### 🔴 The last push failed to deploy")
	assert.Contains(t, ours[0].Body, "**Cause:** missing-env: the release needs the environment variable ERLMCP_SECRET_KEY")
	assert.Contains(t, ours[0].Body, "** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing.")
	assert.Contains(t, ours[0].Body, "The preview still serves the previous push, `2222222`")
	assert.Contains(t, ours[0].Body, "| Commit | `3333333` |")
	assert.Equal(t, preview.Marker+"\npull request 13's preview", e.fake.Comments(13)[0].Body, "another pull request's comment untouched")
	assert.Equal(t, other, e.fake.Comments(13)[0].ID)

	// The same body again writes nothing; down edits the same comment.
	e.fake.ResetCalls()
	s := state(preview.StatusFailed, shas[2])
	s.ServingSHA = shas[1]
	s.Cause = "missing-env: the release needs the environment variable ERLMCP_SECRET_KEY, which deployment/erlmcp does not set."
	s.Evidence = "** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing."
	res, err := e.c.Upsert(ctx, 12, preview.CommentBody(s))
	require.NoError(t, err)
	assert.True(t, res.Unchanged)
	assert.Empty(t, e.writes())
	res, err = e.c.Upsert(ctx, 12, preview.CommentBody(preview.State{Status: preview.StatusDown, Number: 12, Reason: "pull request #12 was closed"}))
	require.NoError(t, err)
	assert.Equal(t, ids[0], res.ID)
	assert.Contains(t, e.fake.Comments(12)[len(e.fake.Comments(12))-1].Body, "### ⚪ Preview removed")
}

func TestUpsertAddsTheMarker(t *testing.T) {
	e := newEnv(t)
	e.fake.AddPull(githubfake.Pull{Number: 12})
	for _, body := range []string{"first", "second"} {
		_, err := e.c.Upsert(context.Background(), 12, body)
		require.NoError(t, err)
	}
	cs := e.fake.Comments(12)
	require.Len(t, cs, 1)
	assert.Equal(t, preview.Marker+"\nsecond", cs[0].Body)
}

func TestFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddPull(githubfake.Pull{Number: 12})

	// A 502 is retried, then the comment is written.
	e.fake.FailNext("POST", "/repos/acme/erlmcp/issues/12/comments", 2, http.StatusBadGateway, nil)
	res, err := e.c.Upsert(ctx, 12, "hello")
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Len(t, e.sleep.All(), 2)
	assert.Contains(t, e.log.String(), "comment on pull request #12 failed (attempt 1/3), retrying in 1s")

	// A refusal says which permission is missing.
	e.fake.FailNextBody("PATCH", "/repos/acme/erlmcp/issues/comments/", 1, http.StatusForbidden, nil, `{"message":"Resource not accessible by integration"}`)
	_, err = e.c.Upsert(ctx, 12, "again")
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("edit comment %d of pull request #12 (HTTP 403)", res.ID))
	assert.Contains(t, err.Error(), "Resource not accessible by integration")
	assert.Contains(t, err.Error(), "the token needs the pull-requests: write permission")

	_, err = e.c.Upsert(ctx, 99, "no such pull request")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list the comments of pull request #99 (HTTP 404)")

	e.fake.FailNext("GET", "/repos/acme/erlmcp/issues/12/comments", 3, http.StatusServiceUnavailable, nil)
	_, err = e.c.Upsert(ctx, 12, "down")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list the comments of pull request #12 (HTTP 503)")
}

func TestNew(t *testing.T) {
	_, err := New(Options{Owner: "acme", Repo: "erlmcp", Marker: "x"})
	assert.ErrorContains(t, err, "need a GitHub client and a repository")
	client, err := github.NewClient()
	require.NoError(t, err)
	_, err = New(Options{Client: client, Owner: "acme", Repo: "erlmcp"})
	assert.ErrorContains(t, err, "need a marker")
}
