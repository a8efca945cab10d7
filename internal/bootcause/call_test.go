package bootcause_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

func TestIsCall(t *testing.T) {
	for detail, want := range map[string]bool{
		"myapp_app:start/2":         true,
		"'Elixir.MyApp':start/2":    true,
		"MyApp.Repo.init/1":         true,
		"db.internal":               false,
		"db.internal:5432":          false,
		"/var/lib/erlmcp/data.dets": false,
		"DATABASE_URL":              false,
		"port 8080":                 false,
	} {
		assert.Equal(t, want, bootcause.IsCall(detail), detail)
	}
}
