package bootcause

import (
	"errors"
	"regexp"
	"strings"
)

// Limits on joining the lines of a term printed over several lines: per
// term, and for a whole log (so a log of cut terms stays linear).
const (
	maxJoinLines = 80
	maxJoinBytes = 32 << 10
	maxJoinTotal = 1 << 20
)

// reader reads the lines of one log.
type reader struct {
	lines []string
	// joinBudget is what is left of maxJoinTotal, shared with the readers
	// of the messages of structured lines.
	joinBudget *int
}

func newReader(lines []string) *reader {
	budget := maxJoinTotal
	return &reader{lines: lines, joinBudget: &budget}
}

// Priorities of findings (lower is preferred within a class rank).
const (
	prioFull      = 0 // a full term: {"init terminating in do_boot",…}, {"Kernel pid terminated",…}
	prioHalt      = 1 // the halt string, its repeat: init terminating in do_boot (…)
	prioMessage   = 2 // a message the runtime or Elixir printed: Protocol …, ** (…) …
	prioReport    = 3 // an application exit report
	prioCut       = 4 // a depth-truncated term
	prioCrashDump = 5 // the line before "Crash dump is being written to"
)

var (
	reReportHeader = regexp.MustCompile(`^=([A-Z ]+) REPORT====`)
	reAppExitedEx  = regexp.MustCompile(`\bApplication (\S+) exited: (.*)`)
	reAppExitedOne = regexp.MustCompile(`\bApplication: (\S+)\. Exited: (.*)\. Type: (\w+)\.`)
	reAppExitedOld = regexp.MustCompile(`\bApplication (\S+) exited with reason: (.*)`)
	reMixStart     = regexp.MustCompile(`\*\* \(Mix\) Could not start application (\S+): (.*)`)
	reException    = regexp.MustCompile(`\*\* \(([\w.]+)\) (.*)`)
	reErrorLevel   = regexp.MustCompile(`(?i)\[(error|critical|alert|emergency)\]|\blevel=(error|critical|alert|emergency)\b|\b(error|critical|alert|emergency): `)
	reFailedChild  = regexp.MustCompile(`failed to start child: (\S+)`)
)

// readLine returns what line i of the log says about a failed boot.
func (r *reader) readLine(i int) []finding {
	lines := r.lines
	l := lines[i]
	var out []finding
	add := func(f finding) {
		f.line = i
		if f.evidence == "" {
			f.evidence = l
		}
		out = append(out, f)
	}
	switch {
	case has(l, `{"init terminating in do_boot",`), has(l, `{"Runtime terminating during boot",`):
		add(r.fullTuple(i, 1))
	case has(l, "init terminating in do_boot ("), has(l, "Runtime terminating during boot ("):
		add(haltString(l))
	case has(l, `{"Kernel pid terminated",`), has(l, `{"could not start kernel pid",`):
		add(r.fullTuple(i, 2))
	case has(l, "Kernel pid terminated ("), has(l, "could not start kernel pid ("):
		add(kernelHalt(l))
	case reReportHeader.MatchString(l):
		if f, ok := r.report(i); ok {
			add(f)
		}
	case has(l, "ERROR! Config provider "):
		if f, ok := configProvider(lines, i); ok {
			add(f)
		}
	case reAppExitedEx.MatchString(l) || reMixStart.MatchString(l):
		if f, ok := elixirAppExited(lines, i); ok {
			add(f)
		}
	case strings.HasPrefix(l, "Usage: beam") || strings.HasPrefix(l, "Usage: erl "):
		if f, ok := emulatorUsage(lines, i); ok {
			add(f)
		}
	case has(l, "Crash dump is being written to"):
		if f, ok := haltMessage(lines, i); ok {
			add(f)
		}
	case isJSONLine(l):
		for _, f := range r.jsonLine(l) {
			add(f)
		}
	case isLogfmtLine(l):
		for _, f := range r.logfmtLine(l) {
			add(f)
		}
	default:
		if f, ok := plainLine(l); ok {
			add(f)
		}
	}
	// An Elixir exception anywhere on the line (Postgrex's "failed to
	// connect: ** (DBConnection.ConnectionError) …"), unless a block above
	// read it already.
	if len(out) == 0 || out[0].class == "" {
		if m := reException.FindStringSubmatch(l); m != nil && m[1] != "EXIT" && m[1] != "Mix" {
			if h, _ := elixirException(m[1], m[2]); rank(h.class) == 2 {
				add(finding{textHit: h, prio: prioMessage})
			}
		}
	}
	return out
}

