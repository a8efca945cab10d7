package testcluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPureDefaultSelector(t *testing.T) {
	cases := []struct {
		name                string
		namespaces, named   []string
		wantMatch, wantExcl []string
	}{
		{"no other logs", []string{"kube-system", "default", "app"}, nil,
			[]string{"app", "default", "kube-system"}, nil},
		{"a namespace with its own logs is left to them", []string{"default", "app", "web"}, []string{"web"},
			[]string{"app", "default"}, []string{"web"}},
		{"named before the namespace exists", []string{"default"}, []string{"later", "later"},
			[]string{"default"}, []string{"later"}},
		{"every namespace has its own: match none, never all", []string{"a", "b"}, []string{"b", "a"},
			[]string{noNamespace}, []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			match, excluded := defaultSelector(tc.namespaces, tc.named)
			assert.Equal(t, tc.wantMatch, match)
			assert.Equal(t, tc.wantExcl, excluded)
		})
	}
}

func TestPureWriteLogs(t *testing.T) {
	dir := t.TempDir()
	entries, err := writeLogs(dir, ContainerLogs{Previous: "boom\n", Containers: map[string]ContainerLogs{"side": {Current: "side up\n"}}})
	require.NoError(t, err)
	require.Len(t, entries, 2)
	side, all := entries[0].(map[string]any), entries[1].(map[string]any)
	assert.Equal(t, []any{"side"}, side["containers"], "a container's own entry first")
	assert.NotContains(t, all, "containers", "then the entry for every other container")
	read := func(e map[string]any, key string) string {
		b, err := os.ReadFile(e[key].(string))
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "2026-11-23T09:59:58.000000000Z stdout F boom\n", read(all, "previousLogsFile"))
	assert.Equal(t, string(criLog(ContainerLog, "2026-11-23T10:00:00")), read(all, "logsFile"), "empty means the default")
	assert.Equal(t, "2026-11-23T10:00:00.000000000Z stdout F side up\n", read(side, "logsFile"))
	assert.Equal(t, "2026-11-23T09:59:58.000000000Z stdout F boom\n", read(side, "previousLogsFile"), "what a container leaves empty comes from above")
	assert.Equal(t, dir, filepath.Dir(side["logsFile"].(string)))
}
