package preview

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prEvent is a pull_request payload as GitHub sends it (the fields Command reads).
func prEvent(action, headRepo string) []byte {
	head := `null`
	if headRepo != "" {
		head = `{"full_name":"` + headRepo + `"}`
	}
	return []byte(`{"action":"` + action + `","number":12,"pull_request":{"number":12,"title":"Faster boot","merged":false,
		"user":{"login":"octocat"},"head":{"sha":"0123456789abcdef0123456789abcdef01234567","ref":"faster-boot","repo":` + head + `},
		"base":{"sha":"fedcba9876543210fedcba9876543210fedcba98","ref":"main","repo":{"full_name":"acme/erlmcp"}}},
		"repository":{"full_name":"acme/erlmcp"}}`)
}

func TestCommand(t *testing.T) {
	pull := &PullRequest{Number: 12, HeadSHA: "0123456789abcdef0123456789abcdef01234567", HeadRef: "faster-boot",
		HeadRepo: "acme/erlmcp", BaseRepo: "acme/erlmcp", Title: "Faster boot", User: "octocat"}
	for _, tc := range []struct {
		name, event string
		payload     []byte
		override    string
		verb        Verb
		overridden  bool
		pull        bool
		err         string
	}{
		{name: "opened", event: "pull_request", payload: prEvent("opened", "acme/erlmcp"), verb: VerbUp, pull: true},
		{name: "synchronize", event: "pull_request", payload: prEvent("synchronize", "acme/erlmcp"), verb: VerbUp, pull: true},
		{name: "reopened", event: "pull_request", payload: prEvent("reopened", "acme/erlmcp"), verb: VerbUp, pull: true},
		{name: "closed", event: "pull_request", payload: prEvent("closed", "acme/erlmcp"), verb: VerbDown, pull: true},
		{name: "schedule", event: "schedule", payload: []byte(`{"schedule":"17 3 * * *"}`), verb: VerbReap},
		{name: "workflow_dispatch", event: "workflow_dispatch", payload: []byte(`{"inputs":{}}`), verb: VerbReap},
		{name: "schedule without a payload", event: "schedule", verb: VerbReap},
		{name: "override down on synchronize", event: "pull_request", payload: prEvent("synchronize", "acme/erlmcp"), override: "down",
			verb: VerbDown, overridden: true, pull: true},
		{name: "override reap on a pull request", event: "pull_request", payload: prEvent("opened", "acme/erlmcp"), override: " Reap ",
			verb: VerbReap, overridden: true, pull: true},
		{name: "override up on labeled", event: "pull_request", payload: prEvent("labeled", "acme/erlmcp"), override: "up",
			verb: VerbUp, overridden: true, pull: true},
		{name: "override unknown", event: "pull_request", payload: prEvent("opened", "acme/erlmcp"), override: "start",
			err: `command "start" is not one of up, down, reap`},
		{name: "override up without a pull request", event: "workflow_dispatch", payload: []byte(`{}`), override: "up",
			err: "up needs a pull request, and the workflow_dispatch event carries none"},
		{name: "labeled", event: "pull_request", payload: prEvent("labeled", "acme/erlmcp"),
			err: `the pull_request event's action "labeled" asks nothing of a preview: it acts on pull_request (opened, synchronize, reopened → up; closed → down)`},
		{name: "push", event: "push", payload: []byte(`{"ref":"refs/heads/main"}`),
			err: "the push event asks nothing of a preview: it acts on pull_request (opened"},
		{name: "pull_request_target", event: "pull_request_target", payload: prEvent("opened", "evil/erlmcp"),
			err: "refuses the pull_request_target event"},
		{name: "no event", event: "", err: "no event name (GITHUB_EVENT_NAME)"},
		{name: "payload not JSON", event: "pull_request", payload: []byte(`{`), err: "read the pull_request event payload"},
		{name: "no head commit", event: "pull_request", payload: []byte(`{"action":"opened","pull_request":{"number":3,"head":{},"base":{}}}`),
			err: "pull request #3 has no head commit"},
		{name: "no number", event: "pull_request", payload: []byte(`{"action":"closed","pull_request":{"head":{},"base":{}}}`),
			err: "pull request has no number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Command(tc.event, tc.payload, tc.override)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.verb, c.Verb)
			assert.Equal(t, tc.event, c.Event)
			assert.Equal(t, tc.overridden, c.Overridden)
			if tc.pull {
				assert.Equal(t, pull, c.Pull)
			} else {
				assert.Nil(t, c.Pull)
			}
		})
	}
}

func TestFork(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		fork       bool
	}{
		{"same repository", "acme/erlmcp", false},
		{"same repository, other case", "ACME/erlmcp", false},
		{"fork", "mallory/erlmcp", true},
		{"deleted fork", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Command("pull_request", prEvent("opened", tc.head), "")
			require.NoError(t, err)
			assert.Equal(t, tc.fork, c.Pull.Fork())
			assert.Equal(t, tc.head, c.Pull.HeadRepo)
			assert.Equal(t, "acme/erlmcp", c.Pull.BaseRepo)
		})
	}
}
