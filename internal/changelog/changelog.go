// Package changelog reads Keep a Changelog files (https://keepachangelog.com)
// and extracts the section of one release.
//
// Release headings may take any of the shapes seen in the wild, at whatever
// heading level the file uses for its first release (usually ##):
//
//	## [1.2.0] - 2026-01-26
//	## 1.2.0 - 2026-01-26
//	## [v1.2.0]
//	## v1.2.0 (2026-01-26)
//	## [1.2.0](https://github.com/o/r/compare/v1.1.0...v1.2.0) (2026-01-26)
//	## [Unreleased]
//	## 0.0.5 - 2014-12-13 [YANKED]
//
// A section's body runs to the next heading of the same (or a higher) level,
// keeps its ### sub-sections, and never includes the link-reference
// definitions (`[1.2.0]: https://...`) that follow it.
package changelog

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Section is one release of a changelog.
type Section struct {
	// Version as written, without brackets or a leading v ("1.2.0", "Unreleased").
	Version string
	// Date as written (YYYY-MM-DD), or "".
	Date string
	// Yanked is true for a heading marked [YANKED].
	Yanked bool
	// Body is the markdown under the heading, trimmed of surrounding blank lines;
	// it is always a substring of the parsed content.
	Body string
	// Heading is the heading line as written (without its line break).
	Heading string
}

// Changelog is a parsed changelog.
type Changelog struct {
	Sections []Section
	// Level is the heading level used for releases (2 for ##).
	Level int
}

// ErrNoReleases is returned by Parse when no heading looks like a release.
var ErrNoReleases = errors.New("no release headings found (expected headings like `## [1.2.0] - 2026-01-26` or `## [Unreleased]`)")

