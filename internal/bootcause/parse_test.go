package bootcause_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/org/erlmcp-deploy/internal/bootcause"
)

func TestParseTerm(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Term
	}{
		{"atom", "eaddrinuse", Atom("eaddrinuse")},
		{"quoted atom", `'EXIT'`, Atom("EXIT")},
		{"Elixir module", `'Elixir.Mix'`, Atom("Elixir.Mix")},
		{"quoted atom with escapes", `'it\'s\\'`, Atom(`it's\`)},
		{"integer", "5432", Int(5432)},
		{"negative", "-7", Int(-7)},
		{"based integer", "16#ff", Int(255)},
		{"char", "$a", Int('a')},
		{"char escape", `$\n`, Int('\n')},
		{"float", "1.5", Float(1.5)},
		{"float with exponent", "2.0e3", Float(2000)},
		{"big integer", "123456789012345678901234567890", Opaque{Kind: "integer", Text: "123456789012345678901234567890"}},
		{"string", `"DATABASE_URL"`, String("DATABASE_URL")},
		{"string escapes", `"a\"b\n\x41\x{e9}\101"`, String("a\"b\nAéA")},
		{"adjacent strings", `"ab" "cd"`, String("abcd")},
		{"cut string", `"abc"...`, String("abc")},
		{"empty list", "[]", List{}},
		{"list", "[1,a]", List{Elems: []Term{Int(1), Atom("a")}}},
		{"improper list", "[a|b]", List{Elems: []Term{Atom("a")}, Tail: Atom("b")}},
		{"depth-limited list", "[1,2|...]", List{Elems: []Term{Int(1), Int(2)}, Tail: Elided{}}},
		{"empty tuple", "{}", Tuple(nil)},
		{"tuple", "{badmatch,{error,eaddrinuse}}", Tuple{Atom("badmatch"), Tuple{Atom("error"), Atom("eaddrinuse")}}},
		{"halt string's {_}", "{_}", Tuple{Elided{}}},
		{"halt string's empty slot", "{,[a]}", Tuple{Elided{}, List{Elems: []Term{Atom("a")}}}},
		{"ellipsis", "{a,...}", Tuple{Atom("a"), Elided{}}},
		{"pretty-printed over lines", "{bad_return,\n   {{myapp_app,start,[normal,[]]},\n    {'EXIT',x}}}",
			Tuple{Atom("bad_return"), Tuple{Tuple{Atom("myapp_app"), Atom("start"), List{Elems: []Term{Atom("normal"), List{}}}},
				Tuple{Atom("EXIT"), Atom("x")}}}},
		{"empty map", "#{}", Map{}},
		{"map", `#{'__exception__'=>true,message=><<"m">>}`,
			Map{Keys: []Term{Atom("__exception__"), Atom("message")}, Values: []Term{Atom("true"), Binary{Data: []byte("m")}}}},
		{"map with spaces", `#{env => <<"X">>}`, Map{Keys: []Term{Atom("env")}, Values: []Term{Binary{Data: []byte("X")}}}},
		{"empty binary", "<<>>", Binary{}},
		{"text binary", `<<"abc">>`, Binary{Data: []byte("abc")}},
		{"byte binary", "<<101,110>>", Binary{Data: []byte("en")}},
		{"utf8 segment", `<<"é"/utf8>>`, Binary{Data: []byte("é")}},
		{"sized segment", "<<1:4>>", Binary{Data: []byte{1}}},
		{"binary printed by size", "<<23 bytes>>", Binary{Size: 23, Cut: true}},
		{"cut binary", "<<1,2,...>>", Binary{Data: []byte{1, 2}, Cut: true}},
		{"pid", "<0.78.0>", Pid("<0.78.0>")},
		{"ref", "#Ref<0.1.2.3>", Opaque{Kind: "Ref", Text: "#Ref<0.1.2.3>"}},
		{"fun", "#Fun<erl_eval.6.3316493>", Opaque{Kind: "Fun", Text: "#Fun<erl_eval.6.3316493>"}},
		{"port", "#Port<0.5>", Opaque{Kind: "Port", Text: "#Port<0.5>"}},
		{"fun as ~p prints it", "fun 'Elixir.Jason':'encode!'/2", Opaque{Kind: "fun", Text: "fun 'Elixir.Jason':'encode!'/2"}},
		{"unquoted atoms of a halt string", `{cannot get bootfile,C:\otp/bin/start.boot}`,
			Tuple{Atom("cannot get bootfile"), Atom(`C:\otp/bin/start.boot`)}},
		{"unquoted Elixir atoms of a halt string", `{Elixir.Config,__eval__!,3,[{_},{_}]}`,
			Tuple{Atom("Elixir.Config"), Atom("__eval__!"), Int(3), List{Elems: []Term{Tuple{Elided{}}, Tuple{Elided{}}}}}},
		{"fun name atom of a halt string", `{Elixir.Enum,-reduce/3-lists^foldl/2-0-,3}`,
			Tuple{Atom("Elixir.Enum"), Atom("-reduce/3-lists^foldl/2-0-"), Int(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTerm(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTermCutOrMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Term
		err  error
	}{
		{"cut in a tuple", "{a,{b,", Tuple{Atom("a"), Tuple{Atom("b"), Elided{}}}, ErrTruncated},
		{"cut in a string", `{"init terminating in do_boot",{undef,[{'Elixir.Mix',env,[],[]},{erl_ev`,
			Tuple{String("init terminating in do_boot"), Tuple{Atom("undef"), List{Elems: []Term{
				Tuple{Atom("Elixir.Mix"), Atom("env"), List{}, List{}}, Tuple{Atom("erl_ev")}}}}}, ErrTruncated},
		{"cut in a binary", "<<101,", Binary{Data: []byte("e")}, ErrTruncated},
		{"cut in a quoted atom", "'EXI", Atom("EXI"), ErrTruncated},
		{"empty", "", Elided{}, ErrTruncated},
		{"text after the term", "{a} x", Tuple{Atom("a")}, ErrSyntax},
		{"closer without opener", "}", Elided{}, ErrSyntax},
		{"a pasted line broken inside an atom", "{a,[{li ne,16}]}", Tuple{Atom("a"), List{Elems: []Term{Tuple{Atom("li ne"), Int(16)}}}}, nil},
		{"wrong closer", "{a,b]", Tuple{Atom("a"), Atom("b")}, ErrSyntax},
		{"not a pid", "<x>", Elided{}, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTerm(tt.in)
			if tt.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.err)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseTermDepthBounded(t *testing.T) {
	deep := ""
	for range 10000 {
		deep += "["
	}
	_, err := ParseTerm(deep)
	require.ErrorIs(t, err, ErrSyntax)
}

func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"string", `"environment variable X is missing"`, "environment variable X is missing", true},
		{"byte list binary", "<<101,110,118,10>>", "env\n", true},
		{"char list", "[101,110,118]", "env", true},
		{"iolist", `["ab",<<"cd">>,101]`, "abcde", true},
		{"Latin-1 binary", "<<233>>", "é", true},
		{"UTF-8 binary", "<<195,169>>", "é", true},
		{"a list of numbers that are not text", "[1,2,3]", "", false},
		{"bytes that are not text", "<<0,1,2>>", "", false},
		{"binary printed by size", "<<6 bytes>>", "", false},
		{"atom", "abc", "", false},
		{"empty list", "[]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term, err := ParseTerm(tt.in)
			require.NoError(t, err)
			got, ok := Text(term)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormat(t *testing.T) {
	for _, in := range []string{
		`{application_start_failure,myapp,{bad_return,{{myapp_app,start,[normal,[]]},{'EXIT',{missing_env,"DATABASE_URL"}}}}}`,
		`{'Elixir.Mix',env,[],[]}`,
		`#{'__exception__' => true,message => <<"x">>}`,
		`[1,2|...]`,
		`{<0.78.0>,#Ref<0.1.2.3>,<<6 bytes>>,<<0,1>>,-3,1.5}`,
	} {
		term, err := ParseTerm(in)
		require.NoError(t, err, in)
		assert.Equal(t, in, Format(term, 0))
	}
	assert.Equal(t, `{missing_env,"DAT…`, Format(Tuple{Atom("missing_env"), String("DATABASE_URL")}, 17))
}

func TestHasElided(t *testing.T) {
	for in, want := range map[string]bool{
		"{a,{b,[c]}}":               false,
		"{a,{_}}":                   true,
		"[a|...]":                   true,
		"#{a => ...}":               true,
		"{x,<<23 bytes>>}":          true,
		`{"init",{config,<<"m">>}}`: false,
	} {
		term, err := ParseTerm(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, HasElided(term), in)
	}
}
