// Package preview holds the pure decisions of the preview action (one
// running copy of the release per pull request): what an event asks for
// (up, down or reap), the preview's namespace, labels and annotations, its
// ResourceQuota and LimitRange, which previews the reaper removes, who is
// admitted, and the pull-request comment. Nothing here talks to a cluster or
// to GitHub.
package preview

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Verb is what a preview run does.
type Verb string

// The verbs of the preview action.
const (
	// VerbUp creates or updates the pull request's preview.
	VerbUp Verb = "up"
	// VerbDown removes the pull request's preview.
	VerbDown Verb = "down"
	// VerbReap removes every preview whose pull request is closed or idle past the ttl.
	VerbReap Verb = "reap"
)

// Verbs lists the values the `command` input accepts.
func Verbs() []Verb { return []Verb{VerbUp, VerbDown, VerbReap} }

// PullRequest is what up and down need from a pull_request event.
type PullRequest struct {
	Number int
	// HeadSHA is the commit under review (not the merge commit GITHUB_SHA names).
	HeadSHA string
	// HeadRef is the branch of the pull request.
	HeadRef string
	// HeadRepo and BaseRepo are owner/name; they differ for a pull request from a fork.
	HeadRepo, BaseRepo string
	Title              string
	// User is the login of the pull request's author.
	User string
	// Merged is set on a closed pull request that was merged.
	Merged bool
}

// Fork reports whether the pull request comes from another repository (or
// from a fork since deleted: no head repository).
func (p PullRequest) Fork() bool {
	return p.HeadRepo == "" || !strings.EqualFold(p.HeadRepo, p.BaseRepo)
}

// Cmd is what one run of the preview action does.
type Cmd struct {
	Verb Verb
	// Event and Action are the event's name and its `action` field (e.g. pull_request, synchronize).
	Event, Action string
	// Overridden is set when the `command` input chose Verb.
	Overridden bool
	// Pull is the event's pull request; nil for schedule and workflow_dispatch.
	Pull *PullRequest
}

// Events lists the events and actions Command understands, for error messages.
const Events = "pull_request (opened, synchronize, reopened → up; closed → down), schedule or workflow_dispatch (→ reap)"

// event is the part of a GitHub event payload Command reads.
type event struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Merged bool   `json:"merged"`
		User   struct {
			Login string `json:"login"`
		} `json:"user"`
		Head ref `json:"head"`
		Base ref `json:"base"`
	} `json:"pull_request"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

type ref struct {
	SHA  string `json:"sha"`
	Ref  string `json:"ref"`
	Repo *struct {
		FullName string `json:"full_name"`
	} `json:"repo"`
}

func (r ref) repo() string {
	if r.Repo == nil {
		return ""
	}
	return r.Repo.FullName
}

// Command decides what the run does from the event's name (GITHUB_EVENT_NAME),
// its payload (the file GITHUB_EVENT_PATH names) and the `command` input
// (override, empty for none), and reads the pull request up and down need.
func Command(eventName string, payload []byte, override string) (Cmd, error) {
	c := Cmd{Event: eventName}
	var ev event
	if len(strings.TrimSpace(string(payload))) > 0 {
		if err := json.Unmarshal(payload, &ev); err != nil {
			return Cmd{}, fmt.Errorf("read the %s event payload: %w", eventName, err)
		}
	}
	c.Action = ev.Action
	if eventName == "pull_request_target" {
		return Cmd{}, fmt.Errorf("the preview action refuses the pull_request_target event: it runs with the repository's secrets, " +
			"and deploying the pull request's code there hands them to its author; trigger the workflow on pull_request")
	}
	if ev.PullRequest != nil {
		pr := ev.PullRequest
		p := &PullRequest{Number: pr.Number, HeadSHA: pr.Head.SHA, HeadRef: pr.Head.Ref, HeadRepo: pr.Head.repo(),
			BaseRepo: pr.Base.repo(), Title: pr.Title, User: pr.User.Login, Merged: pr.Merged}
		if p.Number == 0 {
			p.Number = ev.Number
		}
		if p.BaseRepo == "" && ev.Repository != nil {
			p.BaseRepo = ev.Repository.FullName
		}
		c.Pull = p
	}
	if override = strings.TrimSpace(override); override != "" {
		v := Verb(strings.ToLower(override))
		if v != VerbUp && v != VerbDown && v != VerbReap {
			return Cmd{}, fmt.Errorf("command %q is not one of up, down, reap", override)
		}
		c.Verb, c.Overridden = v, true
	} else {
		switch {
		case eventName == "pull_request" && (ev.Action == "opened" || ev.Action == "synchronize" || ev.Action == "reopened"):
			c.Verb = VerbUp
		case eventName == "pull_request" && ev.Action == "closed":
			c.Verb = VerbDown
		case eventName == "schedule" || eventName == "workflow_dispatch":
			c.Verb = VerbReap
		case eventName == "pull_request":
			return Cmd{}, fmt.Errorf("the pull_request event's action %q asks nothing of a preview: it acts on %s; "+
				"list only those types in the workflow's `on: pull_request: types:`, or set `command`", ev.Action, Events)
		case eventName == "":
			return Cmd{}, fmt.Errorf("no event name (GITHUB_EVENT_NAME): the preview action acts on %s, or set `command`", Events)
		default:
			return Cmd{}, fmt.Errorf("the %s event asks nothing of a preview: it acts on %s, or set `command`", eventName, Events)
		}
	}
	if c.Verb == VerbReap {
		return c, nil
	}
	if c.Pull == nil {
		return Cmd{}, fmt.Errorf("%s needs a pull request, and the %s event carries none: run it on pull_request", c.Verb, eventName)
	}
	if c.Pull.Number <= 0 {
		return Cmd{}, fmt.Errorf("the %s event's pull request has no number", eventName)
	}
	if c.Verb == VerbUp && c.Pull.HeadSHA == "" {
		return Cmd{}, fmt.Errorf("the %s event's pull request #%d has no head commit (pull_request.head.sha)", eventName, c.Pull.Number)
	}
	return c, nil
}
