package changelog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSections(t *testing.T) {
	tests := []struct {
		file, lookup string
		want         Section
		bodyHas      []string
		bodyLacks    []string
	}{
		{file: "keepachangelog.md", lookup: "v1.2.0",
			want:      Section{Version: "1.2.0", Date: "2026-01-26", Heading: "## [1.2.0] - 2026-01-26"},
			bodyHas:   []string{"### Added", "### Fixed", "Streamable HTTP", "([#412])"},
			bodyLacks: []string{"1.1.0", "OTP 27", "[#412]: https"}},
		{file: "keepachangelog.md", lookup: "1.0.0",
			want:      Section{Version: "1.0.0", Date: "2025-06-30", Heading: "## [1.0.0] - 2025-06-30"},
			bodyHas:   []string{"### Added", "First stable release."},
			bodyLacks: []string{"[unreleased]:", "compare", "[1.0.0]:"}},
		{file: "keepachangelog.md", lookup: "unreleased",
			want:    Section{Version: "Unreleased", Heading: "## [Unreleased]"},
			bodyHas: []string{"resources/subscribe"}, bodyLacks: []string{"1.2.0"}},
		{file: "conventional.md", lookup: "v2.0.0",
			want:      Section{Version: "2.0.0", Date: "2026-02-10", Heading: "## [2.0.0](https://github.com/acme/erlmcp/compare/v1.9.1...v2.0.0) (2026-02-10)"},
			bodyHas:   []string{"### ⚠ BREAKING CHANGES", "### Features"},
			bodyLacks: []string{"pool"}},
		{file: "conventional.md", lookup: "v1.9.1",
			want:    Section{Version: "1.9.1", Date: "2026-01-05", Heading: "## [1.9.1](https://github.com/acme/erlmcp/compare/v1.9.0...v1.9.1) (2026-01-05)"},
			bodyHas: []string{"release workers", "## 9.9.9 - not a heading", "rebar3 release\n```"}},
		{file: "plain.md", lookup: "v1.4.0",
			want:    Section{Version: "1.4.0", Date: "2026-03-01", Heading: "## v1.4.0 (2026-03-01)"},
			bodyHas: []string{"--dry-run"}, bodyLacks: []string{"candidate"}},
		{file: "plain.md", lookup: "v1.4.0-rc.1",
			want:    Section{Version: "1.4.0-rc.1", Date: "2026-02-20", Heading: "## v1.4.0-rc.1 (2026-02-20)"},
			bodyHas: []string{"Release candidate."}},
		{file: "plain.md", lookup: "1.3.0",
			want:    Section{Version: "1.3.0", Date: "2026-01-10", Heading: "## 1.3.0 - 2026-01-10"},
			bodyHas: []string{"Plain paragraph body."}},
		{file: "plain.md", lookup: "v1.2.0",
			want:    Section{Version: "1.2.0", Heading: "## [v1.2.0]"},
			bodyHas: []string{"Undated"}},
		{file: "plain.md", lookup: "0.0.5",
			want:    Section{Version: "0.0.5", Date: "2014-12-13", Yanked: true, Heading: "## 0.0.5 - 2014-12-13 [YANKED]"},
			bodyHas: []string{"Broke everything."}},
		{file: "h1levels.md", lookup: "3.1.0",
			want:    Section{Version: "3.1.0", Date: "2026-04-01", Heading: "# 3.1.0 - 2026-04-01"},
			bodyHas: []string{"## Added", "Sub-sections"}, bodyLacks: []string{"Old config"}},
		{file: "h1levels.md", lookup: "3.0.0",
			want:    Section{Version: "3.0.0", Date: "2026-03-01", Heading: "# 3.0.0 - 2026-03-01"},
			bodyHas: []string{"## Removed"}, bodyLacks: []string{"example.com"}},
		{file: "crlf.md", lookup: "1.0.1",
			want:    Section{Version: "1.0.1", Date: "2026-05-05", Heading: "## [1.0.1] - 2026-05-05"},
			bodyHas: []string{"### Fixed\r\n\r\n- Windows line endings."}, bodyLacks: []string{"Initial"}},
		{file: "crlf.md", lookup: "1.0.0",
			want:    Section{Version: "1.0.0", Date: "2026-05-01", Heading: "## [1.0.0] - 2026-05-01"},
			bodyHas: []string{"- Initial."}, bodyLacks: []string{"example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.lookup, func(t *testing.T) {
			content := load(t, tt.file)
			cl, err := Parse(content)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := cl.Section(tt.lookup)
			if !ok {
				t.Fatalf("no section %s; versions %v", tt.lookup, cl.Versions())
			}
			body := got.Body
			got.Body = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("section = %+v, want %+v", got, tt.want)
			}
			if !strings.Contains(string(content), body) {
				t.Errorf("body is not a substring of the file")
			}
			if body != strings.TrimSpace(body) {
				t.Errorf("body has surrounding blank space: %q", body)
			}
			for _, s := range tt.bodyHas {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.bodyLacks {
				if strings.Contains(body, s) {
					t.Errorf("body has %q:\n%s", s, body)
				}
			}
		})
	}
}

