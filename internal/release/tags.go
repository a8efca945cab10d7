package release

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// canonical turns a tag (prefix already stripped) into a semver string with
// a leading v, or "" when it is not semver.
func canonical(v string) string {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	return v
}

// PreviousTag returns the nearest tag lower than tag in semver order, among
// tags that carry prefix. A stable tag skips prerelease tags; a prerelease tag
// may pick a lower prerelease. Non-semver tags and tags with another prefix
// are ignored. It returns "" (and no error) when tag is the first release, and
// an error when tag itself is not semver.
func PreviousTag(tags []string, tag, prefix string) (string, error) {
	if !strings.HasPrefix(tag, prefix) {
		return "", fmt.Errorf("tag %q does not start with tag-prefix %q", tag, prefix)
	}
	cur := canonical(strings.TrimPrefix(tag, prefix))
	if cur == "" {
		return "", fmt.Errorf("tag %q is not a semantic version (after prefix %q); give previous-tag explicitly", tag, prefix)
	}
	stable := semver.Prerelease(cur) == ""
	best, bestV := "", ""
	for _, t := range tags {
		if t == tag || !strings.HasPrefix(t, prefix) {
			continue
		}
		v := canonical(strings.TrimPrefix(t, prefix))
		if v == "" || semver.Compare(v, cur) >= 0 {
			continue
		}
		if stable && semver.Prerelease(v) != "" {
			continue
		}
		c := semver.Compare(v, bestV)
		if best == "" || c > 0 || (c == 0 && t < best) {
			best, bestV = t, v
		}
	}
	return best, nil
}

// IsPrerelease reports whether the semantic version in tag (after any
// prefix such as "v" or "erlmcp-v") has a prerelease part.
func IsPrerelease(tag string) bool {
	for i := range len(tag) {
		if v := canonical(tag[i:]); v != "" {
			return semver.Prerelease(v) != ""
		}
	}
	return false
}