var (
	atxRe      = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$`)
	closingRe  = regexp.MustCompile(`[ \t]+#+$`)
	versionRe  = regexp.MustCompile(`^\[?[vV]?(\d+\.\d+(?:\.\d+)*(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?)\]?(?:\([^)]*\)|\[[^\]]*\])?(.*)$`)
	unrelRe    = regexp.MustCompile(`(?i)^\[?unreleased\]?(?:\([^)]*\)|\[[^\]]*\])?(.*)$`)
	dateRe     = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
	yankedRe   = regexp.MustCompile(`(?i)\[yanked\]`)
	linkDefRe  = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:[ \t]*\S`)
	fenceOpen  = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	restLeadRe = regexp.MustCompile(`^[\s\-–—:]*`)
)

type line struct {
	start, end int // byte offsets of the line's content, end excludes the line break
	next       int // offset of the next line
}

func splitLines(s string) []line {
	var out []line
	for pos := 0; pos < len(s); {
		i := strings.IndexByte(s[pos:], '\n')
		var l line
		if i < 0 {
			l = line{start: pos, end: len(s), next: len(s)}
		} else {
			l = line{start: pos, end: pos + i, next: pos + i + 1}
		}
		if l.end > l.start && s[l.end-1] == '\r' {
			l.end--
		}
		out = append(out, l)
		pos = l.next
	}
	return out
}

type heading struct {
	lineIdx int
	level   int
	text    string
	release *Section // nil when the heading is not a release
}

// parseTitle recognises a release heading's text.
func parseTitle(text string) (*Section, bool) {
	var version, rest string
	if m := unrelRe.FindStringSubmatch(text); m != nil {
		version, rest = "Unreleased", m[1]
		if strings.TrimSpace(rest) != "" && !dateRe.MatchString(rest) && !yankedRe.MatchString(rest) {
			return nil, false // "Unreleased changes to the API" is prose, not a release
		}
	} else if m := versionRe.FindStringSubmatch(text); m != nil {
		version, rest = m[1], m[2]
		if rest != "" && !strings.ContainsAny(rest[:1], " \t-–—(:[") {
			return nil, false // "1.2.0a" or "1.2.0/foo"
		}
	} else {
		return nil, false
	}
	rest = restLeadRe.ReplaceAllString(rest, "")
	return &Section{Version: version, Date: dateRe.FindString(rest), Yanked: yankedRe.MatchString(rest)}, true
}

// Parse reads a changelog. It fails only when no heading looks like a release.
func Parse(content []byte) (*Changelog, error) {
	s := string(content)
	lines := splitLines(s)
	var heads []heading
	fence := ""
	for i, l := range lines {
		text := s[l.start:l.end]
		if fence != "" {
			if strings.HasPrefix(strings.TrimLeft(text, " "), fence) {
				fence = ""
			}
			continue
		}
		if m := fenceOpen.FindStringSubmatch(text); m != nil {
			fence = m[1][:3]
			continue
		}
		m := atxRe.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		title := strings.TrimSpace(closingRe.ReplaceAllString(m[2], ""))
		h := heading{lineIdx: i, level: len(m[1]), text: text}
		if sec, ok := parseTitle(title); ok {
			h.release = sec
		}
		heads = append(heads, h)
	}
	level := 0
	for _, h := range heads {
		if h.release != nil {
			level = h.level
			break
		}
	}
	if level == 0 {
		return nil, ErrNoReleases
	}
	cl := &Changelog{Level: level}
	for hi, h := range heads {
		if h.release == nil || h.level != level {
			continue
		}
		end := len(lines)
		for _, nx := range heads[hi+1:] {
			if nx.level <= level {
				end = nx.lineIdx
				break
			}
		}
		// Drop trailing blank lines and link-reference definitions.
		first := h.lineIdx + 1
		for end > first {
			t := s[lines[end-1].start:lines[end-1].end]
			if strings.TrimSpace(t) == "" || linkDefRe.MatchString(t) {
				end--
				continue
			}
			break
		}
		for first < end && strings.TrimSpace(s[lines[first].start:lines[first].end]) == "" {
			first++
		}
		sec := *h.release
		sec.Heading = h.text
		if first < end {
			sec.Body = s[lines[first].start:lines[end-1].end]
		}
		cl.Sections = append(cl.Sections, sec)
	}
	return cl, nil
}

// Normalize turns a tag or heading version into the key used for lookups:
// no leading v, "unreleased" in lower case.
func Normalize(version string) string {
	v := strings.TrimSpace(version)
	v = strings.TrimPrefix(strings.TrimSuffix(v, "]"), "[")
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if strings.EqualFold(v, "unreleased") {
		return "unreleased"
	}
	return v
}

// Section returns the section of version ("1.2.0", "v1.2.0" and "[1.2.0]"
// are the same); the first one wins when a version appears twice. Callers
// strip a tag prefix ("erlmcp-v1.2.0" → "v1.2.0") first.
func (c *Changelog) Section(version string) (Section, bool) {
	key := Normalize(version)
	for _, s := range c.Sections {
		if Normalize(s.Version) == key {
			return s, true
		}
	}
	return Section{}, false
}

// Versions lists the versions of every section, in file order.
func (c *Changelog) Versions() []string {
	out := make([]string, len(c.Sections))
	for i, s := range c.Sections {
		out[i] = s.Version
	}
	return out
}

// NotFoundError says which version is missing and which ones exist.
type NotFoundError struct {
	Version string
	Found   []string
}

func (e *NotFoundError) Error() string {
	if len(e.Found) == 0 {
		return fmt.Sprintf("changelog has no section for %s and no release sections at all", e.Version)
	}
	return fmt.Sprintf("changelog has no section for %s; sections found: %s", e.Version, strings.Join(e.Found, ", "))
}

// Lookup is Section with an error that lists the versions found.
func (c *Changelog) Lookup(version string) (Section, error) {
	if s, ok := c.Section(version); ok {
		return s, nil
	}
	return Section{}, &NotFoundError{Version: version, Found: c.Versions()}
}
