package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const changelogMD = `# Changelog

## [Unreleased]

## [1.2.0] - 2026-01-26

### Added

- Streamable HTTP transport.

## [1.1.0] - 2025-11-02

- Older.

[1.2.0]: https://github.com/acme/erlmcp/compare/v1.1.0...v1.2.0
`

type env struct {
	t     *testing.T
	fake  *githubfake.Server
	pub   *Publisher
	sleep *githubfake.Sleeps
	dir   string
	log   *bytes.Buffer
	files map[string][]byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := githubfake.New("acme", "erlmcp")
	t.Cleanup(fake.Close)
	client, err := NewClient(fake.APIURL(), "ghs_test_token", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fake: fake, sleep: &githubfake.Sleeps{}, dir: t.TempDir(), log: &bytes.Buffer{}, files: map[string][]byte{
		"dist/erlmcp-1.2.0-linux-amd64.tar.gz": bytes.Repeat([]byte("amd64 release tarball "), 4096),
		"dist/erlmcp-1.2.0-linux-arm64.tar.gz": bytes.Repeat([]byte("arm64 release tarball "), 3000),
		"dist/sbom.spdx.json":                  []byte(`{"spdxVersion":"SPDX-2.3"}`),
	}}
	for name, b := range e.files {
		e.write(name, b)
	}
	e.write("CHANGELOG.md", []byte(changelogMD))
	e.pub = &Publisher{Client: client, Log: ui.NewText(e.log, true), Retry: Retry{Sleep: e.sleep.Sleep},
		GitLog: func(context.Context, string, string, string) ([]Commit, error) {
			return []Commit{{Hash: "0123456789abcdef", Subject: "feat: from commits"}}, nil
		}}
	return e
}

func (e *env) write(name string, b []byte) {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.files[name] = b
}

func (e *env) cfg() Config {
	return Config{Owner: "acme", Repo: "erlmcp", Tag: "v1.2.0", PreviousTag: "v1.1.0",
		Changelog: filepath.Join(e.dir, "CHANGELOG.md"), NotesSource: SourceAuto, GitDir: e.dir,
		Files: []string{"dist/*.tar.gz", "dist/*.json"}, FailOnUnmatchedFiles: true, Checksums: true,
		Prerelease: "auto", MakeLatest: "true", Mode: "replace", TempDir: e.t.TempDir()}
}

