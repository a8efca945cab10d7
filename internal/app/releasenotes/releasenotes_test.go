package releasenotes_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/releasenotes"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/githubfake"
)

const token = "ghs_s3cr3tTokenValue1234567890"

const changelogMD = `# Changelog

## [Unreleased]

## [1.1.0] - 2026-01-26

### Added

- Streamable HTTP transport.

## [1.0.0] - 2025-06-30

- First.

[1.1.0]: https://github.com/acme/erlmcp/compare/v1.0.0...v1.1.0
[1.0.0]: https://github.com/acme/erlmcp/releases/tag/v1.0.0
`

// repo makes a git repository with two tagged releases, a CHANGELOG and
// build outputs, and makes it the working directory.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Release Bot", "GIT_AUTHOR_EMAIL=bot@example.com",
			"GIT_COMMITTER_NAME=Release Bot", "GIT_COMMITTER_EMAIL=bot@example.com",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("CHANGELOG.md", changelogMD)
	git("add", ".")
	git("commit", "-q", "-m", "feat: first release")
	git("tag", "v1.0.0")
	git("commit", "-q", "--allow-empty", "-m", "feat(transport): streamable HTTP")
	git("commit", "-q", "--allow-empty", "-m", "fix!: drop SSE")
	git("tag", "v1.1.0-rc.1")
	git("commit", "-q", "--allow-empty", "-m", "docs: README")
	git("tag", "v1.1.0")
	write("dist/erlmcp-1.1.0.tar.gz", strings.Repeat("tarball", 1000))
	write("dist/notes.txt", "hello")
	t.Chdir(dir)
	return dir
}

type run struct {
	code                    int
	stdout, output, summary string
}

func runAction(t *testing.T, env map[string]string) run {
	t.Helper()
	tmp := t.TempDir()
	outPath, sumPath := filepath.Join(tmp, "output"), filepath.Join(tmp, "summary")
	base := map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outPath, "GITHUB_STEP_SUMMARY": sumPath,
		"RUNNER_TEMP": tmp, "GITHUB_REF": "refs/tags/v1.1.0", "GITHUB_REPOSITORY": "acme/erlmcp",
		"GITHUB_TOKEN": token, "INPUT_FILES": "dist/*.tar.gz\ndist/*.txt",
	}
	for k, v := range env {
		base[k] = v
	}
	var buf bytes.Buffer
	rt := ghaction.New(actionspec.ReleaseNotes(), ghaction.WithGetenv(func(k string) string { return base[k] }), ghaction.WithWriter(&buf))
	code := rt.Run(context.Background(), releasenotes.Run)
	out, _ := os.ReadFile(outPath)
	sum, _ := os.ReadFile(sumPath)
	return run{code: code, stdout: buf.String(), output: string(out), summary: string(sum)}
}

func outputs(s string) map[string]string {
	m := map[string]string{}
	re := regexp.MustCompile(`(?s)([a-z-]+)<<(ghadelimiter_erlmcp\S*)\n(.*?)\n(?:ghadelimiter_erlmcp\S*)\n`)
	for _, g := range re.FindAllStringSubmatch(s, -1) {
		m[g[1]] = g[3]
	}
	return m
}

