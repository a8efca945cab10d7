package preview

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>.md.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".md")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/preview -update to create it")
	assert.Equal(t, string(want), got)
}

func TestCommentBody(t *testing.T) {
	base := State{Number: 12, URL: "https://pr-12.preview.example.com", Namespace: "erlmcp-pr-12",
		Images: []string{"ghcr.io/acme/erlmcp:pr-12-0123456"}, SHA: "0123456789abcdef0123456789abcdef01234567",
		RunURL: "https://github.com/acme/erlmcp/actions/runs/42", Updated: time.Date(2026, 12, 6, 10, 4, 0, 0, time.UTC)}
	for name, tweak := range map[string]func(*State){
		"comment-up": func(s *State) { s.Status = StatusUp },
		"comment-up-images": func(s *State) {
			s.Status = StatusUp
			s.Images = append(s.Images, "ghcr.io/acme/erlmcp-dashboard:2.1.0")
		},
		"comment-failed": func(s *State) {
			s.Status = StatusFailed
			s.SHA = "89abcdef0123456789abcdef0123456789abcdef"
			s.ServingSHA = "0123456789abcdef0123456789abcdef01234567"
			s.Cause = "missing-env: the release needs the environment variable ERLMCP_SECRET_KEY, which deployment/erlmcp does not set."
			s.Evidence = "ERROR! Config provider Config.Reader failed with:\n** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing.\n```\n"
		},
		"comment-failed-first-push": func(s *State) {
			s.Status = StatusFailed
			s.URL = ""
			s.Cause = "image-not-found: ghcr.io/acme/erlmcp:pr-12-0123456 does not exist in the registry."
		},
		"comment-down": func(s *State) {
			s.Status = StatusDown
			s.Reason = "Pull request #12 was closed: namespace `erlmcp-pr-12` deleted, its deployments inactive"
			s.Images = nil
		},
		"comment-refused": func(s *State) {
			s.Status = StatusRefused
			_, s.Reason = AdmitFork(PullRequest{Number: 12, HeadRepo: "mallory/erlmcp", BaseRepo: "acme/erlmcp"}, false)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := base
			tweak(&s)
			body := CommentBody(s)
			assert.True(t, strings.HasPrefix(body, Marker+"\n"), "the marker starts the comment")
			golden(t, name, body)
		})
	}
}

func TestCommentEscapes(t *testing.T) {
	body := CommentBody(State{Status: StatusUp, URL: "https://x.example/a|b", Images: []string{"weird`image"}})
	assert.Contains(t, body, "| URL | https://x.example/a\\|b |")
	assert.Contains(t, body, "``weird`image``")
	assert.Contains(t, CommentBody(State{Status: "deploying"}), "### Preview: deploying")
}
