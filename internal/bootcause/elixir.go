package bootcause

import (
	"regexp"
	"strings"
)

// An Elixir stacktrace line: "    (stdlib 4.2) erl_eval.erl:744: …",
// "    lib/foo.ex:12: Foo.bar/1", "    Mix.env()".
var reStackLine = regexp.MustCompile(`^\s+(\([\w.]+ [^)]*\) |\(\w+\) |[\w/.-]+\.(ex|exs|erl):\d+: |[A-Z][\w.]*\.[\w!?]+\()`)

// elixirException reads "** (Name) message": what Elixir printed for an
// exception, and "(Name) message" as a start-crash reason.
func elixirException(name, msg string) (textHit, string) {
	text := "(" + name + ") " + oneLine(msg, 140)
	switch name {
	case "SyntaxError", "TokenMissingError", "CompileError", "MismatchedDelimiterError":
		return textHit{class: ConfigSyntax, detail: oneLine(msg, 200)}, text
	}
	h := textCause(msg)
	return h, text
}

// exceptionBlock reads "** (Name) message" at line i and the lines that
// continue the message (up to the stacktrace).
func exceptionBlock(lines []string, i int) (name, msg string, ok bool) {
	m := reException.FindStringSubmatch(lines[i])
	if m == nil {
		return "", "", false
	}
	name, msg = m[1], m[2]
	for j := i + 1; j < len(lines) && j-i < 20; j++ {
		l := lines[j]
		if strings.TrimSpace(l) == "" || reStackLine.MatchString(l) || strings.Contains(l, "** (") {
			break
		}
		msg += "\n" + l
	}
	return name, msg, true
}

// configProvider reads "ERROR! Config provider Config.Reader failed with:"
// and the exception after it (stderr may interleave it with other output).
func configProvider(lines []string, i int) (finding, bool) {
	for j := i; j < len(lines) && j-i <= 3; j++ {
		if !strings.Contains(lines[j], "** (") {
			continue
		}
		name, msg, ok := exceptionBlock(lines, j)
		if !ok {
			continue
		}
		h, text := elixirException(name, msg)
		if h.class == "" {
			h = textHit{class: CrashUnknown, detail: text}
		}
		return finding{textHit: h, terminal: true, prio: prioMessage, evidence: lines[j], line: j}, true
	}
	return finding{}, false
}

// elixirAppExited reads Elixir's report of an application that failed to
// start — "Application exapp exited: Exapp.Application.start(:normal, [])
// returned an error: shutdown: failed to start child: Exapp.Repo" with the
// nested "** (EXIT) …" and "** (Name) message" lines under it — and
// "** (Mix) Could not start application exapp: …".
func elixirAppExited(lines []string, i int) (finding, bool) {
	l := lines[i]
	m := reAppExitedEx.FindStringSubmatch(l)
	if m == nil {
		m = reMixStart.FindStringSubmatch(l)
	}
	app, rest := m[1], strings.TrimSpace(m[2])
	switch rest {
	case ":stopped", "stopped", ":shutdown", "shutdown":
		return finding{}, false
	}
	end := i + 1
	for end < len(lines) && end-i < 60 && (strings.HasPrefix(lines[end], " ") || strings.HasPrefix(lines[end], "\t")) {
		end++
	}
	f := finding{app: app, terminal: true, prio: prioReport, evidence: l}
	child := ""
	if c := reFailedChild.FindStringSubmatch(rest); c != nil {
		child = c[1]
	}
	reason := rest
	if _, after, ok := strings.Cut(rest, "returned an error: "); ok {
		reason = after
	}
	var h textHit
	text := ""
	found := false
	for j := i + 1; j < end; j++ {
		if c := reFailedChild.FindStringSubmatch(lines[j]); c != nil {
			child = c[1]
		}
		em := reException.FindStringSubmatch(lines[j])
		if em == nil {
			continue
		}
		if em[1] == "EXIT" {
			if r := strings.TrimSpace(em[2]); r != "an exception was raised:" {
				reason = r
			}
			continue
		}
		name, msg, _ := exceptionBlock(lines, j)
		h, text = elixirException(name, msg)
		f.evidence = strings.TrimSpace(lines[j])
		found = true
	}
	if !found {
		h = textCause(reason)
		text = oneLine(reason, 140)
	}
	if h.class == "" || h.class == CrashUnknown {
		h = textHit{class: StartCrash, detail: app + ": " + text}
		if child != "" {
			h.detail = app + ": " + child + ": " + text
		}
	}
	if h.detail == "" {
		h.detail = child
	}
	f.textHit = h
	return f, true
}
