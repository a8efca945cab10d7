// Package release is the engine of the release-notes action: it resolves the
// tag range, builds the notes (CHANGELOG section, GitHub generated notes or
// Conventional Commits), and creates or updates the GitHub release with its
// assets and checksums, converging on re-runs.
//
// It never imports the GitHub Actions adapter; it logs to a ui.Logger.
package release

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/changelog"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Notes sources.
const (
	SourceAuto      = "auto"
	SourceChangelog = "changelog"
	SourceGitHub    = "github"
	SourceCommits   = "commits"
)

// Config is one release to make.
type Config struct {
	Owner, Repo string
	Tag         string
	// PreviousTag is the start of the notes; "" = computed from Tags.
	PreviousTag string
	// Tags are the repository's tags (git tag --list), to find PreviousTag.
	Tags      []string
	TagPrefix string
	// Changelog is the path of the Keep a Changelog file ("" = none).
	Changelog   string
	NotesSource string // auto, changelog, github, commits
	// GitDir is where git runs for commit notes ("" = current directory).
	GitDir               string
	Files                []string // globs, relative to GitDir
	FailOnUnmatchedFiles bool
	Checksums            bool
	Draft                bool
	Prerelease           string // auto, true, false
	MakeLatest           string // true, false, legacy
	Mode                 string // replace, append, keep
	DeployedImage        string
	DryRun               bool
	// TempDir receives SHA256SUMS ("" = os.TempDir()).
	TempDir string
}

// Result is what was released.
type Result struct {
	Tag, PreviousTag string
	Notes            string
	NotesSource      string // the source actually used
	Assets           []Asset
	Uploaded         []string // asset names uploaded by this run
	Skipped          []string // asset names already up to date
	ReleaseID        int64
	URL, UploadURL   string
	Created          bool
	Draft            bool
	Prerelease       bool
	DryRun           bool
}

// Publisher talks to GitHub.
type Publisher struct {
	Client *github.Client
	Log    ui.Logger
	Retry  Retry
	// GitLog lists commits (default GitLog); tests may replace it.
	GitLog func(ctx context.Context, dir, prev, tag string) ([]Commit, error)
}

func (p *Publisher) log() ui.Logger {
	if p.Log == nil {
		return ui.Discard{}
	}
	return p.Log
}

