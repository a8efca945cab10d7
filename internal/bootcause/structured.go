package bootcause

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Fields that hold a structured log line's message and level.
var (
	msgKeys   = []string{"msg", "message", "text", "log", "error", "reason"}
	levelKeys = []string{"level", "severity", "lvl"}
)

// isJSONLine: a logger's JSON line, one object.
func isJSONLine(l string) bool {
	t := strings.TrimSpace(l)
	return strings.HasPrefix(t, `{"`) && strings.HasSuffix(t, "}")
}

// jsonLine reads the message of a JSON log line as a log line of its own.
func (r *reader) jsonLine(l string) []finding {
	var obj map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(l)), &obj); err != nil {
		return nil
	}
	msg, level := "", ""
	for _, k := range msgKeys {
		if s, ok := obj[k].(string); ok && s != "" {
			msg = s
			break
		}
	}
	for _, k := range levelKeys {
		if s, ok := obj[k].(string); ok {
			level = s
			break
		}
	}
	return r.structuredMessage(l, msg, level)
}

var (
	reLogfmtLevel = regexp.MustCompile(`\b(?:level|lvl|severity)=("?)(\w+)`)
	reLogfmtMsg   = regexp.MustCompile(`(?:^|\s)(?:msg|message)=`)
)

// isLogfmtLine: key=value pairs with a level and a message.
func isLogfmtLine(l string) bool {
	return reLogfmtMsg.MatchString(l) && reLogfmtLevel.MatchString(l)
}

// logfmtLine reads the message of a logfmt line. A quoted value runs to the
// line's last quote: templates often do not escape the quotes inside.
func (r *reader) logfmtLine(l string) []finding {
	loc := reLogfmtMsg.FindStringIndex(l)
	v := l[loc[1]:]
	msg := ""
	if strings.HasPrefix(v, `"`) {
		end := strings.LastIndexByte(v, '"')
		if end <= 0 {
			end = len(v)
		}
		msg = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n").Replace(v[1:end])
	} else {
		msg, _, _ = strings.Cut(v, " ")
	}
	level := reLogfmtLevel.FindStringSubmatch(l)[2]
	out := r.structuredMessage(l, msg, level)
	// flatlog and the like print a crash's reason in its own field.
	if k := strings.Index(l, " reason="); k >= 0 {
		if t, _, _ := parsePrefix(strings.Trim(l[k+len(" reason="):], `"`)); t != nil {
			if f := fromReason(t, false, prioReport); rank(f.class) == 2 {
				f.evidence = l
				out = append(out, f)
			}
		}
	}
	return out
}

// structuredMessage reads a structured line's message with the line readers
// (a message can be any line the runtime prints, on one line or several).
func (r *reader) structuredMessage(line, msg, level string) []finding {
	if msg == "" {
		return nil
	}
	errorLevel := false
	switch strings.ToLower(level) {
	case "error", "critical", "alert", "emergency", "fatal", "err", "crit":
		errorLevel = true
	}
	sub := &reader{lines: splitLines([]byte(msg)), joinBudget: r.joinBudget}
	var out []finding
	for k, l := range sub.lines {
		if isJSONLine(l) || isLogfmtLine(l) {
			continue // no nesting
		}
		fs := sub.readLine(k)
		if len(fs) == 0 && errorLevel {
			if f, ok := errorMessage(l); ok {
				fs = append(fs, f)
			}
		}
		for _, f := range fs {
			if f.class == "" {
				continue
			}
			f.evidence = line
			out = append(out, f)
		}
	}
	return out
}

// errorMessage reads a message logged at error level that no format claims:
// a single-line crash report ("crasher: … exit: Reason, ancestors: …"), or a
// reason term.
func errorMessage(msg string) (finding, bool) {
	for _, key := range []string{", exit: ", "exception exit: ", "exception error: ", "reason: "} {
		if _, after, ok := strings.Cut(msg, key); ok {
			if t, _, _ := parsePrefix(after); t != nil {
				if f := fromReason(t, false, prioReport); rank(f.class) == 2 {
					return f, true
				}
			}
		}
	}
	if h := textCause(msg); h.class != "" {
		return finding{textHit: h, prio: prioMessage}, true
	}
	return finding{}, false
}
