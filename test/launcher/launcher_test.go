// Package launcher_test runs scripts/launch.sh the way an action step does:
// as a bash subprocess, against a fake GitHub release API on loopback, with
// the real binaries built by scripts/dist.sh or by the launcher itself.
package launcher_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	repo        = "org/erlmcp-deploy"
	token       = "test-token-123"
	distVersion = "v1.2.3-test"
)

var (
	root      string // repository root
	launcher  string // scripts/launch.sh
	bashPath  string
	distDir   string // scripts/dist.sh output for the host platform
	failingGo string // a directory whose go exits 97
	distOnce  sync.Once
	distErr   error
)

func TestMain(m *testing.M) {
	var err error
	if root, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		panic(err)
	}
	launcher = filepath.Join(root, "scripts", "launch.sh")
	bashPath, _ = exec.LookPath("bash")
	tmp, err := os.MkdirTemp("", "launcher-dist-")
	if err != nil {
		panic(err)
	}
	distDir = filepath.Join(tmp, "dist")
	// A go that fails: the release tests must not fall back to a source build.
	failingGo = filepath.Join(tmp, "failing-go")
	if err := os.MkdirAll(failingGo, 0o755); err != nil {
		panic(err)
	}
	stub := "#!/bin/sh\necho 'this test must not run go' >&2\nexit 97\n"
	if err := os.WriteFile(filepath.Join(failingGo, "go"), []byte(stub), 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// exe is the suffix of executables on the host.
func exe() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// assetName restates the naming contract of scripts/launch.sh for the host.
func assetName(name string) string {
	base := "erlmcp-deploy"
	if name != "erlmcp-deploy" {
		base += "-" + name
	}
	return fmt.Sprintf("%s_%s_%s%s", base, runtime.GOOS, runtime.GOARCH, exe())
}

// hostDist builds the host platform's binaries once, with scripts/dist.sh.
func hostDist(t *testing.T) string {
	t.Helper()
	distOnce.Do(func() {
		start := time.Now()
		cmd := exec.Command(bashPath, filepath.Join(root, "scripts", "dist.sh"), distDir, distVersion)
		cmd.Dir = root
		cmd.Env = append(cleanEnv(), "ERLMCP_DIST_PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
		out, err := cmd.CombinedOutput()
		if err != nil {
			distErr = fmt.Errorf("dist.sh: %v\n%s", err, out)
			return
		}
		t.Logf("scripts/dist.sh for %s/%s took %v", runtime.GOOS, runtime.GOARCH, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(t, distErr)
	return distDir
}

func requireBash(t *testing.T) {
	t.Helper()
	if bashPath == "" {
		t.Skip("bash not found")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the launcher tests run on unix hosts; Windows is covered by the actions job in CI")
	}
}

// cleanEnv is the test process environment without anything that would make
// the launcher talk to a real runner (GITHUB_OUTPUT, RUNNER_TOOL_CACHE, ...).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GITHUB_"), strings.HasPrefix(k, "RUNNER_"),
			strings.HasPrefix(k, "ERLMCP_"), strings.HasPrefix(k, "INPUT_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// pathWithFailingGo is $PATH behind a go that fails, so that a test fails
// instead of silently falling back to a source build.
func pathWithFailingGo() string {
	return failingGo + string(os.PathListSeparator) + os.Getenv("PATH")
}

// pathWithoutGo is $PATH minus the directories holding a go binary; ok is
// false when such a directory also holds tools the launcher needs.
func pathWithoutGo() (path string, ok bool) {
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "go"+exe())); err == nil {
			for _, tool := range []string{"awk", "sort", "find", "uname"} {
				if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
					return "", false
				}
			}
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator)), true
}

func runnerOS() string {
	switch runtime.GOOS {
	case "darwin":
		return "macOS"
	case "windows":
		return "Windows"
	default:
		return "Linux"
	}
}

func runnerArch() string {
	if runtime.GOARCH == "arm64" {
		return "ARM64"
	}
	return "X64"
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// launch runs `bash scripts/launch.sh args...` with env added to cleanEnv().
func launch(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return launchAt(t, launcher, env, args...)
}

// launchAt runs `bash script args...` (a launch.sh in another tree).
func launchAt(t *testing.T, script string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bashPath, append([]string{script}, args...)...)
	cmd.Dir = t.TempDir() // the launcher must not depend on the working directory
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		require.NoError(t, err)
	}
	require.NoError(t, ctx.Err(), "launcher timed out; stderr:\n%s", r.stderr)
	return r
}

// ---- fake GitHub ----------------------------------------------------------

type asset struct {
	id      int
	name    string
	content []byte
}

// fakeGitHub serves the parts of the REST API the launcher uses:
// releases/tags/{tag}, releases/assets/{id} (JSON, or a redirect to the bytes
// for Accept: application/octet-stream, like GitHub's redirect to its storage)
// and git/matching-refs/tags/{prefix}.
type fakeGitHub struct {
	*httptest.Server
	mu        sync.Mutex
	releases  map[string][]asset   // tag -> assets
	refs      map[string]gitObject // tag -> object of refs/tags/<tag>
	tagObjs   map[string]string    // annotated tag object sha -> commit sha
	requests  []string
	downloads int
	badAuth   []string
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{releases: map[string][]asset{}, refs: map[string]gitObject{}, tagObjs: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/org/erlmcp-deploy/releases/tags/{tag}", f.release)
	mux.HandleFunc("GET /repos/org/erlmcp-deploy/releases/assets/{id}", f.asset)
	mux.HandleFunc("GET /repos/org/erlmcp-deploy/git/matching-refs/tags/{prefix}", f.matchingRefs)
	mux.HandleFunc("GET /repos/org/erlmcp-deploy/git/tags/{sha}", f.tagObject)
	mux.HandleFunc("GET /storage/{id}", f.storage)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path+" Accept="+r.Header.Get("Accept"))
		if !strings.HasPrefix(r.URL.Path, "/storage/") && r.Header.Get("Authorization") != "Bearer "+token {
			f.badAuth = append(f.badAuth, r.URL.Path+": "+r.Header.Get("Authorization"))
		}
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// addRelease publishes tag with the files of dir; tamper replaces the content
// of the named asset after SHA256SUMS was written.
func (f *fakeGitHub) addRelease(t *testing.T, tag, dir string, tamper map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	var assets []asset
	for i, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		if c, ok := tamper[e.Name()]; ok {
			b = c
		}
		assets = append(assets, asset{id: 5000 + len(f.releases)*100 + i, name: e.Name(), content: b})
	}
	f.releases[tag] = assets
}

func (f *fakeGitHub) release(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tag := r.PathValue("tag")
	assets, ok := f.releases[tag]
	if !ok {
		http.Error(w, `{"message":"Not Found","status":"404"}`, http.StatusNotFound)
		return
	}
	type user struct {
		Login string `json:"login"`
		ID    int    `json:"id"`
		Name  string `json:"name"`
	}
	type jsonAsset struct {
		URL                string `json:"url"`
		Uploader           user   `json:"uploader"`
		ID                 int    `json:"id"`
		Name               string `json:"name"`
		Size               int    `json:"size"`
		BrowserDownloadURL string `json:"browser_download_url"`
	}
	var list []jsonAsset
	for _, a := range assets {
		list = append(list, jsonAsset{
			URL:      fmt.Sprintf("%s/repos/%s/releases/assets/%d", f.URL, repo, a.id),
			Uploader: user{Login: "bot", ID: 1, Name: a.name}, // a decoy: same name, other id
			ID:       a.id, Name: a.name, Size: len(a.content),
			BrowserDownloadURL: fmt.Sprintf("%s/%s/releases/download/%s/%s", f.URL, repo, tag, a.name),
		})
	}
	// The body is markdown and may quote JSON: the launcher must not read it.
	body := fmt.Sprintf("Notes {\"assets\": [{\"name\": %q, \"id\": 1}]} \\ [x]", assetName("deploy"))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": 42, "tag_name": tag, "name": "Release " + tag, "body": body,
		"author": user{Login: "bot", ID: 1, Name: "SHA256SUMS"}, "assets": list,
	})
}

