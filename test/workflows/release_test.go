package workflows_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// release.yml, read and run offline: the job gate on a green CI, and its
// release-commit and floating-tag steps run as the runner would, in a clone
// of a repository holding this one's release tooling, pushing to a bare
// "origin".

const releasePath = "../../.github/workflows/release.yml"

func TestReleaseOnlyFromAGreenCI(t *testing.T) {
	wf := loadWorkflow(t, releasePath)
	raw, err := os.ReadFile(releasePath)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "\n  push:", "a pushed tag would release a commit no CI run has vouched for")
	gate, ok := wf.Jobs["ci-green"]
	require.True(t, ok, "a ci-green job")
	var script string
	for _, s := range gate.Steps {
		script += s.Run
	}
	assert.Contains(t, script, "actions/workflows/ci.yml/runs?head_sha=$SHA", "asks for the runs of ci.yml on exactly this commit")
	assert.Contains(t, script, "completed success")
	rel := wf.Jobs["release"]
	require.NotNil(t, rel)
	assert.Contains(t, rel.needs(), "ci-green", "nothing is built, tagged or published before CI is known green")
	for id := range wf.Jobs {
		if id != "ci-green" {
			assert.True(t, ancestors(wf, id)["ci-green"], "job %s must wait for ci-green", id)
		}
	}
}

// releaseRepo is a repository like this one at the commit being released
// (the files release.yml's steps use), its bare origin, and fake assets.
type releaseRepo struct {
	t                    *testing.T
	work, origin, assets string
	source               string // the commit released
}

func newReleaseRepo(t *testing.T) *releaseRepo {
	t.Helper()
	for _, tool := range []string{"git", "go", "bash", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed", tool)
		}
	}
	r := &releaseRepo{t: t, work: t.TempDir(), origin: t.TempDir(), assets: t.TempDir()}
	for _, f := range []string{"go.mod", "go.sum", "scripts/launch.sh", "scripts/dist.sh", ".github/workflows/pipeline.yml", ".github/workflows/preview.yml",
		"cmd/release-pin/main.go", "internal/releasepin/releasepin.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(r.work, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(r.work, f), b, 0o644))
	}
	r.git(r.origin, "init", "-q", "--bare")
	r.git(r.work, "init", "-q", "-b", "main")
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "-m", "source")
	r.git(r.work, "remote", "add", "origin", r.origin)
	r.git(r.work, "push", "-q", "origin", "main")
	r.source = r.git(r.work, "rev-parse", "HEAD")

	// Stand-ins for scripts/dist.sh's output: the bundle step only checks and compresses them.
	var sums strings.Builder
	var names []string
	launch, err := os.ReadFile(filepath.Join("..", "..", "scripts", "launch.sh"))
	require.NoError(t, err)
	ids := regexp.MustCompile(`(?m)^ERLMCP_IDS="([^"]+)"`).FindSubmatch(launch)
	require.NotNil(t, ids, "scripts/launch.sh defines ERLMCP_IDS")
	bins := []string{"erlmcp-deploy"} // the CLI, then every action's binary
	for _, id := range strings.Fields(string(ids[1])) {
		bins = append(bins, "erlmcp-deploy-"+id)
	}
	for _, n := range bins {
		names = append(names, n+"_linux_amd64", n+"_windows_amd64.exe")
	}
	for _, n := range names {
		content := []byte("binary " + n + "\n")
		require.NoError(t, os.WriteFile(filepath.Join(r.assets, n), content, 0o755))
		sum := sha256.Sum256(content)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	require.NoError(t, os.WriteFile(filepath.Join(r.assets, "SHA256SUMS"), []byte(sums.String()), 0o644))
	return r
}

