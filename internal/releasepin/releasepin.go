// Package releasepin prepares a release of this repository (release.yml):
// it pins the reusable pipeline's references to our own actions to a commit
// SHA, so that pinning the pipeline pins the code that receives the
// kubeconfig, and it decides which floating tags (vN, vN.M) a release moves —
// only ever forward.
package releasepin

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
)

var (
	shaRe     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoRe    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	versionRe = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
)

// ValidVersion reports whether v is vMAJOR.MINOR.PATCH[-PRERELEASE].
func ValidVersion(v string) bool { return versionRe.MatchString(v) && semver.IsValid(v) }

// Stable reports whether v is a valid version without a prerelease part.
func Stable(v string) bool { return ValidVersion(v) && semver.Prerelease(v) == "" }

// Pin rewrites, in the workflow text src, every `uses:` of one of the
// repositories in from — the root action, actions/<id> or a reusable workflow
// under .github/workflows/ — at any ref, to the same path in repository to at
// commit sha, followed by the comment `# <version>` (which replaces a comment
// the line had). Everything else is left byte for byte: comments that quote
// a `uses:`, other repositories, line endings, the final newline. It returns
// the new text and the number of references rewritten.
func Pin(src []byte, from []string, to, sha, version string) ([]byte, int, error) {
	if !shaRe.MatchString(sha) {
		return nil, 0, fmt.Errorf("%q is not a full commit SHA (40 lower-case hex digits)", sha)
	}
	if !repoRe.MatchString(to) {
		return nil, 0, fmt.Errorf("%q is not owner/name", to)
	}
	if !ValidVersion(version) {
		return nil, 0, fmt.Errorf("%q is not vMAJOR.MINOR.PATCH[-PRERELEASE]", version)
	}
	if len(from) == 0 {
		return nil, 0, fmt.Errorf("no repository to pin")
	}
	var alts []string
	for _, r := range from {
		if !repoRe.MatchString(r) {
			return nil, 0, fmt.Errorf("%q is not owner/name", r)
		}
		alts = append(alts, regexp.QuoteMeta(r))
	}
	// indent, optional "- ", uses:, spaces, optional quote, repo, optional path, @ref, same quote, optional comment.
	re := regexp.MustCompile(`^(\s*(?:-\s+)?uses:\s*)(['"]?)(?:` + strings.Join(alts, "|") + `)` +
		`((?:/actions/[A-Za-z0-9._-]+|/\.github/workflows/[A-Za-z0-9._-]+\.ya?ml)?)@[A-Za-z0-9._/-]+(['"]?)(\s+#.*)?$`)
	lines := bytes.SplitAfter(src, []byte("\n"))
	n := 0
	var out bytes.Buffer
	for _, line := range lines {
		body, eol := line, []byte(nil)
		if bytes.HasSuffix(body, []byte("\r\n")) {
			body, eol = body[:len(body)-2], []byte("\r\n")
		} else if bytes.HasSuffix(body, []byte("\n")) {
			body, eol = body[:len(body)-1], []byte("\n")
		}
		m := re.FindSubmatch(body)
		if m == nil || string(m[2]) != string(m[4]) {
			out.Write(line)
			continue
		}
		n++
		fmt.Fprintf(&out, "%s%s%s%s@%s%s # %s", m[1], m[2], to, m[3], sha, m[4], version)
		out.Write(eol)
	}
	return out.Bytes(), n, nil
}

// Floating is the floating tags a release of version moves: vN and vN.M for
// a stable vN.M.P, none for a prerelease.
func Floating(version string) ([]string, error) {
	if !ValidVersion(version) {
		return nil, fmt.Errorf("%q is not vMAJOR.MINOR.PATCH[-PRERELEASE]", version)
	}
	if !Stable(version) {
		return nil, nil
	}
	return []string{semver.Major(version), semver.MajorMinor(version)}, nil
}

// Decide says whether the floating tag moves to the release next. exists
// says whether the tag exists; current is the highest release (vX.Y.Z) on the
// commit it points at, "" when none is. A floating tag moves only forward:
// never to an older release than the one it points at, nor away from a
// commit whose release is unknown (moving it is left to a human).
func Decide(floating string, exists bool, current, next string) (bool, string, error) {
	if !Stable(next) {
		return false, "", fmt.Errorf("%q is not a stable vMAJOR.MINOR.PATCH: only a stable release moves %s", next, floating)
	}
	if floating != semver.Major(next) && floating != semver.MajorMinor(next) {
		return false, "", fmt.Errorf("%s is not a floating tag of %s (%s or %s)", floating, next, semver.Major(next), semver.MajorMinor(next))
	}
	if !exists {
		return true, fmt.Sprintf("%s does not exist yet: created at %s", floating, next), nil
	}
	if current == "" {
		return false, fmt.Sprintf("%s points at a commit no release tag (vX.Y.Z) points at: not moved; move it by hand if %s should follow %s", floating, floating, next), nil
	}
	if !Stable(current) || !strings.HasPrefix(current+".", floating+".") {
		return false, fmt.Sprintf("%s points at %s, not a %s.x release: not moved; move it by hand if %s should follow %s", floating, current, floating, floating, next), nil
	}
	switch c := semver.Compare(next, current); {
	case c > 0:
		return true, fmt.Sprintf("%s moves forward from %s to %s", floating, current, next), nil
	case c == 0:
		return true, fmt.Sprintf("%s already follows %s: pointed at it again", floating, next), nil
	default:
		return false, fmt.Sprintf("%s stays at %s: %s is older, and a floating tag never moves backwards", floating, current, next), nil
	}
}

// Move is one floating tag and what a release does with it.
type Move struct {
	Tag     string
	Current string // the release it points at ("" when none or when it does not exist)
	Move    bool
	Why     string
}

// Moves reads the tags of the git repository in dir and decides, for each
// floating tag of version, whether the release moves it.
func Moves(dir, version string) ([]Move, error) {
	tags, err := Floating(version)
	if err != nil || len(tags) == 0 {
		return nil, err
	}
	var out []Move
	for _, tag := range tags {
		commit, exists, err := revParse(dir, "refs/tags/"+tag+"^{commit}")
		if err != nil {
			return nil, err
		}
		current := ""
		if exists {
			if current, err = highestReleaseAt(dir, commit); err != nil {
				return nil, err
			}
		}
		move, why, err := Decide(tag, exists, current, version)
		if err != nil {
			return nil, err
		}
		out = append(out, Move{Tag: tag, Current: current, Move: move, Why: why})
	}
	return out, nil
}

// Latest reports whether version is at least as high as every stable release
// tag of the repository in dir (the release GitHub should show as latest).
func Latest(dir, version string) (bool, error) {
	if !Stable(version) {
		return false, nil
	}
	out, err := git(dir, "tag", "--list", "v*.*.*")
	if err != nil {
		return false, err
	}
	for _, t := range strings.Fields(out) {
		if Stable(t) && semver.Compare(t, version) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// highestReleaseAt is the highest stable vX.Y.Z tag on commit ("" if none).
func highestReleaseAt(dir, commit string) (string, error) {
	out, err := git(dir, "tag", "--points-at", commit, "--list", "v*.*.*")
	if err != nil {
		return "", err
	}
	best := ""
	for _, t := range strings.Fields(out) {
		if Stable(t) && (best == "" || semver.Compare(t, best) > 0) {
			best = t
		}
	}
	return best, nil
}

func revParse(dir, rev string) (string, bool, error) {
	cmd := exec.Command("git", "rev-parse", "-q", "--verify", rev)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return "", false, nil
		}
		return "", false, fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	return strings.TrimSpace(string(out)), true, nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
