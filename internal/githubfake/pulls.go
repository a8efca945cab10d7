package githubfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pull is the fake's state of one pull request.
type Pull struct {
	Number int
	// State is "open" (the default) or "closed".
	State  string
	Title  string
	User   string
	Merged bool
	Draft  bool
	// HeadSHA, HeadRef and HeadRepo (owner/name; default the fake's repository,
	// another one for a fork, "-" for a deleted fork) describe the pushed branch.
	HeadSHA, HeadRef, HeadRepo string
	// BaseRef is the target branch (default main).
	BaseRef string
}

// Comment is one issue (pull-request) comment.
type Comment struct {
	ID int64
	// Issue is the number of the pull request commented on.
	Issue int
	Body  string
	// User is the author's login (default github-actions[bot], as with GITHUB_TOKEN).
	User string
	// Updated counts the edits.
	Updated int
}

// Environment is one repository environment.
type Environment struct {
	ID   int64
	Name string
}

// DefaultCommentUser is who writes comments created through the API.
const DefaultCommentUser = "github-actions[bot]"

// AddPull stores a pull request directly (no call is recorded), with the
// defaults above; comments may be written on it.
func (s *Server) AddPull(p Pull) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.State == "" {
		p.State = "open"
	}
	if p.HeadRepo == "" {
		p.HeadRepo = s.Owner + "/" + s.Repo
	}
	if p.HeadSHA == "" {
		p.HeadSHA = fakeSHA(fmt.Sprintf("pull/%d/head", p.Number))
	}
	if p.HeadRef == "" {
		p.HeadRef = fmt.Sprintf("pr-%d", p.Number)
	}
	if p.BaseRef == "" {
		p.BaseRef = "main"
	}
	if p.User == "" {
		p.User = "octocat"
	}
	for i, o := range s.pulls {
		if o.Number == p.Number {
			s.pulls[i] = &p
			return
		}
	}
	s.pulls = append(s.pulls, &p)
}

// SetPullState opens or closes (state "open" or "closed") pull request number; merged marks a closed one merged.
func (s *Server) SetPullState(number int, state string, merged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.findPull(number); p != nil {
		p.State, p.Merged = state, merged && state == "closed"
	}
}

// Pulls returns a copy of every pull request, in the order added.
func (s *Server) Pulls() []Pull {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Pull, len(s.pulls))
	for i, p := range s.pulls {
		out[i] = *p
	}
	return out
}

// AddComment stores a comment directly (no call is recorded) and returns its ID.
func (s *Server) AddComment(c Comment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.User == "" {
		c.User = DefaultCommentUser
	}
	s.nextID++
	c.ID = s.nextID
	s.comments = append(s.comments, &c)
	return c.ID
}

// Comments returns a copy of the comments on pull request number, oldest first.
func (s *Server) Comments(number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Issue == number {
			out = append(out, *c)
		}
	}
	return out
}

// Environments returns the repository's environments, sorted by name.
func (s *Server) Environments() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.environments {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

// ForbidEnvironmentDeletes makes DELETE of an environment answer 403 as it
// does for GITHUB_TOKEN, which never has administration rights (on: true).
func (s *Server) ForbidEnvironmentDeletes(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidEnvDelete = on
}

// ensureEnvironment creates environment name unless it exists, as a deployment to it does; s.mu is held.
func (s *Server) ensureEnvironment(name string) {
	for _, e := range s.environments {
		if e.Name == name {
			return
		}
	}
	s.nextID++
	s.environments = append(s.environments, &Environment{ID: s.nextID, Name: name})
}

func (s *Server) findPull(number int) *Pull {
	for _, p := range s.pulls {
		if p.Number == number {
			return p
		}
	}
	return nil
}

func (s *Server) userJSON(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{"login": login, "type": typ}
}

func (s *Server) pullJSON(p *Pull) map[string]any {
	repo := func(full string) any {
		if full == "-" {
			return nil // a deleted fork
		}
		owner, _, _ := strings.Cut(full, "/")
		return map[string]any{"full_name": full, "name": full[strings.Index(full, "/")+1:], "owner": s.userJSON(owner),
			"fork": full != s.Owner+"/"+s.Repo}
	}
	head, _, _ := strings.Cut(p.HeadRepo, "/")
	m := map[string]any{
		"url": fmt.Sprintf("%s/repos/%s/%s/pulls/%d", s.URL, s.Owner, s.Repo, p.Number), "number": p.Number,
		"state": p.State, "title": p.Title, "user": s.userJSON(p.User), "merged": p.Merged, "draft": p.Draft,
		"html_url":   fmt.Sprintf("https://github.example/%s/%s/pull/%d", s.Owner, s.Repo, p.Number),
		"created_at": clock(int64(p.Number)), "updated_at": clock(int64(p.Number)),
		"head": map[string]any{"sha": p.HeadSHA, "ref": p.HeadRef, "label": head + ":" + p.HeadRef, "repo": repo(p.HeadRepo)},
		"base": map[string]any{"sha": fakeSHA(p.BaseRef), "ref": p.BaseRef, "label": s.Owner + ":" + p.BaseRef, "repo": repo(s.Owner + "/" + s.Repo)},
	}
	if p.State == "closed" {
		m["closed_at"] = clock(int64(p.Number) + 1)
	}
	return m
}

func (s *Server) routePulls(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "" && r.Method == http.MethodGet:
		state := r.URL.Query().Get("state")
		if state == "" {
			state = "open"
		}
		if state != "open" && state != "closed" && state != "all" {
			validation(w, "PullRequest", "state", "invalid")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var sel []*Pull
		for _, p := range s.pulls {
			if state == "all" || p.State == state {
				sel = append(sel, p)
			}
		}
		sort.Slice(sel, func(i, j int) bool { return sel[i].Number > sel[j].Number }) // newest first
		lo, hi := page(w, r, len(sel))
		out := make([]map[string]any, 0, hi-lo)
		for _, p := range sel[lo:hi] {
			out = append(out, s.pullJSON(p))
		}
		writeJSON(w, http.StatusOK, out)
	case len(parts) == 1 && r.Method == http.MethodGet:
		n, _ := strconv.Atoi(parts[0])
		s.mu.Lock()
		defer s.mu.Unlock()
		if p := s.findPull(n); p != nil {
			writeJSON(w, http.StatusOK, s.pullJSON(p))
			return
		}
		notFound(w)
	default:
		notFound(w)
	}
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	return map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_fake%d", c.ID), "body": c.Body, "user": s.userJSON(c.User),
		"url":        fmt.Sprintf("%s/repos/%s/%s/issues/comments/%d", s.URL, s.Owner, s.Repo, c.ID),
		"html_url":   fmt.Sprintf("https://github.example/%s/%s/pull/%d#issuecomment-%d", s.Owner, s.Repo, c.Issue, c.ID),
		"issue_url":  fmt.Sprintf("%s/repos/%s/%s/issues/%d", s.URL, s.Owner, s.Repo, c.Issue),
		"created_at": clock(c.ID), "updated_at": clock(c.ID).Add(time.Duration(c.Updated) * time.Minute),
		"author_association": "NONE",
	}
}

