package preview

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamespaceName(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		number       int
		want, err    string
	}{
		{name: "default prefix", prefix: DefaultPrefix("erlmcp"), number: 12, want: "erlmcp-pr-12"},
		{name: "own prefix", prefix: "preview-", number: 7, want: "preview-7"},
		{name: "no prefix", prefix: "", number: 7, want: "7"},
		{name: "63 characters", prefix: strings.Repeat("a", 61), number: 12, want: strings.Repeat("a", 61) + "12"},
		{name: "64 characters", prefix: strings.Repeat("a", 62), number: 12,
			err: `namespace "` + strings.Repeat("a", 62) + `12" (namespace-prefix "` + strings.Repeat("a", 62) + `" + pull request 12) is not a valid namespace name: must be no more than 63 characters`},
		{name: "upper case", prefix: "Erlmcp-pr-", number: 1, err: "is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters"},
		{name: "dot", prefix: "erlmcp.pr-", number: 1, err: `namespace "erlmcp.pr-1" (namespace-prefix "erlmcp.pr-" + pull request 1) is not a valid namespace name`},
		{name: "leading dash", prefix: "-pr-", number: 1, err: "is not a valid namespace name"},
		{name: "number zero", prefix: "erlmcp-pr-", number: 0, err: "pull request number 0 is not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NamespaceName(tc.prefix, tc.number)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEnvironmentName(t *testing.T) {
	assert.Equal(t, "pr-12", EnvironmentName("", 12))
	assert.Equal(t, "preview/12", EnvironmentName("preview/", 12))
}

func TestRepositoryLabelValue(t *testing.T) {
	long := "acme/" + strings.Repeat("r", 100)
	for _, tc := range []struct{ repo, want string }{
		{"acme/erlmcp", "acme.erlmcp"},
		{"Acme/ErlMCP", "acme.erlmcp"},
		{"acme/erlmcp.dev_x", "acme.erlmcp.dev_x"},
		{"acme/_erlmcp.", "acme._erlmcp"},
		{long, "acme." + strings.Repeat("r", 47) + "-" + RepositoryLabelValue(long)[53:]},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			got := RepositoryLabelValue(tc.repo)
			assert.Equal(t, tc.want, got)
			assert.Empty(t, validation.IsValidLabelValue(got))
		})
	}
	assert.Len(t, RepositoryLabelValue(long), 63)
	assert.NotEqual(t, RepositoryLabelValue(long), RepositoryLabelValue(long+"s"), "cut names keep apart by their hash")
}

func TestLabelsAndAnnotations(t *testing.T) {
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/managed-by":          "erlmcp-deploy",
		"erlmcp-deploy.io/preview-repository":   "acme.erlmcp",
		"erlmcp-deploy.io/preview-pull-request": "12",
	}, Labels("acme/erlmcp", 12))
	for k, v := range Labels("Acme/"+strings.Repeat("x", 90), 12) {
		assert.Empty(t, validation.IsQualifiedName(k))
		assert.Empty(t, validation.IsValidLabelValue(v))
	}
	assert.Equal(t, "app.kubernetes.io/managed-by=erlmcp-deploy,erlmcp-deploy.io/preview-repository=acme.erlmcp,erlmcp-deploy.io/preview-pull-request",
		Selector("acme/erlmcp"))
	pushed := time.Date(2026, 12, 6, 11, 30, 0, 0, time.FixedZone("CET", 3600))
	assert.Equal(t, map[string]string{
		"erlmcp-deploy.io/preview-repository": "acme/erlmcp",
		"erlmcp-deploy.io/preview-head-sha":   "0123456789abcdef0123456789abcdef01234567",
		"erlmcp-deploy.io/preview-head-ref":   "faster-boot",
		"erlmcp-deploy.io/preview-last-push":  "2026-12-06T10:30:00Z",
	}, Annotations("acme/erlmcp", PullRequest{Number: 12, HeadSHA: "0123456789abcdef0123456789abcdef01234567", HeadRef: "faster-boot"}, pushed))
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ template, want, err string }{
		{"https://pr-{number}.preview.example.com", "https://pr-12.preview.example.com", ""},
		{"https://{namespace}.preview.example.com/{sha}/", "https://erlmcp-pr-12.preview.example.com/0123456789abcdef0123456789abcdef01234567/", ""},
		{"", "", ""},
		{"https://pr-{pr}.example.com", "", "url-template \"https://pr-{pr}.example.com\": unknown placeholder {pr} (accepted: {number}, {namespace}, {sha})"},
		{"pr-{number}.example.com", "", "is not http:// or https://"},
	} {
		got, err := URL(tc.template, 12, "erlmcp-pr-12", "0123456789abcdef0123456789abcdef01234567")
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}