// NewClient returns a go-github client for apiURL (default
// https://api.github.com/; a GitHub Enterprise Server URL such as
// https://ghe.example.com/api/v3 works as is). Its own rate-limit bookkeeping
// is off: the Publisher retries and honours Retry-After itself.
func NewClient(apiURL, token string, hc *http.Client) (*github.Client, error) {
	if apiURL == "" {
		apiURL = "https://api.github.com/"
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api-url %q is not an http(s) URL", apiURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	base := u.String()
	opts := []github.ClientOptionsFunc{github.WithURLs(&base, &base), github.WithDisableRateLimitCheck(),
		github.WithUserAgent("erlmcp-deploy-release-notes")}
	if hc != nil {
		opts = append(opts, github.WithHTTPClient(hc))
	} else {
		opts = append(opts, github.WithTimeout(5*time.Minute))
	}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	return github.NewClient(opts...)
}

// Run resolves the tag range, the notes and the assets, then (unless DryRun)
// creates or updates the release. It is safe to run again: it finds its
// release among all releases (drafts too), replaces its own notes block,
// skips assets whose digest already matches and publishes a draft only after
// every asset is up.
func (p *Publisher) Run(ctx context.Context, cfg Config) (*Result, error) {
	res := &Result{Tag: cfg.Tag, DryRun: cfg.DryRun}
	if cfg.Tag == "" {
		return res, errors.New("no tag to release")
	}
	// Previous tag.
	res.PreviousTag = cfg.PreviousTag
	if res.PreviousTag == "" {
		prev, err := PreviousTag(cfg.Tags, cfg.Tag, cfg.TagPrefix)
		switch {
		case err != nil:
			p.log().Warnf("cannot find the previous tag: %v; the notes start at the first commit", err)
		case prev == "" && len(cfg.Tags) <= 1:
			p.log().Warnf("no earlier tag found among %d tag(s); was the repository checked out with `fetch-depth: 0`?", len(cfg.Tags))
		}
		res.PreviousTag = prev
	}
	switch cfg.Prerelease {
	case "true":
		res.Prerelease = true
	case "false":
	default:
		res.Prerelease = IsPrerelease(strings.TrimPrefix(cfg.Tag, cfg.TagPrefix))
	}
	p.log().Infof("release %s (previous tag: %s, prerelease: %v)", cfg.Tag, orNone(res.PreviousTag), res.Prerelease)

	// Assets first: a bad glob must fail before any write.
	assets, unmatched, err := ExpandFiles(cfg.GitDir, cfg.Files, cfg.FailOnUnmatchedFiles)
	if err != nil {
		return res, err
	}
	for _, u := range unmatched {
		p.log().Warnf("files: %q matches no file", u)
	}
	if cfg.Checksums && len(assets) > 0 {
		dir := cfg.TempDir
		if dir == "" {
			dir = os.TempDir()
		}
		dir, err = os.MkdirTemp(dir, "release-assets-")
		if err != nil {
			return res, err
		}
		sums, err := WriteChecksums(dir, assets)
		if err != nil {
			return res, err
		}
		assets = append(assets, sums)
	}
	res.Assets = assets

	// Notes.
	notes, source, err := p.notes(ctx, cfg, res.PreviousTag)
	if err != nil {
		return res, err
	}
	if d := DeployedSection(cfg.DeployedImage); d != "" {
		notes = strings.TrimRight(notes, "\n") + "\n\n" + d
	}
	res.Notes, res.NotesSource = notes, source

	// The existing release, if any (reads only).
	rel, err := p.findRelease(ctx, cfg.Owner, cfg.Repo, cfg.Tag)
	if err != nil {
		return res, err
	}
	if cfg.DryRun {
		if rel != nil {
			res.ReleaseID, res.URL, res.UploadURL, res.Draft = rel.ID, rel.HTMLURL, rel.UploadURL, rel.Draft
			p.log().Infof("dry run: would update release %d (%s) and attach %d asset(s)", rel.ID, rel.HTMLURL, len(assets))
		} else {
			res.Draft = cfg.Draft
			p.log().Infof("dry run: would create release %s and attach %d asset(s)", cfg.Tag, len(assets))
		}
		return res, nil
	}
	return res, p.upsert(ctx, cfg, res, rel)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// notes builds the notes from the configured source.
func (p *Publisher) notes(ctx context.Context, cfg Config, prev string) (string, string, error) {
	src := cfg.NotesSource
	if src == "" {
		src = SourceAuto
	}
	version := strings.TrimPrefix(cfg.Tag, cfg.TagPrefix)
	if src == SourceChangelog || src == SourceAuto {
		body, err := p.changelogNotes(cfg.Changelog, version)
		if err == nil {
			p.log().Infof("notes: section %s of %s", version, cfg.Changelog)
			return body, SourceChangelog, nil
		}
		if src == SourceChangelog {
			return "", "", err
		}
		p.log().Infof("notes: %v; trying GitHub generated notes", err)
	}
	if src == SourceGitHub || src == SourceAuto {
		if cfg.DryRun {
			p.log().Infof("notes: dry run does not call generate-notes (a POST)")
			if src == SourceGitHub {
				return fmt.Sprintf("_GitHub would generate the notes for %s (from %s); not called in a dry run._", cfg.Tag, orNone(prev)), SourceGitHub, nil
			}
		} else {
			body, err := p.generated(ctx, cfg, prev)
			if err == nil {
				return body, SourceGitHub, nil
			}
			if src == SourceGitHub {
				return "", "", err
			}
			p.log().Warnf("notes: generate-notes failed: %v; grouping commits instead", err)
		}
	}
	gitLog := p.GitLog
	if gitLog == nil {
		gitLog = GitLog
	}
	commits, err := gitLog(ctx, cfg.GitDir, prev, cfg.Tag)
	if err != nil {
		return "", "", fmt.Errorf("notes from commits: %w", err)
	}
	p.log().Infof("notes: %d commit(s) in %s..%s", len(commits), orNone(prev), cfg.Tag)
	return CommitNotes(commits), SourceCommits, nil
}

func (p *Publisher) changelogNotes(path, version string) (string, error) {
	if path == "" {
		return "", errors.New("no changelog file given")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("changelog: %w", err)
	}
	cl, err := changelog.Parse(b)
	if err != nil {
		return "", fmt.Errorf("changelog %s: %w", path, err)
	}
	sec, err := cl.Lookup(version)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if sec.Yanked {
		p.log().Warnf("changelog: %s is marked [YANKED]", sec.Version)
	}
	if strings.TrimSpace(sec.Body) == "" {
		return "", fmt.Errorf("%s: the section %q is empty", path, sec.Heading)
	}
	return sec.Body, nil
}

func (p *Publisher) generated(ctx context.Context, cfg Config, prev string) (string, error) {
	req := github.GenerateNotesRequest{TagName: cfg.Tag}
	if prev != "" {
		req.PreviousTagName = &prev
	}
	var notes *github.RepositoryReleaseNotes
	err := p.do(ctx, "generate-notes", func() error {
		var err error
		notes, _, err = p.Client.Repositories.GenerateReleaseNotes(ctx, cfg.Owner, cfg.Repo, req)
		return err
	})
	if err != nil {
		return "", err
	}
	return notes.Body, nil
}

// findRelease lists every release (drafts are only visible there), 100 per
// page, following pagination to the end. With several releases of one tag
// (left by other tools) it prefers the published one, else the oldest draft.
func (p *Publisher) findRelease(ctx context.Context, owner, repo, tag string) (*github.RepositoryRelease, error) {
	var found []*github.RepositoryRelease
	opt := &github.ListOptions{PerPage: 100}
	for {
		var page []*github.RepositoryRelease
		var resp *github.Response
		err := p.do(ctx, "list releases", func() error {
			var err error
			page, resp, err = p.Client.Repositories.ListReleases(ctx, owner, repo, opt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		for _, r := range page {
			if r.TagName == tag {
				found = append(found, r)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if len(found) == 0 {
		return nil, nil
	}
	best := found[0]
	for _, r := range found[1:] {
		if (best.Draft && !r.Draft) || (best.Draft == r.Draft && r.ID < best.ID) {
			best = r
		}
	}
	if len(found) > 1 {
		p.log().Warnf("%d releases exist for tag %s; updating release %d and leaving the others alone", len(found), tag, best.ID)
	}
	return best, nil
}