func (s *Server) findComment(id string) *Comment {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	for _, c := range s.comments {
		if c.ID == n {
			return c
		}
	}
	return nil
}

// commentBody decodes {"body": ...}, answering 400 or 422 when it cannot.
func commentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var q struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return "", false
	}
	if q.Body == nil || *q.Body == "" {
		validation(w, "IssueComment", "body", "missing_field")
		return "", false
	}
	if len([]rune(*q.Body)) > maxCommentBody {
		validation(w, "IssueComment", "body", "too_long")
		return "", false
	}
	return *q.Body, true
}

// maxCommentBody is GitHub's limit, in characters, on a comment.
const maxCommentBody = 65536

func (s *Server) routeIssues(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "comments" && parts[0] != "comments":
		n, _ := strconv.Atoi(parts[0])
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			notFound(w)
			return
		}
		var body string
		if r.Method == http.MethodPost {
			var ok bool
			if body, ok = commentBody(w, r); !ok {
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.findPull(n) == nil {
			notFound(w)
			return
		}
		if r.Method == http.MethodPost {
			s.nextID++
			c := &Comment{ID: s.nextID, Issue: n, Body: body, User: DefaultCommentUser}
			s.comments = append(s.comments, c)
			writeJSON(w, http.StatusCreated, s.commentJSON(c))
			return
		}
		var sel []*Comment
		for _, c := range s.comments {
			if c.Issue == n {
				sel = append(sel, c) // oldest first, like GitHub
			}
		}
		lo, hi := page(w, r, len(sel))
		out := make([]map[string]any, 0, hi-lo)
		for _, c := range sel[lo:hi] {
			out = append(out, s.commentJSON(c))
		}
		writeJSON(w, http.StatusOK, out)
	case len(parts) == 2 && parts[0] == "comments":
		var body string
		if r.Method == http.MethodPatch {
			var ok bool
			if body, ok = commentBody(w, r); !ok {
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.findComment(parts[1])
		if c == nil {
			notFound(w)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.commentJSON(c))
		case http.MethodPatch:
			c.Body = body
			c.Updated++
			writeJSON(w, http.StatusOK, s.commentJSON(c))
		case http.MethodDelete:
			for i, o := range s.comments {
				if o == c {
					s.comments = append(s.comments[:i], s.comments[i+1:]...)
					break
				}
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			notFound(w)
		}
	default:
		notFound(w)
	}
}

func (s *Server) environmentJSON(e *Environment) map[string]any {
	return map[string]any{
		"id": e.ID, "node_id": fmt.Sprintf("EN_fake%d", e.ID), "name": e.Name,
		"url":        fmt.Sprintf("%s/repos/%s/%s/environments/%s", s.URL, s.Owner, s.Repo, url.PathEscape(e.Name)),
		"html_url":   fmt.Sprintf("https://github.example/%s/%s/deployments/activity_log?environments_filter=%s", s.Owner, s.Repo, url.QueryEscape(e.Name)),
		"created_at": clock(e.ID), "updated_at": clock(e.ID), "protection_rules": []any{},
	}
}

// routeEnvironments serves rest, the escaped path after /environments.
func (s *Server) routeEnvironments(w http.ResponseWriter, r *http.Request, rest string) {
	rest = strings.Trim(rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest == "" && r.Method == http.MethodGet {
		sorted := append([]*Environment(nil), s.environments...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
		lo, hi := page(w, r, len(sorted))
		out := make([]map[string]any, 0, hi-lo)
		for _, e := range sorted[lo:hi] {
			out = append(out, s.environmentJSON(e))
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(sorted), "environments": out})
		return
	}
	name, err := url.PathUnescape(rest)
	if err != nil || rest == "" || strings.Contains(rest, "/") {
		notFound(w)
		return
	}
	for i, e := range s.environments {
		if e.Name != name {
			continue
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.environmentJSON(e))
		case http.MethodDelete:
			if s.forbidEnvDelete {
				writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by integration",
					"documentation_url": "https://docs.github.com/rest/deployments/environments#delete-an-environment", "status": "403"})
				return
			}
			s.environments = append(s.environments[:i], s.environments[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
		default:
			notFound(w)
		}
		return
	}
	notFound(w)
}
