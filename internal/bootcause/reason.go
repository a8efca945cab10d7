package bootcause

import (
	"strconv"
	"strings"
)

// explained is what walking a reason found.
type explained struct {
	class  string
	detail string // the object to fix when the class is specific
	app    string // from {application_start_failure,App,…}
	child  string // the innermost child that failed to start
	where  string // module:function/arity of the first frame of a stacktrace
	text   string // the innermost reason, printed, for start-crash and crash-unknown
	port   int    // a {port,N} seen in the reason
}

// Reason atoms that name a class on their own.
var reasonAtoms = map[string]string{
	"eaddrinuse":     PortInUse,
	"nxdomain":       DNS,
	"econnrefused":   DependencyUnreachable,
	"ehostunreach":   DependencyUnreachable,
	"enetunreach":    DependencyUnreachable,
	"etimedout":      DependencyUnreachable,
	"eacces":         Permission,
	"eperm":          Permission,
	"erofs":          Permission,
	"eisdir":         Permission,
	"enotdir":        Permission,
	"nodistribution": NodeName,
}

// Tags of {Tag, Name} reasons applications use for a missing variable.
var missingEnvTags = map[string]bool{
	"missing_env": true, "missing_env_var": true, "env_var_missing": true, "missing_environment_variable": true,
	"missing_config": true, "env_not_set": true, "undefined_env_var": true,
}

// explain walks a reason term to its innermost meaningful part.
func explain(t Term) explained {
	e := walk(t, 0)
	if e.class == PortInUse && e.port == 0 {
		e.port = findPort(t, 0)
	}
	return e
}

func walk(t Term, depth int) explained {
	if depth > 64 {
		return explained{text: Format(t, 160)}
	}
	switch v := t.(type) {
	case Atom:
		return explained{class: reasonAtoms[string(v)], text: Format(v, 160)}
	case String, Binary, List:
		if s, ok := Text(v); ok {
			if c := textCause(s); c.class != "" {
				return explained{class: c.class, detail: c.detail, text: s}
			}
			return explained{text: oneLine(s, 160)}
		}
		if l, ok := v.(List); ok {
			return bestOf(l.Elems, depth)
		}
	case Map:
		return exception(v, depth)
	case Tuple:
		return walkTuple(v, depth)
	}
	return explained{text: Format(t, 160)}
}

func walkTuple(v Tuple, depth int) explained {
	tag := ""
	if len(v) > 0 {
		if a, ok := v[0].(Atom); ok {
			tag = string(a)
		}
	}
	switch {
	case len(v) == 3 && (tag == "application_start_failure" || tag == "app_start_failed"):
		reason := v[2]
		// start/2 returned {error,R}: the controller reports {R,{M,start,Args}}.
		if rt, ok := reason.(Tuple); ok && len(rt) == 2 && isStartMFA(rt[1]) {
			reason = rt[0]
		}
		e := walk(reason, depth+1)
		if e.class == "" || e.class == CrashUnknown {
			e.class = StartCrash
		}
		if a, ok := v[1].(Atom); ok {
			e.app = string(a)
		}
		return e
	case len(v) == 2 && tag == "bad_return":
		return badReturn(v[1], depth)
	case len(v) == 2 && (tag == "EXIT" || tag == "shutdown" || tag == "error" || tag == "exit" ||
		tag == "badmatch" || tag == "case_clause" || tag == "try_clause" || tag == "stop"):
		e := walk(v[1], depth+1)
		if tag == "badmatch" || tag == "case_clause" || tag == "try_clause" {
			if e.class == "" {
				e.text = Format(v, 160)
			}
		}
		return e
	case len(v) == 3 && tag == "failed_to_start_child":
		return failedChild(v[1], v[2], depth)
	case len(v) == 2 && missingEnvTags[tag]:
		name, ok := Text(v[1])
		if !ok {
			name = Format(v[1], 80)
		}
		return explained{class: MissingEnv, detail: name, text: Format(v, 160)}
	case len(v) == 2 && tag == "failed_connect":
		return failedConnect(v)
	case len(v) == 3 && (tag == "file_error" || tag == "open_failed"):
		if a, ok := v[2].(Atom); ok && reasonAtoms[string(a)] == Permission {
			path, ok := Text(v[1])
			if !ok {
				path = Format(v[1], 120)
			}
			return explained{class: Permission, detail: path, text: Format(v, 160)}
		}
	case len(v) == 3 && tag == "listen_error":
		if a, ok := v[2].(Atom); ok {
			if c := reasonAtoms[string(a)]; c == PortInUse || c == Permission {
				return explained{class: c, child: moduleName(v[1]), text: Format(v, 160)}
			}
		}
	case len(v) == 2 && isStacktrace(v[1]):
		return withStack(v[0], v[1].(List), depth)
	}
	// Any other tuple: its most specific part.
	e := bestOf(v, depth)
	if e.class == "" || e.class == CrashUnknown {
		e.text = Format(v, 160)
	}
	return e
}

