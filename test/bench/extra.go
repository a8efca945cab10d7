package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/release"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// benchBinaries builds each action binary as the release does (linux/amd64,
// stripped) and measures its size and its start time (--version, median of 20).
func benchBinaries(ctx context.Context) ([][]string, error) {
	root, err := testcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "erlmcp-bench-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var rows [][]string
	for _, id := range []string{"deploy", "rollback", "smoke", "release-notes"} {
		bin := filepath.Join(dir, id)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./actions/"+id)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", id, err, out)
		}
		st, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		var runs []time.Duration
		for i := 0; i < 20; i++ {
			start := time.Now()
			if err := exec.CommandContext(ctx, bin, "--version").Run(); err != nil {
				return nil, fmt.Errorf("%s --version: %w", id, err)
			}
			runs = append(runs, time.Since(start))
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
		rows = append(rows, []string{fmt.Sprintf("`%s` action binary: size (stripped, linux/amd64), start to exit (`--version`, median of 20)", id),
			"—", fmt.Sprintf("%.1f MB, %s", float64(st.Size())/(1<<20), runs[len(runs)/2].Round(100*time.Microsecond))})
	}
	return rows, nil
}

// benchReleaseCalls counts the GitHub API calls of a release with N assets
// on the happy path, against the in-process GitHub fake.
func benchReleaseCalls(ctx context.Context) ([][]string, error) {
	fake := githubfake.New("acme", "erlmcp")
	defer fake.Close()
	client, err := release.NewClient(fake.APIURL(), "bench-token", nil)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "erlmcp-bench-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	const n = 3
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("erlmcp-%d.tar.gz", i)), make([]byte, 64<<10), 0o644); err != nil {
			return nil, err
		}
	}
	changelog := filepath.Join(dir, "CHANGELOG.md")
	if err := os.WriteFile(changelog, []byte("# Changelog\n\n## [1.2.0] - 2026-11-20\n### Added\n- things\n"), 0o644); err != nil {
		return nil, err
	}
	pub := &release.Publisher{Client: client, Log: ui.Discard{}}
	res, err := pub.Run(ctx, release.Config{Owner: "acme", Repo: "erlmcp", Tag: "v1.2.0", PreviousTag: "v1.1.0", Changelog: changelog,
		NotesSource: release.SourceAuto, GitDir: dir, Files: []string{filepath.Join(dir, "*.tar.gz")}, FailOnUnmatchedFiles: true,
		Checksums: true, Prerelease: "auto", MakeLatest: "true", Mode: "replace", TempDir: dir})
	if err != nil {
		return nil, err
	}
	assets := len(res.Assets)
	return [][]string{{fmt.Sprintf("release with %d assets (%d files + SHA256SUMS): GitHub API calls, happy path", assets, n),
		fmt.Sprintf("≤ N + 5 = %d", assets+5), fmt.Sprint(len(fake.Calls()))}}, nil
}
