// Package releasenotes wires the release-notes action's inputs to the release
// engine and its result to the outputs and the job summary.
package releasenotes

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/release"
	"github.com/org/erlmcp-deploy/internal/summary"
)

var repoRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// Run reads and validates every input, creates or updates the release, and reports.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	cfg := release.Config{
		TagPrefix: rt.String("tag-prefix"), PreviousTag: rt.String("previous-tag"),
		Changelog: rt.String("changelog"), NotesSource: rt.Enum("notes-source"),
		Files: rt.List("files"), FailOnUnmatchedFiles: rt.Bool("fail-on-unmatched-files"),
		Checksums: rt.Bool("checksums"), Draft: rt.Bool("draft"), Prerelease: rt.Enum("prerelease"),
		MakeLatest: rt.Enum("make-latest"), Mode: rt.Enum("mode"), DeployedImage: rt.String("deployed-image"),
		DryRun: rt.Bool("dry-run"), TempDir: tempDir(rt),
	}

	cfg.Tag = rt.String("tag")
	if cfg.Tag == "" {
		ref := rt.Getenv("GITHUB_REF")
		if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && t != "" {
			cfg.Tag = t
		} else {
			rt.Invalid("tag", fmt.Sprintf("is empty and GITHUB_REF (%q) is not a tag", ref), "a tag such as v1.2.0, or run on a tag push")
		}
	}
	if cfg.Tag != "" && !strings.HasPrefix(cfg.Tag, cfg.TagPrefix) {
		rt.Invalid("tag", fmt.Sprintf("%q does not start with tag-prefix %q", cfg.Tag, cfg.TagPrefix), "a tag starting with tag-prefix")
	}

	repo := rt.String("repository")
	if repo == "" {
		repo = rt.Getenv("GITHUB_REPOSITORY")
	}
	if !repoRe.MatchString(repo) {
		rt.Invalid("repository", fmt.Sprintf("%q is not owner/name", repo), "owner/name, default $GITHUB_REPOSITORY")
	} else {
		cfg.Owner, cfg.Repo, _ = strings.Cut(repo, "/")
	}

	apiURL := rt.String("api-url")
	if apiURL == "" {
		apiURL = rt.Getenv("GITHUB_API_URL")
	}
	if apiURL == "" {
		apiURL = "https://api.github.com"
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		rt.Invalid("api-url", fmt.Sprintf("%q is not an http(s) URL", apiURL), "https://api.github.com or https://<host>/api/v3")
	}

	token := rt.String("token")
	if token == "" {
		token = rt.Getenv("GITHUB_TOKEN")
		rt.Mask(token)
	}
	if token == "" && !cfg.DryRun {
		rt.Invalid("token", "is empty and GITHUB_TOKEN is not set", "a token with `contents: write`, e.g. ${{ github.token }}")
	}
	if err := rt.InputErr(); err != nil {
		return err
	}

	client, err := release.NewClient(apiURL, token, nil)
	if err != nil {
		return err
	}
	if cfg.PreviousTag == "" {
		cfg.Tags, err = gitTags(ctx)
		if err != nil {
			rt.Warnf("cannot list tags: %v; set previous-tag", err)
		}
	}

	pub := &release.Publisher{Client: client, Log: rt}
	end := rt.Group("Release " + cfg.Tag)
	res, err := pub.Run(ctx, cfg)
	end()
	report(rt, cfg, res, err)
	return err
}

func tempDir(rt *ghaction.Runtime) string {
	if d := rt.Getenv("RUNNER_TEMP"); d != "" {
		return d
	}
	return os.TempDir()
}

// gitTags lists the tags of the repository in the working directory.
func gitTags(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "git", "tag", "--list").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("git tag --list: %s", strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("git tag --list: %w", err)
	}
	var tags []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			tags = append(tags, l)
		}
	}
	return tags, nil
}

// report sets the outputs and writes the job summary.
func report(rt *ghaction.Runtime, cfg release.Config, res *release.Result, runErr error) {
	if res == nil {
		return
	}
	rt.SetOutput("tag", res.Tag)
	rt.SetOutput("previous-tag", res.PreviousTag)
	if res.ReleaseID != 0 {
		rt.SetOutput("release-id", strconv.FormatInt(res.ReleaseID, 10))
	}
	rt.SetOutput("url", res.URL)
	rt.SetOutput("upload-url", res.UploadURL)
	if res.Notes != "" {
		path := filepath.Join(cfg.TempDir, "release-notes-"+safeName(res.Tag)+".md")
		if err := os.WriteFile(path, []byte(res.Notes+"\n"), 0o644); err != nil {
			rt.Warnf("write notes file: %v", err)
		} else {
			rt.SetOutput("notes-file", path)
		}
		if res.DryRun {
			end := rt.Group("Release notes (dry run)")
			rt.Infof("%s", res.Notes)
			end()
		}
	}

	s := rt.Summary()
	switch {
	case runErr != nil:
		s.Heading(2, "❌ Release "+res.Tag+" failed")
		s.Para(summary.Cell(runErr.Error()))
	case res.DryRun:
		s.Heading(2, "🧪 Dry run of release "+res.Tag+" (nothing written to GitHub)")
	case res.Draft:
		s.Heading(2, "📝 Draft release "+res.Tag)
	default:
		s.Heading(2, "🏷️ Released "+res.Tag)
	}
	rows := [][2]string{
		{"Tag", summary.InlineCode(res.Tag)},
		{"Previous tag", summary.InlineCode(res.PreviousTag)},
		{"Notes from", res.NotesSource},
		{"Prerelease", strconv.FormatBool(res.Prerelease)},
	}
	if res.URL != "" {
		rows = append(rows, [2]string{"Release", res.URL})
	}
	s.KeyValues(rows)
	if len(res.Assets) > 0 {
		uploaded := map[string]string{}
		for _, n := range res.Uploaded {
			uploaded[n] = "uploaded"
		}
		for _, n := range res.Skipped {
			uploaded[n] = "already attached"
		}
		table := make([][]string, len(res.Assets))
		for i, a := range res.Assets {
			state := uploaded[a.Name]
			if state == "" {
				state = map[bool]string{true: "would upload", false: "not uploaded"}[res.DryRun]
			}
			table[i] = []string{summary.InlineCode(a.Name), humanSize(a.Size), summary.InlineCode(a.SHA256), state}
		}
		s.Heading(3, "Assets")
		s.Table([]string{"Asset", "Size", "SHA-256", "State"}, table)
	}
	if res.Notes != "" {
		s.Details("Release notes", res.Notes)
	}
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