func (e *env) run(cfg Config) *Result {
	e.t.Helper()
	res, err := e.pub.Run(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("run: %v\nlog:\n%s", err, e.log)
	}
	return res
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// check asserts one release of v1.2.0, published, holding exactly one copy of
// each file (with the exact bytes) and a matching SHA256SUMS.
func (e *env) check() githubfake.Release {
	e.t.Helper()
	rels := e.fake.ReleasesByTag("v1.2.0")
	if len(rels) != 1 {
		e.t.Fatalf("%d releases of v1.2.0, want 1", len(rels))
	}
	rel := rels[0]
	if rel.Draft {
		e.t.Error("release is still a draft")
	}
	byName := map[string]*githubfake.Asset{}
	for _, a := range rel.Assets {
		if byName[a.Name] != nil {
			e.t.Errorf("asset %s attached twice", a.Name)
		}
		byName[a.Name] = a
	}
	if len(rel.Assets) != len(e.files)+1 {
		e.t.Errorf("%d assets, want %d", len(rel.Assets), len(e.files)+1)
	}
	var sums []string
	for name, b := range e.files {
		if !strings.HasPrefix(name, "dist/") {
			continue
		}
		a := byName[filepath.Base(name)]
		if a == nil {
			e.t.Errorf("asset %s missing", name)
			continue
		}
		if a.SHA256() != sha(b) {
			e.t.Errorf("asset %s holds other bytes (%d bytes, want %d)", name, len(a.Content), len(b))
		}
		sums = append(sums, sha(b)+"  "+filepath.Base(name))
	}
	if s := byName[ChecksumsName]; s == nil {
		e.t.Error("SHA256SUMS missing")
	} else {
		for _, line := range sums {
			if !strings.Contains(string(s.Content), line+"\n") {
				e.t.Errorf("SHA256SUMS lacks %q:\n%s", line, s.Content)
			}
		}
	}
	return rel
}

func delete(files map[string][]byte, name string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range files {
		if k != name {
			out[k] = v
		}
	}
	return out
}

func TestCreateWithAssets(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	res := e.run(e.cfg())
	rel := e.check()
	if !strings.Contains(rel.Body, "Streamable HTTP transport.") || strings.Contains(rel.Body, "Older") || strings.Contains(rel.Body, "compare") {
		t.Errorf("body = %q", rel.Body)
	}
	if rel.Body != Block(res.Notes) || res.NotesSource != SourceChangelog {
		t.Errorf("body %q, source %s", rel.Body, res.NotesSource)
	}
	if rel.Prerelease || rel.MakeLatest != "true" || rel.Name != "v1.2.0" {
		t.Errorf("release = %+v", rel)
	}
	if res.ReleaseID != rel.ID || res.URL == "" || !strings.Contains(res.UploadURL, "/uploads/") || res.Draft || !res.Created {
		t.Errorf("result = %+v", res)
	}
	calls := e.fake.Calls()
	n := len(res.Assets) // 3 files + SHA256SUMS
	if n != 4 {
		t.Fatalf("%d assets", n)
	}
	// list releases + create + N uploads + publish.
	if len(calls) > n+5 {
		t.Errorf("%d API calls for %d assets, want <= %d: %v", len(calls), n, n+5, calls)
	}
	t.Logf("happy path: %d API calls for %d assets (bound %d)", len(calls), n, n+5)
	// The release is created as a draft and published only after every upload.
	create, publish, lastUpload := -1, -1, -1
	for i, c := range calls {
		switch {
		case c.Method == "POST" && c.Path == "/repos/acme/erlmcp/releases":
			create = i
			if !strings.Contains(c.Body, `"draft":true`) {
				t.Errorf("created without draft: %s", c.Body)
			}
		case c.Method == "POST" && strings.HasPrefix(c.Path, "/uploads/"):
			lastUpload = i
		case c.Method == "PATCH":
			publish = i
			if !strings.Contains(c.Body, `"draft":false`) || !strings.Contains(c.Body, `"make_latest":"true"`) {
				t.Errorf("publish body = %s", c.Body)
			}
		}
	}
	if !(create >= 0 && create < lastUpload && lastUpload < publish) {
		t.Errorf("order create=%d lastUpload=%d publish=%d: %v", create, lastUpload, publish, calls)
	}
	if len(e.sleep.All()) != 0 {
		t.Errorf("slept %v on the happy path", e.sleep.All())
	}
}

func TestRerunConvergesReplace(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	first := e.run(e.cfg())
	e.fake.ResetCalls()
	second := e.run(e.cfg())
	rel := e.check()
	if rel.Body != Block(first.Notes) {
		t.Errorf("body after re-run = %q", rel.Body)
	}
	if second.Created || len(second.Uploaded) != 0 || len(second.Skipped) != 4 {
		t.Errorf("second run: created=%v uploaded=%v skipped=%v", second.Created, second.Uploaded, second.Skipped)
	}
	for _, c := range e.fake.Calls() {
		if c.Method == "POST" || c.Method == "DELETE" {
			t.Errorf("unexpected write on a converged re-run: %v", c)
		}
	}
	// A changed file is replaced (delete + upload), still one copy.
	e.write("dist/sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","name":"v2"}`))
	third := e.run(e.cfg())
	e.files = delete(e.files, "CHANGELOG.md")
	e.check()
	if strings.Join(third.Uploaded, ",") != "sbom.spdx.json,SHA256SUMS" {
		t.Errorf("third run uploaded %v", third.Uploaded)
	}
}

func TestRerunConvergesAppend(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.AddRelease(githubfake.Release{TagName: "v1.2.0", Name: "v1.2.0", Body: "Hand-written intro."})
	cfg := e.cfg()
	cfg.Mode = "append"
	for range 3 {
		e.run(cfg)
	}
	rel := e.check()
	if strings.Count(rel.Body, "Hand-written intro.") != 1 || strings.Count(rel.Body, MarkerStart) != 1 ||
		strings.Count(rel.Body, "Streamable HTTP transport.") != 1 || !strings.HasPrefix(rel.Body, "Hand-written intro.\n\n"+MarkerStart) {
		t.Errorf("body after 3 append runs:\n%s", rel.Body)
	}
	// New notes replace our block in place.
	cfg.DeployedImage = "ghcr.io/acme/erlmcp@sha256:abc → staging, production"
	e.run(cfg)
	rel = e.check()
	if strings.Count(rel.Body, MarkerStart) != 1 || !strings.Contains(rel.Body, "### Deployed\n\n- `ghcr.io/acme/erlmcp@sha256:abc` → staging, production") {
		t.Errorf("body:\n%s", rel.Body)
	}
	// keep leaves the body alone.
	cfg.Mode, cfg.DeployedImage = "keep", ""
	e.run(cfg)
	if got := e.check().Body; got != rel.Body {
		t.Errorf("keep changed the body to %q", got)
	}
}

func TestDraftOnPage2(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	draftID := e.fake.AddRelease(githubfake.Release{TagName: "v1.2.0", Name: "old draft", Draft: true})
	for i := range 130 {
		e.fake.AddRelease(githubfake.Release{TagName: fmt.Sprintf("v0.%d.0", i), Name: "other"})
	}
	res := e.run(e.cfg())
	rel := e.check()
	if rel.ID != draftID || res.ReleaseID != draftID || res.Created {
		t.Errorf("release %d, result %+v; want the existing draft %d", rel.ID, res, draftID)
	}
	pages := 0
	for _, c := range e.fake.Calls() {
		if c.Method == "GET" && c.Path == "/repos/acme/erlmcp/releases" {
			pages++
			if !strings.Contains(c.Query, "per_page=100") {
				t.Errorf("list without per_page=100: %s", c.Query)
			}
		}
		if c.Method == "POST" && c.Path == "/repos/acme/erlmcp/releases" {
			t.Error("created a duplicate release")
		}
	}
	if pages != 2 {
		t.Errorf("listed %d pages, want 2", pages)
	}
}

func TestUpload500ThenSuccess(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.FailNext("POST", "/uploads/", 2, http.StatusInternalServerError, nil)
	e.run(e.cfg())
	e.check()
	if got := e.sleep.All(); len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Errorf("waits = %v, want [1s 2s] (exponential backoff)", got)
	}
}

func TestUpload429RetryAfter(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.FailNext("POST", "/uploads/", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}})
	e.run(e.cfg())
	e.check()
	if got := e.sleep.All(); len(got) != 1 || got[0] < 7*time.Second {
		t.Errorf("waits = %v, want one wait >= 7s", got)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.FailNextBody("POST", "/uploads/", 1, http.StatusForbidden, http.Header{"Retry-After": {"42"}},
		`{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	e.fake.FailNext("GET", "/repos/acme/erlmcp/releases", 1, http.StatusTooManyRequests,
		http.Header{"X-RateLimit-Remaining": {"0"}, "X-RateLimit-Limit": {"5000"},
			"X-RateLimit-Reset": {fmt.Sprint(time.Now().Add(90 * time.Second).Unix())}})
	e.run(e.cfg())
	e.check()
	got := e.sleep.All()
	if len(got) != 2 || got[0] < 80*time.Second || got[1] != 42*time.Second {
		t.Errorf("waits = %v, want [~90s (primary reset) 42s (secondary Retry-After)]", got)
	}
}

func TestUpload422AlreadyExistsRace(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.AlreadyExistsOnNextUpload("erlmcp-1.2.0-linux-arm64.tar.gz")
	res := e.run(e.cfg())
	e.check()
	if len(res.Uploaded) != 4 {
		t.Errorf("uploaded %v", res.Uploaded)
	}
	deletes := 0
	for _, c := range e.fake.Calls() {
		if c.Method == "DELETE" {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes, want 1", deletes)
	}
}

func TestUploadConnectionResetMidBody(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.ResetNextUpload()
	e.run(e.cfg())
	rel := e.check() // exact bytes of every asset
	for _, a := range rel.Assets {
		if a.Name == "erlmcp-1.2.0-linux-amd64.tar.gz" && a.SHA256() != sha(e.files["dist/erlmcp-1.2.0-linux-amd64.tar.gz"]) {
			t.Error("retried upload stored other bytes")
		}
	}
	if got := e.sleep.All(); len(got) != 1 {
		t.Errorf("waits = %v, want one retry", got)
	}
	if !strings.Contains(e.log.String(), "upload erlmcp-1.2.0-linux-amd64.tar.gz failed (attempt 1/5)") {
		t.Errorf("no retried upload in the log:\n%s", e.log)
	}
}

func TestHalfFailedRunThenRerun(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	e.fake.FailUploadsOf("erlmcp-1.2.0-linux-arm64.tar.gz", 1000, http.StatusBadGateway)
	_, err := e.pub.Run(context.Background(), e.cfg())
	if err == nil || !strings.Contains(err.Error(), "erlmcp-1.2.0-linux-arm64.tar.gz") || !strings.Contains(err.Error(), "draft") {
		t.Fatalf("err = %v", err)
	}
	rels := e.fake.ReleasesByTag("v1.2.0")
	if len(rels) != 1 || !rels[0].Draft || len(rels[0].Assets) != 3 {
		t.Fatalf("after the failed run: %+v", rels)
	}
	if got := e.sleep.All(); len(got) != 4 { // 5 attempts
		t.Errorf("waits = %v", got)
	}
	e.fake.ClearFaults()
	res := e.run(e.cfg())
	e.check()
	if strings.Join(res.Uploaded, ",") != "erlmcp-1.2.0-linux-arm64.tar.gz" || len(res.Skipped) != 3 {
		t.Errorf("re-run uploaded %v, skipped %v", res.Uploaded, res.Skipped)
	}
}

func TestCreateRetriedWithoutDuplicate(t *testing.T) {
	e := newEnv(t)
	e.files = delete(e.files, "CHANGELOG.md")
	cfg := e.cfg()
	cfg.Files = nil
	e.fake.FailNext("POST", "/repos/acme/erlmcp/releases", 1, http.StatusBadGateway, nil)
	res := e.run(cfg)
	rels := e.fake.ReleasesByTag("v1.2.0")
	if len(rels) != 1 || rels[0].Draft || len(rels[0].Assets) != 0 || !res.Created {
		t.Errorf("releases = %+v", rels)
	}
}

func TestDryRunMakesNoWriteCall(t *testing.T) {
	for _, source := range []string{SourceAuto, SourceGitHub, SourceCommits} {
		t.Run(source, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddRelease(githubfake.Release{TagName: "v1.2.0", Draft: true, Body: "old",
				Assets: []*githubfake.Asset{{Name: "erlmcp-1.2.0-linux-amd64.tar.gz", Content: []byte("stale")}}})
			cfg := e.cfg()
			cfg.DryRun, cfg.NotesSource, cfg.Changelog = true, source, ""
			res := e.run(cfg)
			if n := e.fake.WriteCalls(); n != 0 {
				t.Errorf("%d write calls in a dry run: %v", n, e.fake.Calls())
			}
			if len(res.Assets) != 4 || res.ReleaseID == 0 || res.Notes == "" || !res.DryRun {
				t.Errorf("result = %+v", res)
			}
			rel := e.fake.ReleasesByTag("v1.2.0")[0]
			if rel.Body != "old" || len(rel.Assets) != 1 {
				t.Errorf("dry run changed the release: %+v", rel)
			}
		})
	}
}

func TestNotesSources(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Files, cfg.Tag = nil, "v1.3.0"
	// auto: no section for 1.3.0 → GitHub generated notes, with our previous tag.
	res := e.run(cfg)
	if res.NotesSource != SourceGitHub || !strings.Contains(res.Notes, "v1.1.0...v1.3.0") {
		t.Errorf("auto without a section: %s %q", res.NotesSource, res.Notes)
	}
	var gen githubfake.Call
	for _, c := range e.fake.Calls() {
		if strings.HasSuffix(c.Path, "/generate-notes") {
			gen = c
		}
	}
	if !strings.Contains(gen.Body, `"previous_tag_name":"v1.1.0"`) {
		t.Errorf("generate-notes body = %q", gen.Body)
	}
	// auto: generate-notes fails for good → commits.
	e.fake.FailNext("POST", "/repos/acme/erlmcp/releases/generate-notes", 1, http.StatusForbidden, nil)
	res = e.run(cfg)
	if res.NotesSource != SourceCommits || !strings.Contains(res.Notes, "### Features\n\n- from commits (0123456)") {
		t.Errorf("fallback: %s %q", res.NotesSource, res.Notes)
	}
	// changelog: a missing section is an error naming the sections found.
	cfg.NotesSource = SourceChangelog
	_, err := e.pub.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "sections found: Unreleased, 1.2.0, 1.1.0") {
		t.Errorf("err = %v", err)
	}
	// A prerelease tag is marked prerelease automatically.
	cfg.NotesSource, cfg.Tag = SourceCommits, "v1.3.0-rc.1"
	res = e.run(cfg)
	if !res.Prerelease || !e.fake.ReleasesByTag("v1.3.0-rc.1")[0].Prerelease {
		t.Error("v1.3.0-rc.1 not marked prerelease")
	}
}

func TestBadFilesFailBeforeAnyCall(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg()
	cfg.Files = append(cfg.Files, "dist/*.zip")
	_, err := e.pub.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `"dist/*.zip" matches no file`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Errorf("%d calls", n)
	}
	cfg.FailOnUnmatchedFiles = false
	res := e.run(cfg)
	if len(res.Assets) != 4 {
		t.Errorf("assets = %v", res.Assets)
	}
}
