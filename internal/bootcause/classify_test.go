package bootcause_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

// Formats and edge cases the corpus does not have (its logs are all OTP 25's
// default handler); each log here is written by hand after the format's
// source or documentation.
func TestClassifyFormats(t *testing.T) {
	tests := []struct {
		name   string
		log    string
		class  string
		detail string
	}{
		{"JSON lines only (a crash report's exit)",
			`{"time":"2026-12-06T10:00:00Z","level":"error","msg":"crasher: initial call: application_master:init/4, pid: <0.78.0>, registered_name: [], exit: {{bad_return,{{myapp_app,start,[normal,[]]},{'EXIT',{missing_env,\"DATABASE_URL\"}}}},[]}, ancestors: [<0.77.0>]"}`,
			bootcause.MissingEnv, "DATABASE_URL"},
		{"JSON line with message and severity keys",
			`{"severity":"ERROR","message":"Application: myapp. Exited: {{shutdown,{failed_to_start_child,myapp_http,{listen_error,http,eaddrinuse}}},{myapp_app,start,[normal,[]]}}. Type: permanent."}`,
			bootcause.PortInUse, "http"},
		{"logfmt with escaped quotes",
			`when=2026-12-06T10:00:00Z level=error msg="Application: myapp. Exited: {bad_return,{{myapp_app,start,[normal,[]]},{'EXIT',{missing_env,\"REDIS_URL\"}}}}. Type: permanent."`,
			bootcause.MissingEnv, "REDIS_URL"},
		{"logfmt reason field at error level",
			`when=2026-12-06T10:00:00Z level=error what=connect_failed reason={failed_connect,[{to_address,{"db.internal",5432}},{inet,[inet],econnrefused}]} msg="connect failed"`,
			bootcause.DependencyUnreachable, "db.internal:5432"},
		{"OTP 26: Runtime terminating during boot",
			"Runtime terminating during boot ({undef,[{myapp_cli,start,[],[]},{init,start_em,1,[]},{init,do_boot,3,[]}]})\n\nCrash dump is being written to: erl_crash.dump...done",
			bootcause.Undef, "myapp_cli:start/0"},
		{"lager's application exit",
			"15:46:09.807 [info] Application riak_search exited with reason: {bad_return,{{riak_search_app,start,[normal,[]]},{'EXIT',{{case_clause,search},[{riak_search_app,start,2},{application_master,start_it_old,4}]}}}}",
			bootcause.StartCrash, "riak_search: {case_clause,search} in riak_search_app:start/2"},
		{"a wrapped do_boot line is joined",
			"{\"init terminating in do_boot\",{undef,\n[{oops,start,[],[]},{init,start_em,1,[]}\n,{init,do_boot,3,[]}]}}",
			bootcause.Undef, "oops:start/0"},
		{"the full line is preferred to its depth-truncated repeat, whichever comes first",
			"init terminating in do_boot ({{badmatch,{error,{_}}},[{_}]})\n{\"init terminating in do_boot\",{{badmatch,{error,{file_error,\"/data/db\",erofs}}},[{myapp_cli,main,0,[]}]}}",
			bootcause.Permission, "/data/db"},
		{"ANSI colours and CRLF",
			"\x1b[31m** (Mix) Could not start application web: Web.Application.start(:normal, []) returned an error: shutdown: failed to start child: Web.Endpoint\r\n    ** (EXIT) an exception was raised:\r\n        ** (RuntimeError) environment variable SECRET_KEY_BASE is missing.\x1b[0m\r\n",
			bootcause.MissingEnv, "SECRET_KEY_BASE"},
		{"an application stopped on shutdown is not a failure",
			"=INFO REPORT==== 6-Dec-2026::10:00:00 ===\n    application: myapp\n    exited: stopped\n    type: permanent\n",
			"", ""},
		{"an Elixir application stopped is not a failure",
			"10:00:00.000 [notice] Application myapp exited: :stopped\n",
			"", ""},
		{"a healthy log that mentions an error in passing",
			"myapp: started\nmyapp: retried a query after error 57014 once\nmyapp: ready\n",
			"", ""},
		{"SIGTERM is a stop, not a crash",
			"myapp: started\n=INFO REPORT==== 6-Dec-2026::10:00:00 ===\nSIGTERM received - shutting down\n",
			"", ""},
		{"Elixir child exit reason without an exception",
			"10:00:00.000 [notice] Application shop exited: Shop.Application.start(:normal, []) returned an error: shutdown: failed to start child: Shop.Repo\n    ** (EXIT) :econnrefused\n",
			bootcause.DependencyUnreachable, "Shop.Repo"},
		{"Elixir start returning an error",
			"10:00:00.000 [notice] Application shop exited: Shop.Application.start(:normal, []) returned an error: :license_expired\n",
			bootcause.StartCrash, "shop: :license_expired"},
		{"empty log", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bootcause.Classify([]byte(tt.log))
			assert.Equal(t, tt.class, got.Class, "class (evidence %q)", got.Evidence)
			assert.Equal(t, tt.detail, got.Detail)
		})
	}
}

func TestClassifyPermanent(t *testing.T) {
	for class, want := range map[string]string{
		"{\"init terminating in do_boot\",{missing_env,\"X\"}}":                                                                             "true",
		"Protocol 'inet_tcp': register/listen error: eaddrinuse":                                                                            "false",
		"Protocol 'inet_tcp': invalid node name: a@b@c":                                                                                     "true",
		"Protocol 'inet_tcp': the name a@b seems to be in use by another Erlang node":                                                       "false",
		"{\"init terminating in do_boot\",{{badmatch,{error,nxdomain}},[{m,f,0,[]}]}}":                                                      "false",
		"{\"init terminating in do_boot\",{{badmatch,{error,econnrefused}},[{m,f,0,[]}]}}":                                                  "false",
		"{\"init terminating in do_boot\",{undef,[{m,f,[],[]}]}}":                                                                           "true",
		"{\"init terminating in do_boot\",{{badmatch,{error,eacces}},[{m,f,0,[]}]}}":                                                        "true",
		"{\"could not start kernel pid\",application_controller,\"error in config file \\\"sys.config\\\" (none): no ending <dot> found\"}": "true",
		"{\"init terminating in do_boot\",{weird,1}}":                                                                                       "false",
	} {
		got := bootcause.Classify([]byte(class))
		assert.Equal(t, want == "true", got.Permanent, "%s → %+v", class, got)
	}
}

// TestClassifyBounded: only the first and last MaxRead bytes are read, and a
// log of cut terms (each joining the lines after it) stays fast.
func TestClassifyBounded(t *testing.T) {
	noise := strings.Repeat("myapp: handled request\n", 3*bootcause.MaxRead/len("myapp: handled request\n"))
	cause := "{\"init terminating in do_boot\",{missing_env,\"DATABASE_URL\"}}\n"
	assert.Equal(t, bootcause.MissingEnv, bootcause.Classify([]byte(cause+noise)).Class, "at the start")
	assert.Equal(t, bootcause.MissingEnv, bootcause.Classify([]byte(noise+cause)).Class, "at the end")
	assert.Equal(t, "", bootcause.Classify([]byte(noise+cause+noise)).Class, "in the middle, not read")

	cut := strings.Repeat("{\"init terminating in do_boot\",{a,{b,[c,\n", 1<<20/41)
	start := time.Now()
	got := bootcause.Classify([]byte(cut))
	assert.Less(t, time.Since(start), 3*time.Second, "1 MiB of cut terms")
	assert.Equal(t, bootcause.CrashUnknown, got.Class)
}