func (f *fakeGitHub) find(id string) (asset, bool) {
	for _, assets := range f.releases {
		for _, a := range assets {
			if strconv.Itoa(a.id) == id {
				return a, true
			}
		}
	}
	return asset{}, false
}

func (f *fakeGitHub) asset(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	a, ok := f.find(r.PathValue("id"))
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Accept") != "application/octet-stream" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": a.id, "name": a.name})
		return
	}
	http.Redirect(w, r, "/storage/"+strconv.Itoa(a.id), http.StatusFound)
}

func (f *fakeGitHub) storage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	a, ok := f.find(r.PathValue("id"))
	f.downloads++
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(a.content)
}

type gitObject struct {
	SHA  string `json:"sha"`
	Type string `json:"type"` // commit, or tag for an annotated tag
	URL  string `json:"url"`
}

func (f *fakeGitHub) matchingRefs(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := r.PathValue("prefix")
	type ref struct {
		Ref    string    `json:"ref"`
		NodeID string    `json:"node_id"`
		URL    string    `json:"url"`
		Object gitObject `json:"object"`
	}
	out := []ref{}
	for tag, obj := range f.refs {
		if strings.HasPrefix(tag, prefix) {
			obj.URL = f.URL + "/objects/" + obj.SHA
			out = append(out, ref{Ref: "refs/tags/" + tag, NodeID: "REF_" + tag, URL: f.URL + "/refs/tags/" + tag, Object: obj})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeGitHub) tagObject(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha := r.PathValue("sha")
	commit, ok := f.tagObjs[sha]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sha": sha, "tag": "whatever", "message": "Release {\"object\": 1}",
		"tagger": map[string]string{"name": "bot"},
		"object": gitObject{SHA: commit, Type: "commit", URL: f.URL + "/commits/" + commit},
	})
}

func (f *fakeGitHub) counts() (requests, downloads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests), f.downloads
}

