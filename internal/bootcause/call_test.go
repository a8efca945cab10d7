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

// TestEvidenceDecodesByteLists: a do_boot line whose message is a byte list
// is quoted with the message in words; a list that is not text stays.
func TestEvidenceDecodesByteLists(t *testing.T) {
	c := bootcause.Classify([]byte(`{"init terminating in do_boot",{#{'__exception__'=>true,'__struct__'=>'Elixir.RuntimeError',message=><<101,110,118,32,88,32,105,115,32,109,105,115,115,105,110,103>>},[]}}`))
	assert.Contains(t, c.Evidence, `message=><<"env X is missing">>`)
	c = bootcause.Classify([]byte(`{"init terminating in do_boot",{{badmatch,{error,[1,2,3,4]}},[]}}`))
	assert.Contains(t, c.Evidence, `[1,2,3,4]`)
}
