package launcher_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
)

// A release commit carries its binaries in dist/ (scripts/dist.sh --bundle,
// committed by release.yml), so a release ref runs with what the runner
// downloaded with the action itself: no release API, no token, no Go. That is
// what makes a private or internal copy of this repository work, whose
// releases the caller's token cannot read.

const bundledVersion = "v1.2.3"

// releaseTree is a copy of the action tree at a release commit: scripts/ and
// dist/ as `scripts/dist.sh --bundle` writes it for the host platform; without
// bundled, dist/ holds only SHA256SUMS and VERSION, as a release that bundles
// other platforms only looks on this host.
func releaseTree(t *testing.T, bundled bool) string {
	t.Helper()
	dist := hostDist(t)
	tree := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "scripts"), 0o755))
	for _, f := range []string{"launch.sh", "dist.sh"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(tree, "scripts", f), b, 0o755))
	}
	cmd := exec.Command(bashPath, filepath.Join(tree, "scripts", "dist.sh"), "--bundle", dist, filepath.Join(tree, "dist"), bundledVersion)
	cmd.Env = append(cleanEnv(), "ERLMCP_BUNDLE_PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "dist.sh --bundle: %s", out)
	gz, err := filepath.Glob(filepath.Join(tree, "dist", "*.gz"))
	require.NoError(t, err)
	require.Len(t, gz, 1+len(actionspec.All()), "the CLI and every action")
	if !bundled {
		for _, f := range gz {
			require.NoError(t, os.Remove(f))
		}
	}
	return tree
}

// stubs is a directory whose go and curl record that they ran and fail, put
// first on PATH: a test that must use neither sees it in the record.
func stubs(t *testing.T) (dir, record string) {
	t.Helper()
	dir = t.TempDir()
	record = filepath.Join(dir, "ran")
	for _, name := range []string{"go", "curl"} {
		script := "#!/bin/sh\necho " + name + " >>'" + record + "'\necho 'this test must not run " + name + "' >&2\nexit 97\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755))
	}
	return dir, record
}

