package release

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMergeBody(t *testing.T) {
	b := Block("new")
	tests := []struct {
		existing, mode string
		exists         bool
		want           string
	}{
		{"", "replace", false, b},
		{"human text", "replace", true, b},
		{"human text", "keep", true, "human text"},
		{"", "keep", false, b},
		{"human text", "append", true, "human text\n\n" + b},
		{"", "append", true, b},
		{"intro\n\n" + Block("old") + "\n\noutro", "append", true, "intro\n\n" + b + "\n\noutro"},
	}
	for _, tt := range tests {
		if got := MergeBody(tt.existing, "new", tt.mode, tt.exists); got != tt.want {
			t.Errorf("MergeBody(%q, %s) = %q, want %q", tt.existing, tt.mode, got, tt.want)
		}
	}
}

func TestCommitNotes(t *testing.T) {
	got := CommitNotes([]Commit{
		{Hash: "aaaaaaaaaa", Subject: "feat(transport): streamable HTTP"},
		{Hash: "bbbbbbbbbb", Subject: "fix: release workers on timeout"},
		{Hash: "cccccccccc", Subject: "feat!: drop SSE"},
		{Hash: "dddddddddd", Subject: "refactor: pool", Body: "BREAKING CHANGE: pool_size renamed"},
		{Hash: "eeeeeeeeee", Subject: "perf: faster json"},
		{Hash: "ffffffffff", Subject: "docs: README"},
		{Hash: "1111111111", Subject: "Merge-free plain subject"},
		{Hash: "2222222222", Subject: "chore(deps): bump"},
	})
	want := "### Breaking changes\n\n- drop SSE (ccccccc)\n- pool (ddddddd)\n\n" +
		"### Features\n\n- **transport:** streamable HTTP (aaaaaaa)\n\n" +
		"### Bug Fixes\n\n- release workers on timeout (bbbbbbb)\n\n" +
		"### Performance\n\n- faster json (eeeeeee)\n\n" +
		"### Documentation\n\n- README (fffffff)\n\n" +
		"### Other changes\n\n- Merge-free plain subject (1111111)\n- **deps:** bump (2222222)"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if CommitNotes(nil) != "_No changes._" {
		t.Error("empty range")
	}
}

func TestDeployedSection(t *testing.T) {
	if got := DeployedSection("ghcr.io/acme/erlmcp@sha256:abc -> staging, production"); got != "### Deployed\n\n- `ghcr.io/acme/erlmcp@sha256:abc` → staging, production" {
		t.Errorf("got %q", got)
	}
	if got := DeployedSection("deployed `everywhere`"); got != "### Deployed\n\n- `` deployed `everywhere` ``" {
		t.Errorf("got %q", got)
	}
	if DeployedSection("  ") != "" {
		t.Error("blank")
	}
}

func TestGitLog(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("commit", "-q", "--allow-empty", "-m", "feat: first")
	git("tag", "v1.0.0")
	git("commit", "-q", "--allow-empty", "-m", "fix(pool): second", "-m", "BREAKING CHANGE: yes")
	git("commit", "-q", "--allow-empty", "-m", "docs: third")
	git("tag", "v1.1.0")
	commits, err := GitLog(context.Background(), dir, "v1.0.0", "v1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != 2 || commits[0].Subject != "docs: third" || commits[1].Body != "BREAKING CHANGE: yes" {
		t.Fatalf("commits = %+v", commits)
	}
	all, err := GitLog(context.Background(), dir, "", "v1.1.0")
	if err != nil || len(all) != 3 {
		t.Fatalf("all = %+v, %v", all, err)
	}
	if _, err := GitLog(context.Background(), dir, "v0.1.0", "v1.1.0"); err == nil || !strings.Contains(err.Error(), "v0.1.0..v1.1.0") {
		t.Errorf("err = %v", err)
	}
}
