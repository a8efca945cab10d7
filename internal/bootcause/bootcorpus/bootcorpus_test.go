package bootcorpus_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
)

func TestLogDropsTheSourceLines(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dns"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dns", "a.log"), []byte("# source: https://x\n# quoted\nline 1\n# not a header\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dns", "a.want"), []byte("class: dns\ndetail: db\n"), 0o644))
	cases, err := bootcorpus.All(dir)
	require.NoError(t, err)
	assert.Equal(t, []bootcorpus.Case{{Name: "dns/a", Log: "line 1\n# not a header\n", Class: "dns"}}, cases)
}

func TestTheCorpusReads(t *testing.T) {
	cases, err := bootcorpus.All("../testdata/corpus")
	require.NoError(t, err)
	assert.Greater(t, len(cases), 90)
}