func (f *fakeGitHub) env(cache, ref string) []string {
	return []string{
		"ERLMCP_ACTION_REF=" + ref,
		"ERLMCP_ACTION_REPOSITORY=" + repo,
		"ERLMCP_DOWNLOAD_TOKEN=" + token,
		"ERLMCP_RELEASE_API=" + f.URL,
		"RUNNER_TOOL_CACHE=" + cache,
		"RUNNER_OS=" + runnerOS(),
		"RUNNER_ARCH=" + runnerArch(),
		"PATH=" + pathWithFailingGo(),
	}
}

// cachedFiles lists the files under the cache dir, relative to it.
func cachedFiles(t *testing.T, cache string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(cache, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if !errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, err)
	}
	return files
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ---- release path ---------------------------------------------------------

func TestReleaseAssetIsVerifiedCachedAndReused(t *testing.T) {
	requireBash(t)
	dist := hostDist(t)
	gh := newFakeGitHub(t)
	gh.addRelease(t, "v1", dist, nil)
	cache := t.TempDir()
	env := gh.env(cache, "v1")
	name := assetName("deploy")
	wantSum := sha256File(t, filepath.Join(dist, name))

	cold := launch(t, env, "deploy", "--version")
	require.Equal(t, 0, cold.code, cold.stderr)
	assert.Equal(t, distVersion+"\n", cold.stdout, "the release binary ran (a source build would say v1)")
	assert.Contains(t, cold.stderr, "::group::")
	assert.Contains(t, cold.stderr, "using release asset "+name+" of v1 (verified sha256 "+wantSum+")")
	assert.Contains(t, cold.stderr, "::endgroup::")
	requests, downloads := gh.counts()
	assert.Equal(t, 2, downloads, "the asset and SHA256SUMS")
	assert.Empty(t, gh.badAuth, "every API call carries the token")
	for _, r := range gh.requests {
		if strings.Contains(r, "/releases/assets/") {
			assert.Contains(t, r, "Accept=application/octet-stream")
		}
	}

	cached := cachedFiles(t, cache)
	require.Len(t, cached, 2, "%v", cached)
	dir := filepath.Join(cache, "erlmcp-deploy", "v1", runtime.GOOS+"-"+runtime.GOARCH)
	matches, err := filepath.Glob(filepath.Join(dir, "release-*", name))
	require.NoError(t, err)
	require.Len(t, matches, 1, "cached as $RUNNER_TOOL_CACHE/erlmcp-deploy/<ref>/<os>-<arch>/release-<tree>/<asset>: %v", cached)
	assert.FileExists(t, filepath.Join(filepath.Dir(matches[0]), "SHA256SUMS"))
	assert.Equal(t, wantSum, sha256File(t, matches[0]))

	warm := launch(t, env, "deploy", "--version")
	require.Equal(t, 0, warm.code, warm.stderr)
	assert.Equal(t, distVersion+"\n", warm.stdout)
	assert.Contains(t, warm.stderr, "using cached release asset "+name+" of v1 (verified sha256 "+wantSum+")")
	after, _ := gh.counts()
	assert.Equal(t, requests, after, "a cache hit makes no request at all")
	t.Logf("launcher release path: cold (API + download + verify) %v, warm (cache hit, re-verified) %v",
		cold.took.Round(time.Millisecond), warm.took.Round(time.Millisecond))

	// A corrupted cache entry is not run: it is downloaded and verified again.
	require.NoError(t, os.WriteFile(matches[0], []byte("#!/bin/sh\necho corrupted\n"), 0o755))
	again := launch(t, env, "deploy", "--version")
	require.Equal(t, 0, again.code, again.stderr)
	assert.Equal(t, distVersion+"\n", again.stdout)
	assert.Contains(t, again.stderr, "does not match its SHA256SUMS")
	_, downloads = gh.counts()
	assert.Equal(t, 4, downloads)
	assert.Equal(t, wantSum, sha256File(t, matches[0]))
}