func has(l, s string) bool { return strings.Contains(l, s) }

// fromReason makes a finding of a reason term.
func fromReason(t Term, terminal bool, prio int) finding {
	e := explain(t)
	f := finding{terminal: terminal, prio: prio, app: e.app}
	f.class = e.class
	f.detail = detailOf(e)
	if f.class == "" {
		f.class = CrashUnknown
		f.detail = e.text
	}
	return f
}

// detailOf is the object to fix an explanation names.
func detailOf(e explained) string {
	switch e.class {
	case StartCrash:
		d := e.text
		if e.child != "" {
			d = e.child + ": " + d
		}
		if e.app != "" {
			d = e.app + ": " + d
		}
		return d
	case CrashUnknown, "":
		return e.text
	case PortInUse:
		if e.detail == "" && e.port != 0 {
			return portDetail(e.port)
		}
	case NodeName:
		return e.detail // the name, which Classify finds elsewhere when the reason has none
	}
	for _, d := range []string{e.detail, e.child, e.where} {
		if d != "" {
			return d
		}
	}
	return ""
}

// fullTuple reads {"init terminating in do_boot",Reason} (reason at 1) or
// {"Kernel pid terminated",application_controller,"Reason"} (at 2, a string
// holding the term), joining the lines it continues on.
func (r *reader) fullTuple(i, at int) finding {
	l := r.lines[i]
	start := strings.Index(l, `{"`)
	t, err := r.termFrom(r.lines, i, start)
	tu, ok := t.(Tuple)
	if !ok || len(tu) <= at {
		return finding{textHit: textHit{class: CrashUnknown, detail: oneLine(l[start:], 160)}, terminal: true, prio: prioCut}
	}
	prio := prioFull
	if err != nil || HasElided(tu) {
		prio = prioCut
	}
	reason := tu[at]
	if at == 2 {
		s, isText := Text(reason)
		if !isText {
			return fromReason(reason, true, prio)
		}
		if h := textCause(s); h.class != "" && !strings.HasPrefix(strings.TrimSpace(s), "{") {
			return finding{textHit: h, terminal: true, prio: prio} // could not start kernel pid: error in config file …
		}
		inner, ierr := ParseTerm(s)
		if ierr != nil && !errors.Is(ierr, ErrTruncated) || inner == nil {
			return finding{textHit: textHit{class: CrashUnknown, detail: oneLine(s, 160)}, terminal: true, prio: prio}
		}
		if HasElided(inner) {
			prio = prioCut
		}
		return fromReason(inner, true, prio)
	}
	return fromReason(reason, true, prio)
}

// haltString reads the halt string: init terminating in do_boot (Reason),
// depth-limited, and OTP 26's Runtime terminating during boot (Reason).
func haltString(l string) finding {
	_, rest, _ := strings.Cut(l, " (")
	if strings.Contains(l, "Runtime terminating during boot (") {
		_, rest, _ = strings.Cut(l, "Runtime terminating during boot (")
	}
	t, _, err := parsePrefix(rest)
	prio := prioHalt
	if err != nil || HasElided(t) {
		prio = prioCut
	}
	f := fromReason(t, true, prio)
	if f.class == CrashUnknown && f.detail == "..." {
		f.detail = oneLine(strings.TrimSuffix(strings.TrimSpace(rest), ")"), 160)
	}
	return f
}

