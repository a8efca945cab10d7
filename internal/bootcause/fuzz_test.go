package bootcause_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

// FuzzParseTerm: the term reader never panics and always returns a term.
func FuzzParseTerm(f *testing.F) {
	for _, s := range []string{
		`{"init terminating in do_boot",{undef,[{myapp_cli,start,[],[]},{init,start_em,1,[]}]}}`,
		`{application_start_failure,myapp,{bad_return,{{myapp_app,start,[normal,[]]},{'EXIT',{missing_env,"DATABASE_URL"}}}}}`,
		`({,[{Elixir.System,fetch_env!,1,[{_},{_}]},{erl_eval,do_apply,6,[{_},{_}]}]})`,
		`#{'__exception__'=>true,message=><<101,110,118,10>>,snippet=>#{content=><<"  pool_size: 10">>,offset=>2}}`,
		`[{ranch_listener_sup,start_link,[http,100,ranch_tcp,[{port,8080}],<<6 bytes>>,'...']}|...]`,
		`{<0.78.0>,#Ref<0.1.2.3>,#Fun<erl_eval.6.123>,fun 'Elixir.Jason':'encode!'/2,16#FF,$\n,-1.5e3}`,
		`"a\x{e9}\101\^A" "b"...`,
		`{cannot get bootfile,C:\otp/bin/start.boot}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		term, _ := bootcause.ParseTerm(s)
		if term == nil {
			t.Fatalf("ParseTerm(%q) returned no term", s)
		}
		_ = bootcause.Format(term, 200)
		_, _ = bootcause.Text(term)
		_ = bootcause.HasElided(term)
	})
}

// FuzzClassify: Classify never panics, names a known class and quotes a
// bounded line.
func FuzzClassify(f *testing.F) {
	logs, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.log"))
	for _, path := range logs {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b[:min(len(b), 4<<10)]) // small seeds keep minimizing quick
		}
	}
	classes := map[string]bool{"": true, bootcause.PortInUse: true, bootcause.MissingEnv: true, bootcause.DNS: true,
		bootcause.DependencyUnreachable: true, bootcause.ConfigSyntax: true, bootcause.NodeName: true,
		bootcause.Undef: true, bootcause.Permission: true, bootcause.StartCrash: true, bootcause.CrashUnknown: true}
	f.Fuzz(func(t *testing.T, log []byte) {
		c := bootcause.Classify(log)
		if !classes[c.Class] {
			t.Fatalf("unknown class %q", c.Class)
		}
		if len(c.Evidence) > 400+len("…") {
			t.Fatalf("evidence of %d bytes", len(c.Evidence))
		}
		if c.Class == "" && (c.Detail != "" || c.Permanent) {
			t.Fatalf("no class but %+v", c)
		}
	})
}