func (r *releaseRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// commitOnMain makes another source commit and pushes it.
func (r *releaseRepo) commitOnMain() string {
	require.NoError(r.t, os.WriteFile(filepath.Join(r.work, "NEWS"), []byte(r.git(r.work, "rev-parse", "HEAD")), 0o644))
	r.git(r.work, "add", "NEWS")
	r.git(r.work, "commit", "-q", "-m", "more")
	r.git(r.work, "push", "-q", "origin", "main")
	r.source = r.git(r.work, "rev-parse", "HEAD")
	return r.source
}

// step runs the named step of release.yml's release job in the work tree, as
// the runner would after checking out r.source, and returns its exit code,
// output and GITHUB_OUTPUT.
func (r *releaseRepo) step(name, version string, extra ...string) (int, string, string) {
	t := r.t
	t.Helper()
	wf := loadWorkflow(t, releasePath)
	var run string
	for _, s := range wf.Jobs["release"].Steps {
		if s.Name == name {
			run = s.Run
		}
	}
	require.NotEmpty(t, run, "release.yml has a step %q", name)
	r.git(r.work, "checkout", "-q", "--detach", r.source) // actions/checkout leaves a detached HEAD
	env := append(os.Environ(), "GIT_CONFIG_GLOBAL="+filepath.Join(t.TempDir(), "gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
		"VERSION="+version, "SOURCE="+r.source, "GH_REPO=acme/erlmcp-deploy-internal", "ASSETS="+r.assets,
		"GITHUB_SERVER_URL=https://github.example.com", "GITHUB_RUN_ID=42",
		"ERLMCP_BUNDLE_PLATFORMS=linux/amd64", "GOFLAGS=-mod=mod", "GOPROXY=off")
	return runScript(t, run, r.work, append(env, extra...)...)
}

// originTag is the commit a tag of origin points at ("" if none).
func (r *releaseRepo) originTag(tag string) string {
	cmd := exec.Command("git", "rev-parse", "-q", "--verify", "refs/tags/"+tag+"^{commit}")
	cmd.Dir = r.origin
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

func (r *releaseRepo) show(rev, path string) string {
	cmd := exec.Command("git", "show", rev+":"+path)
	cmd.Dir = r.origin
	out, err := cmd.Output()
	require.NoError(r.t, err, "git show %s:%s", rev, path)
	return string(out)
}

func TestReleaseCommitsPinAndBundle(t *testing.T) {
	r := newReleaseRepo(t)
	code, out, output := r.step("Release commits and tag", "v1.3.0")
	require.Equal(t, 0, code, out)
	release := r.originTag("v1.3.0")
	require.NotEmpty(t, release, "v1.3.0 pushed")
	assert.Equal(t, "release="+release+"\n", output)
	binaries := r.git(r.origin, "rev-parse", release+"~1")
	assert.Equal(t, r.source, r.git(r.origin, "rev-parse", release+"~2"), "two commits on top of the released source")
	assert.Equal(t, r.source, r.git(r.origin, "rev-parse", "refs/heads/main"), "main is untouched: only the tag reaches the release commits")

	// B: the bundle, which makes a release ref self-sufficient (scripts/launch.sh reads it).
	assert.Equal(t, "v1.3.0\n", r.show(binaries, "dist/VERSION"))
	sums, err := os.ReadFile(filepath.Join(r.assets, "SHA256SUMS"))
	require.NoError(t, err)
	assert.Equal(t, string(sums), r.show(binaries, "dist/SHA256SUMS"))
	files := r.git(r.origin, "ls-tree", "--name-only", binaries, "dist/")
	assert.Contains(t, files, "dist/erlmcp-deploy-deploy_linux_amd64.gz")
	assert.NotContains(t, files, "windows", "only the bundled platforms")
	workflows := []string{".github/workflows/pipeline.yml", ".github/workflows/preview.yml"}
	for _, wf := range workflows {
		assert.Equal(t, r.show(r.source, wf), r.show(binaries, wf), wf)
	}

	// R: the reusable workflows run the actions of B, by SHA, in this repository.
	for wf, atLeast := range map[string]int{workflows[0]: 6, workflows[1]: 3} {
		text := r.show(release, wf)
		assert.NotRegexp(t, `(?m)^\s*(-\s+)?uses:\s*org/erlmcp-deploy/`, text, "%s: no @v1 reference left", wf)
		pinned := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*acme/erlmcp-deploy-internal/actions/[a-z-]+@([0-9a-f]{40}) # v1\.3\.0$`).FindAllStringSubmatch(text, -1)
		assert.GreaterOrEqual(t, len(pinned), atLeast, wf)
		for _, m := range pinned {
			assert.Equal(t, binaries, m[1], wf)
		}
	}
	diff := r.git(r.origin, "diff", "--name-only", binaries, release)
	assert.Equal(t, strings.Join(workflows, "\n"), diff, "R changes the reusable workflows only")
	assert.Equal(t, "tag", r.git(r.origin, "cat-file", "-t", "v1.3.0"), "an annotated tag")

	// A re-run reuses the tag; the same version on another commit is refused.
	code, out, output = r.step("Release commits and tag", "v1.3.0")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "reusing it")
	assert.Equal(t, "release="+release+"\n", output)
	r.commitOnMain()
	code, out, _ = r.step("Release commits and tag", "v1.3.0")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "::error::v1.3.0 is already tagged")
	assert.Equal(t, release, r.originTag("v1.3.0"))
}

func TestReleaseMovesFloatingTagsOnlyForward(t *testing.T) {
	r := newReleaseRepo(t)
	release := func(version string) string {
		code, out, output := r.step("Release commits and tag", version)
		require.Equal(t, 0, code, out)
		commit := strings.TrimPrefix(strings.TrimSpace(output), "release=")
		r.git(r.work, "fetch", "-q", "--tags", "--force", "origin")
		code, out, _ = r.step("Move the floating tags forward", version, "RELEASE="+commit)
		require.Equal(t, 0, code, out)
		r.git(r.work, "fetch", "-q", "--tags", "--force", "origin")
		return commit
	}
	v130 := release("v1.3.0")
	assert.Equal(t, v130, r.originTag("v1"))
	assert.Equal(t, v130, r.originTag("v1.3"))

	r.commitOnMain()
	v140 := release("v1.4.0")
	assert.Equal(t, v140, r.originTag("v1"), "v1 moves forward")
	assert.Equal(t, v140, r.originTag("v1.4"))
	assert.Equal(t, v130, r.originTag("v1.3"))

	r.commitOnMain()
	v131 := release("v1.3.1") // a backport
	assert.Equal(t, v140, r.originTag("v1"), "v1 never moves back to an older release")
	assert.Equal(t, v131, r.originTag("v1.3"), "v1.3 moves forward")

	r.commitOnMain()
	rc := release("v1.5.0-rc.1")
	assert.NotEmpty(t, rc)
	assert.Equal(t, v140, r.originTag("v1"), "a prerelease moves nothing")
	assert.Empty(t, r.originTag("v1.5"))
}