// kernelHalt reads "Kernel pid terminated (application_controller) (Reason)"
// and "could not start kernel pid (application_controller) (message)".
func kernelHalt(l string) finding {
	k := strings.Index(l, ") (")
	if k < 0 {
		return finding{}
	}
	rest := l[k+3:]
	if has(l, "could not start kernel pid (") {
		msg := strings.TrimSuffix(strings.TrimSpace(rest), ")")
		if h := textCause(msg); h.class != "" {
			return finding{textHit: h, terminal: true, prio: prioHalt}
		}
		return finding{textHit: textHit{class: CrashUnknown, detail: oneLine(msg, 160)}, terminal: true, prio: prioHalt}
	}
	t, _, err := parsePrefix(rest)
	prio := prioHalt
	if err != nil || HasElided(t) {
		prio = prioCut
	}
	return fromReason(t, true, prio)
}

// termFrom reads a term starting at byte start of lines[i]; when it is cut
// short it joins the next lines (~p prints over several lines, terminals
// wrap long ones) and reads again, once.
func (r *reader) termFrom(lines []string, i, start int) (Term, error) {
	s := lines[i][start:]
	t, _, err := parsePrefix(s)
	if !errors.Is(err, ErrTruncated) {
		return t, err
	}
	var sb strings.Builder
	sb.WriteString(s)
	for j := i + 1; j < len(lines) && j-i <= maxJoinLines && sb.Len() < maxJoinBytes && *r.joinBudget > 0; j++ {
		next := strings.TrimLeft(lines[j], " \t")
		if next == "" {
			break
		}
		sb.WriteString(next)
		*r.joinBudget -= len(next)
	}
	if sb.Len() == len(s) {
		return t, err
	}
	t, _, err = parsePrefix(sb.String())
	return t, err
}

// report reads a SASL/logger report: =INFO REPORT==== … until a blank line.
func (r *reader) report(i int) (finding, bool) {
	lines := r.lines
	kind := reReportHeader.FindStringSubmatch(lines[i])[1]
	end := i + 1
	for end < len(lines) && strings.TrimSpace(lines[end]) != "" && !reReportHeader.MatchString(lines[end]) && end-i < 400 {
		end++
	}
	body := lines[i+1 : end]
	// field returns the term after "key:" on a line of the body, joined
	// over the lines that continue it.
	field := func(key string) (Term, int, bool) {
		for k, b := range body {
			t := strings.TrimSpace(b)
			if strings.HasPrefix(t, key) {
				off := strings.Index(b, key) + len(key)
				term, _ := r.termFrom(body, k, off)
				return term, k, true
			}
		}
		return nil, 0, false
	}
	joined := strings.Join(strings.Fields(strings.Join(body, " ")), " ")
	switch {
	case has(joined, "application: ") && has(joined, "exited: "):
		reason, k, _ := field("exited:")
		if reason == Atom("stopped") || reason == nil {
			return finding{}, false
		}
		app := ""
		if a, _, ok := field("application:"); ok {
			if at, ok := a.(Atom); ok {
				app = string(at)
			}
		}
		// Terminal whatever its type: an application that failed to start.
		f := fromReason(reason, true, prioReport)
		if f.app == "" {
			f.app = app
		}
		if f.class == StartCrash && !strings.HasPrefix(f.detail, app+": ") && app != "" {
			f.detail = app + ": " + f.detail
		}
		f.evidence = strings.TrimSpace(body[k])
		return f, true
	case kind == "CRASH":
		for _, key := range []string{"exception exit:", "exception error:", "exception throw:"} {
			if reason, k, ok := field(key); ok {
				f := fromReason(reason, false, prioReport)
				f.evidence = strings.TrimSpace(body[k])
				return f, true
			}
		}
	case kind == "SUPERVISOR":
		if reason, k, ok := field("reason:"); ok {
			f := fromReason(reason, false, prioReport)
			f.evidence = strings.TrimSpace(body[k])
			return f, true
		}
	}
	// Error in process <0.9.0> with exit value: Reason (on the next lines).
	for k, b := range body {
		if strings.HasSuffix(strings.TrimSpace(b), "with exit value:") && k+1 < len(body) {
			reason, _ := r.termFrom(body, k+1, 0)
			f := fromReason(reason, false, prioReport)
			f.evidence = strings.TrimSpace(b)
			return f, true
		}
	}
	if h := textCause(joined); h.class != "" {
		return finding{textHit: h, prio: prioReport, evidence: firstNonEmpty(body)}, true
	}
	if kind == "ERROR" {
		if k := strings.IndexByte(joined, '{'); k >= 0 {
			if t, _, _ := parsePrefix(joined[k:]); t != nil {
				if f := fromReason(t, false, prioReport); rank(f.class) == 2 {
					f.evidence = firstNonEmpty(body)
					return f, true
				}
			}
		}
	}
	return finding{}, false
}

