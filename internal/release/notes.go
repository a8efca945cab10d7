package release

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"github.com/org/erlmcp-deploy/internal/summary"
)

// Markers delimit the block this action owns inside a release body, so a
// re-run in append mode replaces its block instead of adding a second copy.
const (
	MarkerStart = "<!-- erlmcp-deploy:notes -->"
	MarkerEnd   = "<!-- /erlmcp-deploy:notes -->"
)

// Block wraps notes in the markers.
func Block(notes string) string {
	return MarkerStart + "\n" + strings.TrimSpace(notes) + "\n" + MarkerEnd
}

// MergeBody returns the body a release should get. mode is replace (our block
// only), append (existing body + our block; an existing block is replaced in
// place) or keep (the existing body when there is one).
func MergeBody(existing, notes, mode string, exists bool) string {
	block := Block(notes)
	switch {
	case !exists:
		return block
	case mode == "keep":
		return existing
	case mode == "append":
		if i := strings.Index(existing, MarkerStart); i >= 0 {
			if j := strings.Index(existing[i:], MarkerEnd); j >= 0 {
				return existing[:i] + block + existing[i+j+len(MarkerEnd):]
			}
		}
		if strings.TrimSpace(existing) == "" {
			return block
		}
		return strings.TrimRight(existing, "\n") + "\n\n" + block
	default:
		return block
	}
}

// DeployedSection renders the "Deployed" section for deployed-image:
// "ghcr.io/acme/erlmcp@sha256:... → staging, production" (or "->") becomes
// the image in a code span followed by the environments; any other text is
// shown in a code span as it is.
func DeployedSection(deployed string) string {
	deployed = strings.TrimSpace(deployed)
	if deployed == "" {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(deployed, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, "- "+deployedLine(l))
		}
	}
	return "### Deployed\n\n" + strings.Join(lines, "\n")
}

func deployedLine(l string) string {
	for _, arrow := range []string{"→", "->"} {
		if img, envs, ok := strings.Cut(l, arrow); ok && strings.TrimSpace(img) != "" {
			return summary.InlineCode(strings.TrimSpace(img)) + " → " + strings.TrimSpace(envs)
		}
	}
	return summary.InlineCode(l)
}

// Commit is one commit of the range the notes cover.
type Commit struct {
	Hash, Subject, Body string
}

// GitLog lists the commits in prev..tag (all commits reachable from tag when
// prev is ""), newest first, by running git in dir.
func GitLog(ctx context.Context, dir, prev, tag string) ([]Commit, error) {
	rng := tag
	if prev != "" {
		rng = prev + ".." + tag
	}
	cmd := exec.CommandContext(ctx, "git", "log", "--no-merges", "--format=%H%x1f%s%x1f%b%x1e", rng, "--")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("git log %s: %s", rng, msg)
	}
	var commits []Commit
	for _, rec := range strings.Split(string(out), "\x1e") {
		f := strings.SplitN(strings.TrimLeft(rec, "\n"), "\x1f", 3)
		if len(f) < 2 || f[0] == "" {
			continue
		}
		c := Commit{Hash: f[0], Subject: f[1]}
		if len(f) == 3 {
			c.Body = strings.TrimSpace(f[2])
		}
		commits = append(commits, c)
	}
	return commits, nil
}

var ccRe = regexp.MustCompile(`^([A-Za-z]+)(?:\(([^)]*)\))?(!)?:\s*(.+)$`)

var groups = []struct{ key, title string }{
	{"breaking", "Breaking changes"},
	{"feat", "Features"},
	{"fix", "Bug Fixes"},
	{"perf", "Performance"},
	{"docs", "Documentation"},
	{"other", "Other changes"},
}

// CommitNotes groups commits by Conventional Commit type: feat → Features,
// fix → Bug Fixes, perf, docs, everything else → Other; a `!` after the type
// or a BREAKING CHANGE footer puts the commit under Breaking changes.
func CommitNotes(commits []Commit) string {
	byGroup := map[string][]string{}
	for _, c := range commits {
		key, text := "other", strings.TrimSpace(c.Subject)
		if m := ccRe.FindStringSubmatch(text); m != nil {
			typ := strings.ToLower(m[1])
			switch typ {
			case "feat", "fix", "perf", "docs":
				key = typ
			}
			text = m[4]
			if m[2] != "" {
				text = "**" + m[2] + ":** " + text
			}
			if m[3] == "!" {
				key = "breaking"
			}
		}
		if strings.Contains(c.Body, "BREAKING CHANGE:") || strings.Contains(c.Body, "BREAKING-CHANGE:") {
			key = "breaking"
		}
		short := c.Hash
		if len(short) > 7 {
			short = short[:7]
		}
		byGroup[key] = append(byGroup[key], fmt.Sprintf("- %s (%s)", text, short))
	}
	var b strings.Builder
	for _, g := range groups {
		items := byGroup[g.key]
		if len(items) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "### %s\n\n%s\n", g.title, strings.Join(items, "\n"))
	}
	if b.Len() == 0 {
		return "_No changes._"
	}
	return strings.TrimRight(b.String(), "\n")
}

// splitLines returns the non-empty trimmed lines of s.
func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