func TestVersionsAndMissing(t *testing.T) {
	cl, err := Parse(load(t, "plain.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.4.0", "1.4.0-rc.1", "1.3.0", "1.2.0", "0.0.5"}
	if got := cl.Versions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
	if cl.Level != 2 {
		t.Errorf("level = %d", cl.Level)
	}
	_, err = cl.Lookup("v9.9.9")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "1.4.0, 1.4.0-rc.1, 1.3.0, 1.2.0, 0.0.5") {
		t.Fatalf("err = %v", err)
	}
	// The code block's "## 9.9.9" is not a release.
	cl, _ = Parse(load(t, "conventional.md"))
	if _, ok := cl.Section("9.9.9"); ok {
		t.Error("heading inside a fenced code block was taken as a release")
	}
}

func TestParseEdgeCases(t *testing.T) {
	if _, err := Parse([]byte("# Changelog\n\nNothing yet.\n")); !errors.Is(err, ErrNoReleases) {
		t.Errorf("err = %v, want ErrNoReleases", err)
	}
	if _, err := Parse(nil); !errors.Is(err, ErrNoReleases) {
		t.Errorf("err = %v", err)
	}
	cl, err := Parse([]byte("## Unreleased changes to the API\n\n## 1.0.0\n- x\n## 1.0.0 - dup\n- y"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cl.Versions(); !reflect.DeepEqual(got, []string{"1.0.0", "1.0.0"}) {
		t.Errorf("versions = %v", got)
	}
	if s, _ := cl.Section("1.0.0"); s.Body != "- x" {
		t.Errorf("first duplicate should win, body = %q", s.Body)
	}
	// Empty section, closing hashes, a heading without text.
	cl, err = Parse([]byte("## [1.1.0] ##\n##\n## 1.0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := cl.Section("1.1.0"); !ok || s.Body != "" {
		t.Errorf("section = %+v, %v", s, ok)
	}
	for _, tag := range []string{"v1.0.0", "1.0.0", "[1.0.0]", " V1.0.0 "} {
		if _, ok := cl.Section(tag); !ok {
			t.Errorf("lookup %q failed", tag)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"keepachangelog.md", "conventional.md", "plain.md", "h1levels.md", "crlf.md"} {
		f.Add(load(f, name))
	}
	f.Add([]byte("## [1.0.0]\r\n```\n## 2.0.0\n"))
	f.Add([]byte("#\n## 1.0\n[x]: y\n\n"))
	f.Add([]byte("## [Unreleased] - 2020-01-01 [yanked]"))
	f.Fuzz(func(t *testing.T, content []byte) {
		cl, err := Parse(content)
		if err != nil {
			return
		}
		for _, s := range cl.Sections {
			if !strings.Contains(string(content), s.Body) {
				t.Fatalf("body %q is not a substring of the input", s.Body)
			}
			if !strings.Contains(string(content), s.Heading) {
				t.Fatalf("heading %q is not a substring of the input", s.Heading)
			}
			if _, ok := cl.Section(s.Version); !ok {
				t.Fatalf("version %q cannot be looked up", s.Version)
			}
		}
	})
}
