package releasepin

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	sha  = "0123456789abcdef0123456789abcdef01234567"
	to   = "acme/erlmcp-deploy-internal"
	ver  = "v1.4.2"
	from = "org/erlmcp-deploy"
)

func TestPinExactBytes(t *testing.T) {
	pinned := "acme/erlmcp-deploy-internal"
	for _, tc := range []struct {
		name, in, want string
		n              int
	}{
		{"step with id", "      - id: deploy\n        uses: org/erlmcp-deploy/actions/deploy@v1\n        with:\n",
			"      - id: deploy\n        uses: " + pinned + "/actions/deploy@" + sha + " # v1.4.2\n        with:\n", 1},
		{"list item", "      - uses: org/erlmcp-deploy/actions/smoke@v1\n",
			"      - uses: " + pinned + "/actions/smoke@" + sha + " # v1.4.2\n", 1},
		{"reusable workflow", "    uses: org/erlmcp-deploy/.github/workflows/pipeline.yml@v1\n",
			"    uses: " + pinned + "/.github/workflows/pipeline.yml@" + sha + " # v1.4.2\n", 1},
		{"root action", "      - uses: org/erlmcp-deploy@v1.3\n",
			"      - uses: " + pinned + "@" + sha + " # v1.4.2\n", 1},
		{"a comment is replaced", "        uses: org/erlmcp-deploy/actions/rollback@v1   # moved by release.yml\n",
			"        uses: " + pinned + "/actions/rollback@" + sha + " # v1.4.2\n", 1},
		{"single quotes", "        uses: 'org/erlmcp-deploy/actions/deploy@v1'\n",
			"        uses: '" + pinned + "/actions/deploy@" + sha + "' # v1.4.2\n", 1},
		{"double quotes", "        uses: \"org/erlmcp-deploy/actions/deploy@v1\"\n",
			"        uses: \"" + pinned + "/actions/deploy@" + sha + "\" # v1.4.2\n", 1},
		{"mismatched quotes are left", "        uses: 'org/erlmcp-deploy/actions/deploy@v1\"\n",
			"        uses: 'org/erlmcp-deploy/actions/deploy@v1\"\n", 0},
		{"already pinned elsewhere", "        uses: org/erlmcp-deploy/actions/deploy@ffffffffffffffffffffffffffffffffffffffff # v1.4.1\n",
			"        uses: " + pinned + "/actions/deploy@" + sha + " # v1.4.2\n", 1},
		{"CRLF kept", "- uses: org/erlmcp-deploy/actions/deploy@v1\r\n- uses: org/erlmcp-deploy/actions/smoke@v1\r\n",
			"- uses: " + pinned + "/actions/deploy@" + sha + " # v1.4.2\r\n- uses: " + pinned + "/actions/smoke@" + sha + " # v1.4.2\r\n", 2},
		{"no final newline kept", "  uses: org/erlmcp-deploy/actions/deploy@main",
			"  uses: " + pinned + "/actions/deploy@" + sha + " # v1.4.2", 1},
		{"a commented usage is left", "#       uses: org/erlmcp-deploy/.github/workflows/pipeline.yml@v1\n",
			"#       uses: org/erlmcp-deploy/.github/workflows/pipeline.yml@v1\n", 0},
		{"third-party actions are left", "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n",
			"      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n", 0},
		{"a repository with a longer name is left", "      - uses: org/erlmcp-deploy-extra/actions/deploy@v1\n",
			"      - uses: org/erlmcp-deploy-extra/actions/deploy@v1\n", 0},
		{"another path of ours is left", "      - uses: org/erlmcp-deploy/scripts/x@v1\n",
			"      - uses: org/erlmcp-deploy/scripts/x@v1\n", 0},
		{"a mention in a string is left", "        description: use org/erlmcp-deploy/actions/deploy@v1\n        run: echo uses: org/erlmcp-deploy/actions/deploy@v1\n",
			"        description: use org/erlmcp-deploy/actions/deploy@v1\n        run: echo uses: org/erlmcp-deploy/actions/deploy@v1\n", 0},
		{"the target repository is pinned too", "  uses: acme/erlmcp-deploy-internal/actions/deploy@v1\n",
			"  uses: " + pinned + "/actions/deploy@" + sha + " # v1.4.2\n", 1},
		{"empty", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, n, err := Pin([]byte(tc.in), []string{from, to}, to, sha, ver)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
			assert.Equal(t, tc.n, n)
		})
	}
}