func TestBundledReleaseNeedsNoNetworkNorGo(t *testing.T) {
	requireBash(t)
	tree := releaseTree(t, true)
	script := filepath.Join(tree, "scripts", "launch.sh")
	gh := newFakeGitHub(t) // reachable, and empty: a request to it would show
	name := assetName("deploy")
	want := sha256File(t, filepath.Join(hostDist(t), name))

	for _, ref := range []string{"v1", bundledVersion, "0123456789abcdef0123456789abcdef01234567", ""} {
		t.Run("ref "+ref, func(t *testing.T) {
			stub, record := stubs(t)
			cache := t.TempDir()
			env := append(gh.env(cache, ref), "PATH="+stub+string(os.PathListSeparator)+os.Getenv("PATH"))
			cold := launchAt(t, script, env, "deploy", "--version")
			require.Equal(t, 0, cold.code, cold.stderr)
			assert.Equal(t, distVersion+"\n", cold.stdout, "the bundled binary ran")
			assert.Contains(t, cold.stderr, "the action's tree is release "+bundledVersion)
			assert.Contains(t, cold.stderr, "using bundled "+name+" of release "+bundledVersion+" (verified sha256 "+want+"; no download)")

			warm := launchAt(t, script, env, "deploy", "--version")
			require.Equal(t, 0, warm.code, warm.stderr)
			assert.Equal(t, distVersion+"\n", warm.stdout)
			assert.Contains(t, warm.stderr, "using cached bundled "+name+" of release "+bundledVersion+" (verified sha256 "+want+")")

			requests, downloads := gh.counts()
			assert.Zero(t, requests, "no request to the release API")
			assert.Zero(t, downloads)
			assert.NoFileExists(t, record, "neither go nor curl ran")
			assert.NotContains(t, cold.stderr+warm.stderr, "this test must not run")
		})
	}

	// --install (the root action) puts the bundled CLI on PATH, offline too.
	stub, record := stubs(t)
	tmp := t.TempDir()
	env := append(gh.env(filepath.Join(tmp, "cache"), "v1"), "PATH="+stub+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GITHUB_OUTPUT="+filepath.Join(tmp, "output"), "GITHUB_PATH="+filepath.Join(tmp, "path"))
	r := launchAt(t, script, env, "--install", "erlmcp-deploy")
	require.Equal(t, 0, r.code, r.stderr)
	bin := strings.TrimSpace(r.stdout)
	v, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Equal(t, "erlmcp-deploy "+distVersion+"\n", string(v))
	assert.NoFileExists(t, record)
	requests, _ := gh.counts()
	assert.Zero(t, requests)
}

func TestBundledChecksumMismatchIsAHardError(t *testing.T) {
	requireBash(t)
	tree := releaseTree(t, true)
	marker := filepath.Join(t.TempDir(), "ran")
	name := assetName("deploy")
	var evil bytes.Buffer
	zw := gzip.NewWriter(&evil)
	_, err := zw.Write([]byte("#!/bin/sh\ntouch '" + marker + "'\necho " + distVersion + "\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(tree, "dist", name+".gz"), evil.Bytes(), 0o644))

	gh := newFakeGitHub(t)
	gh.addRelease(t, bundledVersion, hostDist(t), nil) // a good release exists: it must not paper over the mismatch
	stub, record := stubs(t)
	cache := t.TempDir()
	env := append(gh.env(cache, "v1"), "PATH="+stub+string(os.PathListSeparator)+os.Getenv("PATH"), "ERLMCP_ALLOW_SOURCE_BUILD=true")
	r := launchAt(t, filepath.Join(tree, "scripts", "launch.sh"), env, "deploy", "--version")
	assert.NotEqual(t, 0, r.code)
	assert.Empty(t, r.stdout, "nothing ran")
	assert.Contains(t, r.stderr, "::error::erlmcp-deploy launcher: checksum mismatch for the bundled "+name+" of release "+bundledVersion)
	assert.NoFileExists(t, marker, "the tampered binary must not run")
	assert.NoFileExists(t, record, "no download, no build instead")
	for _, f := range cachedFiles(t, cache) {
		assert.NotContains(t, f, name, "the tampered binary must not be cached")
	}

	// Another binary of the same bundle is intact and runs.
	ok := launchAt(t, filepath.Join(tree, "scripts", "launch.sh"), env, "smoke", "--version")
	require.Equal(t, 0, ok.code, ok.stderr)
	assert.Equal(t, distVersion+"\n", ok.stdout)
}

// TestReleaseTreeWithoutThisPlatformUsesItsRelease: a release commit that
// bundles other platforms only, used by commit SHA (as the pipeline of a
// release pins it), downloads the asset of the release named in
// dist/VERSION — the ref itself names none.
func TestReleaseTreeWithoutThisPlatformUsesItsRelease(t *testing.T) {
	requireBash(t)
	tree := releaseTree(t, false)
	gh := newFakeGitHub(t)
	gh.addRelease(t, bundledVersion, hostDist(t), nil)
	r := launchAt(t, filepath.Join(tree, "scripts", "launch.sh"), gh.env(t.TempDir(), "0123456789abcdef0123456789abcdef01234567"), "rollback", "--version")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, distVersion+"\n", r.stdout)
	assert.Contains(t, r.stderr, "release "+bundledVersion+" bundles no "+assetName("rollback"))
	assert.Contains(t, r.stderr, "using release asset "+assetName("rollback")+" of "+bundledVersion+" (verified sha256 ")
	assert.NotContains(t, r.stderr, "this test must not run go")
}

// TestReleaseRefNeverBuildsFromSource: a release (ref or tree) whose binary
// can be neither found in dist/ nor downloaded stops with a message that says
// what to do — it does not fall back to a Go build the runner may not have.
func TestReleaseRefNeverBuildsFromSource(t *testing.T) {
	requireBash(t)
	gh := newFakeGitHub(t) // no releases at all, as for a caller whose token cannot read them
	for _, tc := range []struct {
		name, script, ref, why string
	}{
		{"release ref, no release", launcher, "v9.9.9", "no GitHub release for tag v9.9.9"},
		{"floating ref, no release", launcher, "v9", "no GitHub release for tag v9"},
		{"release tree without this platform, pinned by SHA", filepath.Join(releaseTree(t, false), "scripts", "launch.sh"),
			"0123456789abcdef0123456789abcdef01234567", "no GitHub release for tag " + bundledVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := launchAt(t, tc.script, gh.env(t.TempDir(), tc.ref), "deploy", "--version") // go on PATH fails
			assert.Equal(t, 1, r.code, r.stderr)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, "::error::erlmcp-deploy launcher: no prebuilt "+assetName("deploy"))
			assert.Contains(t, r.stderr, tc.why)
			assert.Contains(t, r.stderr, "A release never builds from source")
			assert.Contains(t, r.stderr, "ERLMCP_ALLOW_SOURCE_BUILD=true")
			assert.NotContains(t, r.stderr, "building deploy from source")
			assert.NotContains(t, r.stderr, "this test must not run go")
		})
	}
}