func firstNonEmpty(ls []string) string {
	for _, l := range ls {
		if t := strings.TrimSpace(l); t != "" {
			return t
		}
	}
	return ""
}

// emulatorUsage: the emulator refused a flag (from vm.args) or an
// -args_file, printed the reason and then its usage.
func emulatorUsage(lines []string, i int) (finding, bool) {
	for j := i - 1; j >= 0 && j >= i-3; j-- {
		msg := strings.TrimSpace(lines[j])
		if msg == "" {
			continue
		}
		f := finding{terminal: true, prio: prioMessage, evidence: msg}
		f.class = ConfigSyntax
		if m := reArgsFile.FindStringSubmatch(msg); m != nil {
			f.detail = m[1] + ": " + m[2]
		} else {
			f.detail = "vm.args: " + msg
		}
		return f, true
	}
	return finding{}, false
}

var reArgsFile = regexp.MustCompile(`Failed to open arguments file "([^"]+)" at "[^"]*": (.*)`)

// haltMessage: erlang:halt/1 with a message prints it, then the crash dump
// line; a line the runtime's own formats did not print is that message.
func haltMessage(lines []string, i int) (finding, bool) {
	for j := i - 1; j >= 0 && j >= i-3; j-- {
		msg := strings.TrimSpace(lines[j])
		if msg == "" {
			continue
		}
		for _, own := range []string{"init terminating in do_boot", "Kernel pid terminated", "could not start kernel pid",
			"Runtime terminating during boot", `{"`, "SIGTERM received"} {
			if strings.HasPrefix(msg, own) {
				return finding{}, false
			}
		}
		return finding{textHit: textHit{class: CrashUnknown, detail: clip(msg, 160)}, terminal: true,
			prio: prioCrashDump, evidence: msg, line: j}, true
	}
	return finding{}, false
}

// plainLine reads a line no format above claims: an application exit in
// logger's single-line form or lager's, the distribution's errors, and
// messages that name a cause on their own; at error level, a reason term.
func plainLine(l string) (finding, bool) {
	if m := reAppExitedOne.FindStringSubmatch(l); m != nil {
		return appExitLine(m[1], m[2], m[3] == "permanent")
	}
	if m := reAppExitedOld.FindStringSubmatch(l); m != nil {
		return appExitLine(m[1], m[2], true)
	}
	if m := reProtocol.FindStringSubmatch(l); m != nil && strings.HasPrefix(strings.TrimSpace(l), "Protocol") {
		if h := distribution(m[1], m[2]); h.class != "" {
			return finding{textHit: h, terminal: true, prio: prioMessage}, true
		}
	}
	errorLevel := reErrorLevel.MatchString(l)
	if h := textCause(l); h.class != "" && (h.detail != "" || errorLevel || h.class == NodeName) {
		if h.class == PortInUse && h.detail == "" && h.child != "" {
			h.detail = h.child
		}
		return finding{textHit: h, prio: prioMessage}, true
	}
	if errorLevel {
		if k := strings.IndexByte(l, '{'); k >= 0 {
			if t, _, _ := parsePrefix(l[k:]); t != nil {
				if f := fromReason(t, false, prioReport); rank(f.class) == 2 {
					return f, true
				}
			}
		}
	}
	return finding{}, false
}

// appExitLine: an application exited with a reason term, in one line.
func appExitLine(app, reason string, terminal bool) (finding, bool) {
	t, _, _ := parsePrefix(reason)
	if t == nil || t == Atom("stopped") {
		return finding{}, false
	}
	f := fromReason(t, terminal, prioReport)
	if f.app == "" {
		f.app = app
	}
	if f.class == StartCrash && !strings.HasPrefix(f.detail, app+": ") {
		f.detail = app + ": " + f.detail
	}
	return f, true
}