func TestFloatingMajorTagResolvesToItsRelease(t *testing.T) {
	requireBash(t)
	dist := hostDist(t)
	const (
		head = "aaaa000000000000000000000000000000000001"
		old  = "aaaa000000000000000000000000000000000000"
		tago = "bbbb000000000000000000000000000000000001" // annotated v1.2.3
	)
	commit := func(sha string) gitObject { return gitObject{SHA: sha, Type: "commit"} }
	for _, tc := range []struct {
		name string
		refs map[string]gitObject
	}{
		{"lightweight tags", map[string]gitObject{
			"v1": commit(head), "v1.2.2": commit(old), "v1.2.3": commit(head),
			"v1.3.0-rc.1": commit(head), "v10.0.0": commit(head),
		}},
		{"annotated release tag", map[string]gitObject{
			"v1": commit(head), "v1.2.2": commit(old), "v1.2.3": {SHA: tago, Type: "tag"},
			"v1.3.0-rc.1": commit(head), "v10.0.0": commit(head),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := newFakeGitHub(t)
			gh.addRelease(t, "v1.2.3", dist, nil)
			gh.addRelease(t, "v10.0.0", t.TempDir(), nil)
			gh.refs = tc.refs
			gh.tagObjs[tago] = head
			r := launch(t, gh.env(t.TempDir(), "v1"), "smoke", "--version")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, distVersion+"\n", r.stdout)
			assert.Contains(t, r.stderr, "v1 points at v1.2.3")
			assert.Contains(t, r.stderr, "using release asset "+assetName("smoke")+" of v1.2.3 (verified sha256 ")
			peeled := false
			for _, req := range gh.requests {
				peeled = peeled || strings.Contains(req, "/git/tags/"+tago)
			}
			assert.Equal(t, tc.refs["v1.2.3"].Type == "tag", peeled, "annotated tags are peeled to their commit: %v", gh.requests)
		})
	}
}