// badReturn: {bad_return,{{M,start,Args},Value}}, start/2 returned Value.
func badReturn(t Term, depth int) explained {
	pair, ok := t.(Tuple)
	if !ok || len(pair) != 2 {
		return walk(t, depth+1)
	}
	val := pair[1]
	if vt, ok := val.(Tuple); ok && len(vt) == 2 {
		if a, ok := vt[0].(Atom); ok && (a == "EXIT" || a == "error") {
			e := walk(vt[1], depth+1)
			if e.class == "" {
				e.class = StartCrash
			}
			return e
		}
	}
	return explained{class: StartCrash, text: "bad return " + Format(val, 140)}
}

func failedChild(child, reason Term, depth int) explained {
	e := walk(reason, depth+1)
	if e.child == "" {
		e.child = moduleName(child)
	}
	if e.class == "" {
		e.class = StartCrash
	}
	return e
}

// failedConnect: {failed_connect,[{to_address,{Host,Port}},{inet,[inet],Reason}]}.
func failedConnect(v Tuple) explained {
	e := explained{text: Format(v, 160)}
	l, ok := v[1].(List)
	if !ok {
		return e
	}
	for _, item := range l.Elems {
		it, ok := item.(Tuple)
		if !ok || len(it) < 2 {
			continue
		}
		switch {
		case it[0] == Atom("to_address"):
			if hp, ok := it[1].(Tuple); ok && len(hp) == 2 {
				host, ok := Text(hp[0])
				if !ok {
					host = Format(hp[0], 80)
				}
				e.detail = host
				if p, ok := hp[1].(Int); ok {
					e.detail += ":" + strconv.Itoa(int(p))
				}
			}
		case len(it) == 3:
			if a, ok := it[2].(Atom); ok {
				e.class = reasonAtoms[string(a)]
				if a == "timeout" {
					e.class = DependencyUnreachable
				}
			}
		}
	}
	return e
}

// withStack: {Reason, Stacktrace}, an error and where it was raised.
func withStack(reason Term, stack List, depth int) explained {
	frame := firstFrame(stack)
	if reason == Atom("undef") && frame != "" {
		return explained{class: Undef, detail: frame, where: frame, text: "undef"}
	}
	e := walk(reason, depth+1)
	if e.where == "" {
		e.where = frame
	}
	if _, isException := reason.(Map); e.class == "" && frame != "" && !isException {
		e.text += " in " + frame
	}
	return e
}

// exception reads an Elixir exception struct printed as an Erlang map.
func exception(m Map, depth int) explained {
	structName, _ := m.Get("__struct__")
	if _, ok := m.Get("__exception__"); !ok {
		return bestOf(m.Values, depth)
	}
	name := moduleName(structName)
	field := func(k string) string {
		v, ok := m.Get(k)
		if !ok {
			return ""
		}
		if s, ok := Text(v); ok {
			return s
		}
		return Format(v, 120)
	}
	switch name {
	case "System.EnvError":
		return explained{class: MissingEnv, detail: field("env"), text: "(System.EnvError) " + field("env")}
	case "File.Error":
		if r, ok := m.Get("reason"); ok {
			if a, ok := r.(Atom); ok && reasonAtoms[string(a)] == Permission {
				return explained{class: Permission, detail: field("path"),
					text: "(File.Error) could not " + field("action") + " " + strconv.Quote(field("path"))}
			}
		}
	case "UndefinedFunctionError":
		mod, okm := m.Get("module")
		fun, okf := m.Get("function")
		arity, oka := m.Get("arity")
		if okm && okf && oka {
			return explained{class: Undef, detail: mfa(mod, fun, arity), text: "(UndefinedFunctionError)"}
		}
	case "SyntaxError", "TokenMissingError", "CompileError", "MismatchedDelimiterError":
		if file := field("file"); file != "" {
			d := file
			if line := field("line"); line != "" {
				d += ":" + line
			}
			return explained{class: ConfigSyntax, detail: d + ": " + field("description"),
				text: "(" + name + ") " + field("description")}
		}
	}
	msg := field("message")
	if c := textCause(msg); c.class != "" {
		return explained{class: c.class, detail: c.detail, text: msg}
	}
	return explained{text: "(" + name + ") " + oneLine(msg, 140)}
}