func TestPinRefusesBadArguments(t *testing.T) {
	src := []byte("uses: org/erlmcp-deploy/actions/deploy@v1\n")
	for _, tc := range []struct {
		name, to, sha, version string
		from                   []string
	}{
		{"short sha", to, "0123456", ver, []string{from}},
		{"upper-case sha", to, strings.ToUpper(sha), ver, []string{from}},
		{"bad target", "acme", sha, ver, []string{from}},
		{"bad version", to, sha, "1.4.2", []string{from}},
		{"bad source", to, sha, ver, []string{"org"}},
		{"no source", to, sha, ver, nil},
	} {
		_, _, err := Pin(src, tc.from, tc.to, tc.sha, tc.version)
		assert.Error(t, err, tc.name)
	}
}

// TestPinThePipeline: pinning the real pipeline rewrites exactly the lines
// that use our actions, and every one of them.
func TestPinThePipeline(t *testing.T) {
	path := filepath.Join("..", "..", ".github", "workflows", "pipeline.yml")
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	out, n, err := Pin(src, []string{from}, to, sha, ver)
	require.NoError(t, err)
	uses := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*org/erlmcp-deploy/`).FindAll(src, -1)
	assert.Equal(t, len(uses), n)
	assert.Greater(t, n, 5, "deploy, smoke and rollback of each environment, and release-notes")
	before, after := strings.Split(string(src), "\n"), strings.Split(string(out), "\n")
	require.Len(t, after, len(before))
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
			assert.Contains(t, after[i], to+"/actions/")
			assert.True(t, strings.HasSuffix(after[i], "@"+sha+" # "+ver), after[i])
		}
	}
	assert.Equal(t, n, changed)
	var wf map[string]any
	require.NoError(t, yaml.Unmarshal(out, &wf), "still YAML")
	assert.NotContains(t, string(out), "\n        uses: org/erlmcp-deploy/")
}

func TestFloating(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    []string
		err     bool
	}{
		{"v1.4.2", []string{"v1", "v1.4"}, false},
		{"v0.1.0", []string{"v0", "v0.1"}, false},
		{"v12.0.3", []string{"v12", "v12.0"}, false},
		{"v2.0.0-rc.1", nil, false},
		{"1.4.2", nil, true},
		{"v1.4", nil, true},
		{"v01.4.2", nil, true},
	} {
		got, err := Floating(tc.version)
		if tc.err {
			assert.Error(t, err, tc.version)
			continue
		}
		require.NoError(t, err, tc.version)
		assert.Equal(t, tc.want, got, tc.version)
	}
}

// TestDecideNeverMovesBackwards is the version comparison behind vN and vN.M.
func TestDecideNeverMovesBackwards(t *testing.T) {
	for _, tc := range []struct {
		floating string
		exists   bool
		current  string
		next     string
		move     bool
		err      bool
	}{
		{"v1", false, "", "v1.0.0", true, false},
		{"v1", true, "v1.2.0", "v1.3.0", true, false},
		{"v1", true, "v1.2.9", "v1.10.0", true, false}, // numeric, not lexical
		{"v1", true, "v1.10.0", "v1.9.9", false, false},
		{"v1", true, "v1.3.0", "v1.2.5", false, false}, // a backport does not take v1 back
		{"v1.2", true, "v1.2.4", "v1.2.5", true, false},
		{"v1.2", true, "v1.2.10", "v1.2.9", false, false},
		{"v1", true, "v1.3.0", "v1.3.0", true, false}, // a re-run of the same release
		{"v1", true, "", "v1.4.0", false, false},      // points at a commit no release tag names
		{"v1", true, "v2.0.0", "v1.4.0", false, false},
		{"v1", true, "v1.3.0-rc.1", "v1.2.0", false, false},
		{"v2", true, "v1.9.0", "v1.9.1", false, true}, // not a floating tag of v1.9.1
		{"v1", false, "", "v1.4.0-rc.1", false, true}, // a prerelease moves nothing
	} {
		name := tc.floating + " at " + tc.current + " -> " + tc.next
		move, why, err := Decide(tc.floating, tc.exists, tc.current, tc.next)
		if tc.err {
			assert.Error(t, err, name)
			continue
		}
		require.NoError(t, err, name)
		assert.Equal(t, tc.move, move, "%s: %s", name, why)
		assert.NotEmpty(t, why)
	}
}

// gitRepo is a repository with one commit per name, tagged as given.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// commit makes a commit and puts the tags on it (an annotated one for "a:vX").
func (r *gitRepo) commit(tags ...string) string {
	r.git("commit", "-q", "--allow-empty", "-m", "c")
	for _, tag := range tags {
		if name, ok := strings.CutPrefix(tag, "a:"); ok {
			r.git("tag", "-a", "-m", name, name)
		} else {
			r.git("tag", tag)
		}
	}
	return r.git("rev-parse", "HEAD")
}

func (r *gitRepo) move(tag, rev string) { r.git("tag", "-f", tag, rev) }

func TestMovesReadsTheTags(t *testing.T) {
	type want map[string]bool // floating tag -> moves
	for _, tc := range []struct {
		name    string
		setup   func(r *gitRepo)
		version string
		want    want
	}{
		{"first release", func(r *gitRepo) { r.commit() }, "v1.0.0", want{"v1": true, "v1.0": true}},
		{"forward", func(r *gitRepo) { r.commit("v1.2.0", "v1", "v1.2") }, "v1.3.0", want{"v1": true, "v1.3": true}},
		{"backport", func(r *gitRepo) {
			r.commit("v1.2.4", "v1.2")
			r.commit("v1.3.0", "v1", "v1.3")
		}, "v1.2.5", want{"v1": false, "v1.2": true}},
		{"the highest tag on the commit counts", func(r *gitRepo) {
			r.commit("v1.2.0", "v1.2.1", "v1")
		}, "v1.2.1", want{"v1": true, "v1.2": true}},
		{"an older release never takes v1 from a newer one on the same commit", func(r *gitRepo) {
			r.commit("v1.1.9", "v1.2.0", "v1")
		}, "v1.1.10", want{"v1": false, "v1.1": true}},
		{"annotated tags", func(r *gitRepo) {
			r.commit("a:v1.5.0", "a:v1")
		}, "v1.4.9", want{"v1": false, "v1.4": true}},
		{"v1 moved by hand to a commit without a release", func(r *gitRepo) {
			r.commit("v1.2.0")
			r.commit("v1")
		}, "v1.3.0", want{"v1": false, "v1.3": true}},
		{"a prerelease", func(r *gitRepo) { r.commit("v1.2.0", "v1") }, "v1.3.0-rc.1", want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGitRepo(t)
			tc.setup(r)
			moves, err := Moves(r.dir, tc.version)
			require.NoError(t, err)
			got := want{}
			for _, m := range moves {
				got[m.Tag] = m.Move
				assert.NotEmpty(t, m.Why)
			}
			assert.Equal(t, tc.want, got)
		})
	}

	// After a release moves its floating tags, an older one cannot take them back.
	r := newGitRepo(t)
	r.commit("v1.3.0")
	head := r.commit("v1.4.0")
	for _, tag := range []string{"v1", "v1.4"} {
		r.move(tag, head)
	}
	moves, err := Moves(r.dir, "v1.3.1")
	require.NoError(t, err)
	require.Len(t, moves, 2)
	assert.Equal(t, Move{Tag: "v1", Current: "v1.4.0", Move: false, Why: "v1 stays at v1.4.0: v1.3.1 is older, and a floating tag never moves backwards"}, moves[0])
	assert.True(t, moves[1].Move, "v1.3 does not exist yet")

	_, err = Moves(t.TempDir(), "v1.0.0")
	assert.Error(t, err, "not a git repository")
}

func TestLatest(t *testing.T) {
	r := newGitRepo(t)
	r.commit("v1.2.0", "v1.10.0-rc.1")
	r.commit("v1.9.0", "v1")
	for version, want := range map[string]bool{"v1.9.0": true, "v1.9.1": true, "v1.8.5": false, "v2.0.0": true, "v2.0.0-rc.1": false} {
		got, err := Latest(r.dir, version)
		require.NoError(t, err)
		assert.Equal(t, want, got, version)
	}
}