func TestChecksumMismatchIsAHardError(t *testing.T) {
	requireBash(t)
	dist := hostDist(t)
	gh := newFakeGitHub(t)
	marker := filepath.Join(t.TempDir(), "ran")
	name := assetName("deploy")
	evil := []byte("#!/bin/sh\ntouch '" + marker + "'\necho " + distVersion + "\n")
	gh.addRelease(t, "v1.2.3", dist, map[string][]byte{name: evil})
	cache := t.TempDir()

	r := launch(t, gh.env(cache, "v1.2.3"), "deploy", "--version")
	assert.NotEqual(t, 0, r.code)
	assert.Empty(t, r.stdout, "nothing ran")
	assert.Contains(t, r.stderr, "::error::")
	assert.Contains(t, r.stderr, "checksum mismatch for "+name)
	assert.NotContains(t, r.stderr, "building", "no fallback to a source build either")
	assert.NoFileExists(t, marker, "the tampered binary must not run")
	for _, f := range cachedFiles(t, cache) {
		assert.NotContains(t, f, name, "the tampered binary must not be cached")
	}

	// The other assets of the release are intact and still usable.
	ok := launch(t, gh.env(cache, "v1.2.3"), "rollback", "--version")
	require.Equal(t, 0, ok.code, ok.stderr)
	assert.Equal(t, distVersion+"\n", ok.stdout)
}

// ---- source path ----------------------------------------------------------

func TestSourceBuildIsCached(t *testing.T) {
	requireBash(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	gitSHA := "dev"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		gitSHA = strings.TrimSpace(string(out))
	}
	gh := newFakeGitHub(t) // no releases at all
	for _, tc := range []struct{ name, ref, version, why, allow string }{
		{"empty ref", "", gitSHA, "no action ref (local action): building from source", ""},
		{"commit sha", "0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567", "is not a release tag: building from source", ""},
		// A release ref builds from source only when the job opts in (see TestReleaseRefNeverBuildsFromSource).
		{"tag without release, opted in", "v9.9.9", "v9.9.9", "ERLMCP_ALLOW_SOURCE_BUILD=true: building from source", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			env := []string{
				"ERLMCP_ACTION_REF=" + tc.ref, "ERLMCP_ACTION_REPOSITORY=" + repo,
				"ERLMCP_DOWNLOAD_TOKEN=" + token, "ERLMCP_RELEASE_API=" + gh.URL, "RUNNER_TOOL_CACHE=" + cache,
				"ERLMCP_ALLOW_SOURCE_BUILD=" + tc.allow,
			}
			cold := launch(t, env, "deploy", "--version")
			require.Equal(t, 0, cold.code, cold.stderr)
			assert.Equal(t, tc.version+"\n", cold.stdout)
			assert.Contains(t, cold.stderr, tc.why)
			assert.Contains(t, cold.stderr, "building deploy from source at ref '")
			refDir := tc.ref
			if refDir == "" {
				refDir = "local"
			}
			matches, err := filepath.Glob(filepath.Join(cache, "erlmcp-deploy", refDir, runtime.GOOS+"-"+runtime.GOARCH, "source-*", assetName("deploy")))
			require.NoError(t, err)
			assert.Len(t, matches, 1, "%v", cachedFiles(t, cache))

			warm := launch(t, env, "deploy", "--version")
			require.Equal(t, 0, warm.code, warm.stderr)
			assert.Equal(t, tc.version+"\n", warm.stdout)
			assert.Contains(t, warm.stderr, "using cached source build")
			assert.NotContains(t, warm.stderr, "building deploy from source")
			t.Logf("launcher cold-start (ref %q): source build %v, cached %v",
				tc.ref, cold.took.Round(time.Millisecond), warm.took.Round(time.Millisecond))
		})
	}
}