// bestOf returns the most specific explanation among terms.
func bestOf(ts []Term, depth int) explained {
	var best explained
	for _, t := range ts {
		e := walk(t, depth+1)
		if rank(e.class) > rank(best.class) {
			best = e
		}
	}
	return best
}

// isStartMFA: {Module,start,[Type,Args]}, an application's start callback.
func isStartMFA(t Term) bool {
	mfa, ok := t.(Tuple)
	if !ok || len(mfa) != 3 || mfa[1] != Atom("start") {
		return false
	}
	_, isAtom := mfa[0].(Atom)
	_, isList := mfa[2].(List)
	return isAtom && isList
}

// isStacktrace: a non-empty list of {M,F,ArityOrArgs,Location} frames.
func isStacktrace(t Term) bool {
	l, ok := t.(List)
	if !ok || len(l.Elems) == 0 {
		return false
	}
	for _, f := range l.Elems {
		ft, ok := f.(Tuple)
		if !ok || len(ft) != 4 && len(ft) != 3 {
			if _, cut := f.(Elided); cut {
				continue
			}
			return false
		}
		if _, ok := ft[0].(Atom); !ok {
			return false
		}
	}
	return true
}

// firstFrame prints a stacktrace's first frame as module:function/arity.
func firstFrame(stack List) string {
	for _, f := range stack.Elems {
		if ft, ok := f.(Tuple); ok && len(ft) >= 3 {
			return mfa(ft[0], ft[1], ft[2])
		}
	}
	return ""
}

// mfa prints module:function/arity, or Module.function/arity for Elixir.
func mfa(mod, fun, arity Term) string {
	f := Format(fun, 80)
	if a, ok := fun.(Atom); ok {
		f = string(a)
	}
	n := ""
	switch a := arity.(type) {
	case Int:
		n = strconv.Itoa(int(a))
	case List:
		n = strconv.Itoa(len(a.Elems))
	case String:
		n = strconv.Itoa(len([]rune(string(a))))
	default:
		n = Format(a, 20)
	}
	m, ok := mod.(Atom)
	if !ok {
		return Format(mod, 80) + ":" + f + "/" + n
	}
	if strings.HasPrefix(string(m), "Elixir.") {
		return strings.TrimPrefix(string(m), "Elixir.") + "." + f + "/" + n
	}
	return string(m) + ":" + f + "/" + n
}

// moduleName prints a child id or module, Elixir's without "Elixir.".
func moduleName(t Term) string {
	if a, ok := t.(Atom); ok {
		return strings.TrimPrefix(string(a), "Elixir.")
	}
	return Format(t, 80)
}

// findPort looks for {port,N} anywhere in a reason (a listener's options).
func findPort(t Term, depth int) int {
	if depth > 64 {
		return 0
	}
	switch v := t.(type) {
	case Tuple:
		if len(v) == 2 && v[0] == Atom("port") {
			if n, ok := v[1].(Int); ok && n > 0 && n < 65536 {
				return int(n)
			}
		}
		for _, e := range v {
			if p := findPort(e, depth+1); p != 0 {
				return p
			}
		}
	case List:
		for _, e := range v.Elems {
			if p := findPort(e, depth+1); p != 0 {
				return p
			}
		}
	case Map:
		for i := range v.Keys {
			if v.Keys[i] == Atom("port") {
				if n, ok := v.Values[i].(Int); ok && n > 0 && n < 65536 {
					return int(n)
				}
			}
			if p := findPort(v.Values[i], depth+1); p != 0 {
				return p
			}
		}
	}
	return 0
}

// oneLine keeps the first line of s, at most max bytes.
func oneLine(s string, max int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return clip(s, max)
}

// clip cuts s to at most max bytes at a rune boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
