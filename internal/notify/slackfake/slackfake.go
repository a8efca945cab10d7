// Package slackfake is a Slack Web API for tests: slack-go's slacktest
// server with recording chat.postMessage and chat.update handlers (slacktest
// has no chat.update), scripted faults, and the messages as last written.
package slackfake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/slack-go/slack/slacktest"
)

// Call is one request the fake saw.
type Call struct {
	Method string
	Form   url.Values
}

// Scripted answers one request before the normal handler: an HTTP status
// (with Retry-After when set) or a Slack API error.
type Scripted struct {
	Status     int
	RetryAfter string
	APIError   string
}

// Fake records chat.postMessage / chat.update calls and keeps the messages they create.
type Fake struct {
	token    string
	mu       sync.Mutex
	calls    []Call
	messages map[string]url.Values // ts → latest form
	next     int
	script   []Scripted
}

// New starts a fake accepting token and returns it with its API URL (for slack.OptionAPIURL).
func New(t testing.TB, token string) (*Fake, string) {
	t.Helper()
	f := &Fake{token: token, messages: map[string]url.Values{}}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handle("chat.postMessage"))
		c.Handle("/chat.update", f.handle("chat.update"))
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	return f, srv.GetAPIURL()
}

// Script queues answers for the next requests.
func (f *Fake) Script(s ...Scripted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, s...)
}

// Calls returns every request so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Message returns the last form written for the message ts.
func (f *Fake) Message(ts string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.messages[ts]
}

func (f *Fake) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, Call{Method: method, Form: r.PostForm})
		if len(f.script) > 0 {
			s := f.script[0]
			f.script = f.script[1:]
			if s.APIError != "" {
				writeJSON(w, map[string]any{"ok": false, "error": s.APIError})
				return
			}
			if s.RetryAfter != "" {
				w.Header().Set("Retry-After", s.RetryAfter)
			}
			w.WriteHeader(s.Status)
			return
		}
		if r.PostForm.Get("token") != f.token {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		channel := r.PostForm.Get("channel")
		switch method {
		case "chat.postMessage":
			f.next++
			ts := "1700000000." + strconv.Itoa(100000+f.next)
			f.messages[ts] = r.PostForm
			writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": ts})
		case "chat.update":
			ts := r.PostForm.Get("ts")
			if _, ok := f.messages[ts]; !ok {
				writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
				return
			}
			f.messages[ts] = r.PostForm
			writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": ts, "text": r.PostForm.Get("text")})
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