func TestExitCodeAndOutputsAreTheBinarys(t *testing.T) {
	requireBash(t)
	dist := hostDist(t)
	gh := newFakeGitHub(t)
	gh.addRelease(t, "v1", dist, nil)
	// No inputs at all: the deploy binary rejects them with its own exit code.
	direct := exec.Command(filepath.Join(dist, assetName("deploy")))
	direct.Env = cleanEnv()
	directErr := direct.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, directErr, &exitErr)

	r := launch(t, gh.env(t.TempDir(), "v1"), "deploy")
	assert.Equal(t, exitErr.ExitCode(), r.code, r.stderr)
	assert.Contains(t, r.stderr, "::endgroup::", "the launcher group is closed before the binary's own output")
}

func TestMissingGoSaysToAddSetupGo(t *testing.T) {
	requireBash(t)
	path, ok := pathWithoutGo()
	if !ok {
		t.Skip("go shares its directory with the tools the launcher needs")
	}
	r := launch(t, []string{"RUNNER_TOOL_CACHE=" + t.TempDir(), "PATH=" + path}, "smoke", "--version")
	assert.NotEqual(t, 0, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "::error::")
	assert.Contains(t, r.stderr, "actions/setup-go")
}

func TestUsageErrors(t *testing.T) {
	requireBash(t)
	for _, args := range [][]string{{}, {"nope"}, {"--install", "deploy"}} {
		r := launch(t, []string{"RUNNER_TOOL_CACHE=" + t.TempDir()}, args...)
		assert.NotEqual(t, 0, r.code, "%v", args)
		assert.Contains(t, r.stderr, "::error::", "%v", args)
	}
}

// ---- --install ------------------------------------------------------------

func TestInstallPutsTheCLIOnPath(t *testing.T) {
	requireBash(t)
	dist := hostDist(t)
	gh := newFakeGitHub(t)
	gh.addRelease(t, "v1.2.3", dist, nil)
	cases := []struct{ name, ref, version string }{
		{"release", "v1.2.3", distVersion},
	}
	if _, err := exec.LookPath("go"); err == nil {
		cases = append(cases, struct{ name, ref, version string }{"source", "main", "main"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			output, ghPath := filepath.Join(tmp, "output"), filepath.Join(tmp, "path")
			require.NoError(t, os.WriteFile(output, []byte("earlier=kept\n"), 0o644))
			env := append(gh.env(filepath.Join(tmp, "cache"), tc.ref), "GITHUB_OUTPUT="+output, "GITHUB_PATH="+ghPath)
			if tc.name == "source" {
				env = append(env, "PATH="+os.Getenv("PATH"))
			}
			r := launch(t, env, "--install", "erlmcp-deploy")
			require.Equal(t, 0, r.code, r.stderr)
			t.Logf("--install (%s): %v", tc.name, r.took.Round(time.Millisecond))

			out, err := os.ReadFile(output)
			require.NoError(t, err)
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			require.Len(t, lines, 2, "%q", out)
			assert.Equal(t, "earlier=kept", lines[0], "GITHUB_OUTPUT is appended to")
			bin, ok := strings.CutPrefix(lines[1], "path=")
			require.True(t, ok, lines[1])
			assert.True(t, filepath.IsAbs(bin), bin)
			assert.Equal(t, "erlmcp-deploy"+exe(), filepath.Base(bin))
			assert.Equal(t, bin+"\n", r.stdout)

			dirs, err := os.ReadFile(ghPath)
			require.NoError(t, err)
			assert.Equal(t, filepath.Dir(bin)+"\n", string(dirs))

			// The step after `uses: ./` runs `erlmcp-deploy` from PATH.
			cmd := exec.Command(bashPath, "-c", "erlmcp-deploy --version")
			cmd.Env = append(cleanEnv(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
			v, err := cmd.Output()
			require.NoError(t, err)
			assert.Equal(t, "erlmcp-deploy "+tc.version+"\n", string(v))
			help := exec.Command(bin, "--help")
			assert.NoError(t, help.Run())
		})
	}
}
