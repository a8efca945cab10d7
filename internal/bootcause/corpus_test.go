package bootcause_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

const corpusDir = "testdata/corpus"

// corpusCase is one log of the corpus and the cause it must give.
type corpusCase struct {
	name      string // class dir/case, or public/case
	log       []byte
	source    string // public cases: the bug report quoted
	class     string
	detail    string
	permanent bool
}

// loadCorpus reads every <case>.log with its <case>.want. A public case's
// log starts with "# " lines naming its source; they are not log.
func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(corpusDir, "*", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	var cases []corpusCase
	for _, path := range logs {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		c := corpusCase{name: strings.TrimSuffix(strings.TrimPrefix(path, corpusDir+"/"), ".log"), log: raw}
		if strings.HasPrefix(c.name, "public/") {
			c.source, c.log = splitHeader(t, path, raw)
		}
		want, err := os.ReadFile(strings.TrimSuffix(path, ".log") + ".want")
		require.NoError(t, err, "every corpus log has a .want")
		fields := wantFields(t, path, want)
		c.class, c.detail = fields["class"], fields["detail"]
		c.permanent, err = strconv.ParseBool(fields["permanent"])
		require.NoError(t, err, "%s: permanent", path)
		cases = append(cases, c)
	}
	return cases
}

// splitHeader takes the leading "# " lines off a public case's log.
func splitHeader(t *testing.T, path string, raw []byte) (source string, log []byte) {
	t.Helper()
	for bytes.HasPrefix(raw, []byte("# ")) {
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		if s, ok := strings.CutPrefix(string(line), "# source: "); ok && source == "" {
			source = s
		}
		raw = rest
	}
	require.True(t, strings.HasPrefix(source, "https://"), "%s: a public case names its source (# source: URL)", path)
	return source, raw
}

// wantFields parses "key: value" lines.
func wantFields(t *testing.T, path string, want []byte) map[string]string {
	t.Helper()
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(want))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		require.True(t, ok, "%s: %q is not key: value", path, sc.Text())
		fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, k := range []string{"class", "detail", "permanent"} {
		require.Contains(t, fields, k, "%s.want", path)
	}
	return fields
}

// TestCorpus classifies every log of the corpus: the class, the detail and
// the permanence must be the .want's, and a healthy twin gives no cause.
// With -v it logs, per class, the causes named right and the corpus size.
func TestCorpus(t *testing.T) {
	type score struct{ right, real, public, total int }
	scores := map[string]*score{}
	for _, c := range loadCorpus(t) {
		key := c.class
		if key == "" {
			key = "(no cause: healthy twins)"
		}
		s := scores[key]
		if s == nil {
			s = &score{}
			scores[key] = s
		}
		s.total++
		if c.source != "" {
			s.public++
		} else {
			s.real++
		}
		ok := t.Run(c.name, func(t *testing.T) {
			got := bootcause.Classify(c.log)
			t.Logf("%s %q permanent=%v app=%q evidence %q", got.Class, got.Detail, got.Permanent, got.App, got.Evidence)
			assert.Equal(t, c.class, got.Class, "class (evidence %q)", got.Evidence)
			assert.Equal(t, c.detail, got.Detail, "detail")
			assert.Equal(t, c.permanent, got.Permanent, "permanent")
			if c.class != "" {
				assert.NotEmpty(t, got.Evidence, "evidence")
				quoted := strings.TrimSuffix(got.Evidence, "…") // clipped when long
				assert.Contains(t, bootcause.DecodeLists(string(c.log)), quoted, "the evidence is quoted from the log (its byte lists in words)")
			}
		})
		if ok {
			s.right++
		}
	}
	keys := make([]string, 0, len(scores))
	for k := range scores {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	right, total := 0, 0
	for _, k := range keys {
		s := scores[k]
		fmt.Fprintf(&b, "\n  %-26s %2d/%-2d named right (%d real OTP 25/Elixir 1.14, %d public)", k, s.right, s.total, s.real, s.public)
		right += s.right
		total += s.total
	}
	t.Logf("corpus: %d/%d named right%s", right, total, b.String())
}