func TestRelease(t *testing.T) {
	repo(t)
	fake := githubfake.New("acme", "erlmcp")
	defer fake.Close()
	r := runAction(t, map[string]string{
		"INPUT_API-URL":        fake.URL,
		"INPUT_DEPLOYED-IMAGE": "ghcr.io/acme/erlmcp@sha256:0123abcd → staging, production",
	})
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	out := outputs(r.output)
	rels := fake.ReleasesByTag("v1.1.0")
	if len(rels) != 1 || rels[0].Draft || len(rels[0].Assets) != 3 {
		t.Fatalf("releases = %+v", rels)
	}
	rel := rels[0]
	want := map[string]string{"tag": "v1.1.0", "previous-tag": "v1.0.0", "release-id": itoa(rel.ID),
		"upload-url": fake.URL + "/uploads/repos/acme/erlmcp/releases/" + itoa(rel.ID) + "/assets{?name,label}",
		"url":        "https://github.example/acme/erlmcp/releases/tag/v1.1.0"}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("output %s = %q, want %q", k, out[k], v)
		}
	}
	notes, err := os.ReadFile(out["notes-file"])
	if err != nil {
		t.Fatalf("notes-file: %v", err)
	}
	for _, s := range []string{"### Added\n\n- Streamable HTTP transport.", "### Deployed\n\n- `ghcr.io/acme/erlmcp@sha256:0123abcd` → staging, production"} {
		if !strings.Contains(string(notes), s) || !strings.Contains(rel.Body, s) || !strings.Contains(r.summary, s) {
			t.Errorf("%q missing from notes file, body or summary", s)
		}
	}
	if strings.Contains(string(notes), "First.") || strings.Contains(string(notes), "compare/") {
		t.Errorf("notes leak other sections:\n%s", notes)
	}
	for _, s := range []string{"🏷️ Released v1.1.0", "erlmcp-1.1.0.tar.gz", "6.8 KiB", "SHA256SUMS", "<details><summary>Release notes</summary>",
		"https://github.example/acme/erlmcp/releases/tag/v1.1.0", rel.Assets[0].SHA256()} {
		if !strings.Contains(r.summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, r.summary)
		}
	}
	// The token only ever appears in the mask command.
	all := r.stdout + r.output + r.summary + string(notes) + rel.Body
	if n := strings.Count(all, token); n != 1 || !strings.Contains(r.stdout, "::add-mask::"+token) {
		t.Errorf("token appears %d times outside ::add-mask::\n%s", n, r.stdout)
	}

	// Re-run with commits as the source: same release, notes replaced.
	r = runAction(t, map[string]string{"INPUT_API-URL": fake.URL, "INPUT_NOTES-SOURCE": "commits"})
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	rels = fake.ReleasesByTag("v1.1.0")
	if len(rels) != 1 || len(rels[0].Assets) != 3 {
		t.Fatalf("re-run: %+v", rels)
	}
	body := rels[0].Body
	for _, s := range []string{"### Breaking changes\n\n- drop SSE", "### Features\n\n- **transport:** streamable HTTP", "### Documentation\n\n- README"} {
		if !strings.Contains(body, s) {
			t.Errorf("commit notes lack %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "first release") || strings.Contains(body, "Streamable HTTP transport.") {
		t.Errorf("commit notes cover the wrong range or were appended:\n%s", body)
	}
}

func TestPrereleaseDryRun(t *testing.T) {
	repo(t)
	fake := githubfake.New("acme", "erlmcp")
	defer fake.Close()
	r := runAction(t, map[string]string{"INPUT_API-URL": fake.URL, "GITHUB_REF": "refs/tags/v1.1.0-rc.1",
		"INPUT_DRY-RUN": "true", "GITHUB_TOKEN": ""})
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	if n := fake.WriteCalls(); n != 0 {
		t.Errorf("%d write calls in a dry run", n)
	}
	out := outputs(r.output)
	if out["previous-tag"] != "v1.0.0" || out["tag"] != "v1.1.0-rc.1" || out["release-id"] != "" {
		t.Errorf("outputs = %v", out)
	}
	if !strings.Contains(r.summary, "Dry run") || !strings.Contains(r.summary, "would upload") || !strings.Contains(r.summary, "| **Prerelease** | true |") {
		t.Errorf("summary:\n%s", r.summary)
	}
}

func TestInvalidInput(t *testing.T) {
	repo(t)
	fake := githubfake.New("acme", "erlmcp")
	defer fake.Close()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"INPUT_MODE": "overwrite"}, "::error title=Invalid input mode::\"overwrite\" is not accepted; accepted values: replace, append, keep"},
		{map[string]string{"GITHUB_REF": "refs/heads/main"}, "::error title=Invalid input tag::"},
		{map[string]string{"INPUT_REPOSITORY": "not a repo"}, "::error title=Invalid input repository::"},
		{map[string]string{"INPUT_PRERELEASE": "maybe"}, "::error title=Invalid input prerelease::"},
		{map[string]string{"GITHUB_TOKEN": ""}, "::error title=Invalid input token::"},
	} {
		tc.env["INPUT_API-URL"] = fake.URL
		r := runAction(t, tc.env)
		if r.code != ghaction.ExitBadInput || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s", tc.env, r.code, tc.want, r.stdout)
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("%d calls to GitHub on bad input", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestTokenNeverLeaksOnFailure: GitHub refusing the token, with an error
// body that quotes it, fails the step without printing it anywhere.
func TestTokenNeverLeaksOnFailure(t *testing.T) {
	repo(t)
	fake := githubfake.New("acme", "erlmcp")
	defer fake.Close()
	fake.FailNextBody(http.MethodGet, "/repos/acme/erlmcp/releases", 100, http.StatusUnauthorized, nil,
		`{"message":"Bad credentials: token `+token+` is revoked","documentation_url":"https://docs.github.com/rest"}`)
	r := runAction(t, map[string]string{"INPUT_API-URL": fake.URL})
	if r.code != ghaction.ExitFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, ghaction.ExitFailed, r.stdout)
	}
	if !strings.Contains(r.stdout, "Bad credentials: token *** is revoked") {
		t.Errorf("the error is shown, redacted:\n%s", r.stdout)
	}
	all := strings.ReplaceAll(r.stdout, "::add-mask::"+token, "") + r.output + r.summary
	if strings.Contains(all, token) {
		t.Errorf("the token leaks:\n%s\n%s\n%s", r.stdout, r.output, r.summary)
	}
	if n := len(fake.Releases()); n != 0 {
		t.Errorf("%d releases created", n)
	}
}
