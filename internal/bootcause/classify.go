package bootcause

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// MaxRead is how many bytes of a log Classify reads from each end.
const MaxRead = 64 << 10

// maxEvidence bounds Cause.Evidence: a do_boot line can be kilobytes.
const maxEvidence = 400

// finding is one place in a log that says why the boot failed.
type finding struct {
	textHit
	app      string
	evidence string
	line     int
	// terminal: the runtime's own last word (do_boot, Kernel pid terminated,
	// an application that exited, the distribution's error), as against a
	// supporting line (a crash report, an error logged on the way).
	terminal bool
	// prio orders findings of the same class rank: lower is better (the
	// first, full do_boot line before its depth-truncated repeat).
	prio int
}

// Classify names why the release whose crashed instance left log failed to boot.
func Classify(log []byte) Cause {
	lines := splitLines(bound(log))
	r := newReader(lines)
	var fs []finding
	for i := range lines {
		fs = append(fs, r.readLine(i)...)
	}
	f, ok := choose(fs)
	if !ok {
		f, ok = lastWords(lines)
		if !ok {
			return Cause{}
		}
	}
	if f.class == NodeName && f.detail == "" {
		f.detail = nodeNameIn(lines)
		f.invalidName = f.detail != "" && !validNodeName(f.detail)
	}
	return Cause{
		Class:     f.class,
		Detail:    f.detail,
		App:       f.app,
		Evidence:  clip(DecodeLists(strings.TrimSpace(f.evidence)), maxEvidence),
		Permanent: permanent(f.class, f.invalidName),
	}
}

// choose picks the cause among findings: the best terminal one; when that
// is generic (start-crash, crash-unknown), a specific supporting one.
func choose(fs []finding) (finding, bool) {
	better := func(a, b finding) bool { // a over b
		if rank(a.class) != rank(b.class) {
			return rank(a.class) > rank(b.class)
		}
		if a.prio != b.prio {
			return a.prio < b.prio
		}
		return a.line < b.line
	}
	var term, supp finding
	hasTerm, hasSupp := false, false
	for _, f := range fs {
		if f.class == "" {
			continue
		}
		if f.terminal {
			if !hasTerm || better(f, term) {
				term, hasTerm = f, true
			}
		} else if rank(f.class) == 2 && (!hasSupp || better(f, supp)) {
			supp, hasSupp = f, true
		}
	}
	switch {
	case hasTerm && rank(term.class) == 2:
		if term.class == PortInUse && supp.class == PortInUse && strings.HasPrefix(supp.detail, "port ") &&
			!strings.HasPrefix(term.detail, "port ") {
			term.detail = supp.detail
		}
		return term, true
	case hasSupp:
		if supp.app == "" && hasTerm {
			supp.app = term.app
		}
		return supp, true
	}
	return term, hasTerm
}

// Failure words in a log's last line, when no format says more.
var reFailureWord = regexp.MustCompile(`(?i)\b(panic|fatal|error|exception|crash(ed)?|abort(ed)?|segmentation fault|killed|cannot|could not|failed)\b`)

// lastWords: no format named a cause; a failure word in the log's last line
// (what a process prints as it gives up: "panic: …", "fatal: …") makes it
// crash-unknown, quoting that line. Earlier lines are not read: a healthy
// log mentions errors in passing.
func lastWords(lines []string) (finding, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if reFailureWord.MatchString(l) && !strings.Contains(l, "SIGTERM received") {
			return finding{textHit: textHit{class: CrashUnknown, detail: clip(l, 160)}, evidence: l, line: i}, true
		}
		return finding{}, false
	}
	return finding{}, false
}

// bound keeps the first and the last MaxRead bytes of a log, whole lines.
func bound(log []byte) []byte {
	if len(log) <= 2*MaxRead {
		return log
	}
	head := log[:MaxRead]
	if i := bytes.LastIndexByte(head, '\n'); i > 0 {
		head = head[:i+1]
	}
	tail := log[len(log)-MaxRead:]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	out := make([]byte, 0, len(head)+len(tail))
	return append(append(out, head...), tail...)
}

var reANSI = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// splitLines splits a log into lines without colour codes or carriage returns.
func splitLines(log []byte) []string {
	s := string(log)
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = reANSI.ReplaceAllString(s, "")
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines
}

// Where the runtime prints the node name it could not use.
var (
	reOffenderName = regexp.MustCompile(`\bname => ('(?:[^'\\]|\\.)*'|[\w@.-]+)`)
	reOldNodeArgs  = regexp.MustCompile(`\[\['?([^',\]]+)'?,\s*(?:longnames|shortnames)\]\]`)
)

// nodeNameIn finds the node name net_kernel was started with (its
// SUPERVISOR REPORT offender), for "Can't set long node name!".
func nodeNameIn(lines []string) string {
	for _, l := range lines {
		if m := reOffenderName.FindStringSubmatch(l); m != nil {
			if t, err := ParseTerm(m[1]); err == nil {
				if a, ok := t.(Atom); ok {
					return string(a)
				}
			}
			return strings.Trim(m[1], "'")
		}
		if m := reOldNodeArgs.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

// byteList is a binary printed as bytes (<<101,110,…>>) or a char list
// ([101,110,…], at least four codes), as Elixir messages reach do_boot.
var byteList = regexp.MustCompile(`<<(\d{1,3}(?:,\d{1,3})*)>>|\[(\d{1,3}(?:,\d{1,3}){3,})\]`)

// DecodeLists shows the byte and char lists of an evidence line as the text
// they hold (<<"environment variable X is missing.">>), so the line quoted
// says the cause in words; lists that are not text stay as they are.
func DecodeLists(line string) string {
	return byteList.ReplaceAllStringFunc(line, func(m string) string {
		sub := byteList.FindStringSubmatch(m)
		codes, binary := sub[1], true
		if codes == "" {
			codes, binary = sub[2], false
		}
		var b []byte
		for _, c := range strings.Split(codes, ",") {
			n, err := strconv.Atoi(c)
			if err != nil || n > 255 {
				return m
			}
			b = append(b, byte(n))
		}
		if !printable(b) {
			return m
		}
		if binary {
			return "<<" + strconv.Quote(string(b)) + ">>"
		}
		return strconv.Quote(string(b))
	})
}
