// Package githubfake is a stateful, in-process fake of the few GitHub REST
// endpoints the release-notes action, the deployment records and the preview
// environments use, with call recording and fault injection, for offline tests.
//
// Endpoints (under the server's URL, which is the API base URL):
//
//	GET    /repos/{o}/{r}/releases                 (paginated, Link headers)
//	POST   /repos/{o}/{r}/releases
//	GET    /repos/{o}/{r}/releases/{id}
//	PATCH  /repos/{o}/{r}/releases/{id}
//	DELETE /repos/{o}/{r}/releases/{id}
//	GET    /repos/{o}/{r}/releases/tags/{tag}      (404 for drafts, like GitHub)
//	POST   /repos/{o}/{r}/releases/generate-notes
//	GET    /repos/{o}/{r}/releases/{id}/assets     (paginated)
//	DELETE /repos/{o}/{r}/releases/assets/{id}
//	POST   /uploads/repos/{o}/{r}/releases/{id}/assets?name=X   (the releases' upload_url)
//	GET    /repos/{o}/{r}/deployments              (filters environment, ref, sha, task; paginated, newest first)
//	POST   /repos/{o}/{r}/deployments
//	GET    /repos/{o}/{r}/deployments/{id}
//	GET    /repos/{o}/{r}/deployments/{id}/statuses (paginated, newest first)
//	POST   /repos/{o}/{r}/deployments/{id}/statuses
//	GET    /repos/{o}/{r}/deployments/{id}/statuses/{status_id}
//	GET    /repos/{o}/{r}/pulls                    (state open (default), closed or all; paginated, newest first)
//	GET    /repos/{o}/{r}/pulls/{n}
//	GET    /repos/{o}/{r}/issues/{n}/comments      (paginated, oldest first; {n} must be a pull request)
//	POST   /repos/{o}/{r}/issues/{n}/comments      (written by github-actions[bot])
//	GET    /repos/{o}/{r}/issues/comments/{id}
//	PATCH  /repos/{o}/{r}/issues/comments/{id}
//	DELETE /repos/{o}/{r}/issues/comments/{id}
//	GET    /repos/{o}/{r}/environments             (paginated, by name)
//	GET    /repos/{o}/{r}/environments/{name}
//	DELETE /repos/{o}/{r}/environments/{name}      (403 after ForbidEnvironmentDeletes, as for GITHUB_TOKEN)
//
// Pull requests are seeded with AddPull (and closed with SetPullState); an
// environment exists once a deployment (or a status moving one) names it, as
// on GitHub; deleting one leaves its deployments in the fake.
//
// Deployments model commit-status checks minimally: the fake has no commit
// statuses, so required_contexts omitted or [] is accepted and any other list
// is answered 409 (the checks it names never passed). auto_merge is ignored.
// A success status with auto_inactive (the default) appends an inactive
// status to every other non-transient deployment of the same environment
// whose latest status is success, as GitHub does.
package githubfake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Call is one request the fake received.
type Call struct {
	Method string
	Path   string
	Query  string
	// Body is the request body of API calls (not of uploads).
	Body string
}

// String renders "METHOD /path".
func (c Call) String() string { return c.Method + " " + c.Path }

// Asset is an uploaded file.
type Asset struct {
	ID          int64
	Name        string
	ContentType string
	Content     []byte
}

// SHA256 is the hex digest of the asset's content.
func (a *Asset) SHA256() string {
	sum := sha256.Sum256(a.Content)
	return hex.EncodeToString(sum[:])
}

// Release is the fake's state of one release.
type Release struct {
	ID         int64
	TagName    string
	Name       string
	Body       string
	Draft      bool
	Prerelease bool
	MakeLatest string
	Assets     []*Asset
}

type fault struct {
	method, prefix string
	remaining      int
	status         int
	header         http.Header
	body           string
	reset          bool   // hijack and close mid-body
	alreadyExists  string // asset name: answer 422 already_exists but store the asset
	name           string // only uploads of this asset name
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	*httptest.Server
	Owner, Repo string

	mu          sync.Mutex
	nextID      int64
	releases    []*Release
	deployments []*Deployment
	pulls       []*Pull
	comments    []*Comment
	// environments are created by the first deployment to them.
	environments    []*Environment
	forbidEnvDelete bool
	calls           []Call
	faults          []*fault
	// Notes is what generate-notes returns as body; "%s" gets "prev...tag".
	notes string
}

// New starts a fake serving the repository owner/repo.
func New(owner, repo string) *Server {
	s := &Server{Owner: owner, Repo: repo, nextID: 1000,
		notes: "## What's Changed\n* Generated notes for %s by @octocat"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// APIURL is the base URL to hand to a client.
func (s *Server) APIURL() string { return s.URL + "/" }

// Calls returns every request received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// WriteCalls counts the calls that were not GET or HEAD.
func (s *Server) WriteCalls() int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method != http.MethodGet && c.Method != http.MethodHead {
			n++
		}
	}
	return n
}

// FailNext makes the next n requests matching method and path prefix answer
// status with the given headers (e.g. Retry-After) and a GitHub-shaped error body.
// message may name a secondary rate limit: pass a documentation_url ending in
// "secondary-rate-limits" through FailNextBody for that.
func (s *Server) FailNext(method, pathPrefix string, n, status int, header http.Header) {
	s.FailNextBody(method, pathPrefix, n, status, header, fmt.Sprintf(`{"message":"injected %d"}`, status))
}

// FailNextBody is FailNext with an explicit JSON body.
func (s *Server) FailNextBody(method, pathPrefix string, n, status int, header http.Header, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, prefix: pathPrefix, remaining: n, status: status, header: header, body: body})
}

// FailUploadsOf makes the next n uploads of the asset name answer status.
func (s *Server) FailUploadsOf(name string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: http.MethodPost, prefix: "/uploads/", remaining: n, status: status, name: name,
		body: fmt.Sprintf(`{"message":"injected %d"}`, status)})
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// ResetNextUpload closes the connection half way through the body of the next upload.
func (s *Server) ResetNextUpload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: http.MethodPost, prefix: "/uploads/", remaining: 1, reset: true})
}

// AlreadyExistsOnNextUpload answers the next upload of name with 422
// already_exists while storing the asset anyway, as a concurrent uploader would.
func (s *Server) AlreadyExistsOnNextUpload(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: http.MethodPost, prefix: "/uploads/", remaining: 1, alreadyExists: name})
}

// SetGeneratedNotes sets the body generate-notes returns ("%s" gets "prev...tag").
func (s *Server) SetGeneratedNotes(format string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = format
}

// AddRelease stores a release directly (no call is recorded) and returns its ID.
func (s *Server) AddRelease(r Release) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r.ID = s.nextID
	for _, a := range r.Assets {
		s.nextID++
		a.ID = s.nextID
	}
	rr := r
	s.releases = append(s.releases, &rr)
	return rr.ID
}

// Releases returns a deep copy of every release, oldest first.
func (s *Server) Releases() []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Release, len(s.releases))
	for i, r := range s.releases {
		out[i] = *r
		out[i].Assets = nil
		for _, a := range r.Assets {
			ac := *a
			ac.Content = append([]byte(nil), a.Content...)
			out[i].Assets = append(out[i].Assets, &ac)
		}
	}
	return out
}

// ReleasesByTag returns the releases (drafts included) of tag.
func (s *Server) ReleasesByTag(tag string) []Release {
	var out []Release
	for _, r := range s.Releases() {
		if r.TagName == tag {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if !strings.HasPrefix(r.URL.Path, "/uploads/") && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		call.Body = string(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	f := s.takeFault(r)
	s.mu.Unlock()
	if f != nil {
		switch {
		case f.reset:
			resetMidBody(w, r)
			return
		case f.alreadyExists != "":
			// Store it (the other uploader won), then report the conflict.
			s.upload(httptest.NewRecorder(), r)
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
				"errors": []map[string]string{{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}}})
			return
		default:
			io.Copy(io.Discard, r.Body)
			for k, vs := range f.header {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.status)
			io.WriteString(w, f.body)
			return
		}
	}
	s.route(w, r)
}

func (s *Server) takeFault(r *http.Request) *fault {
	for i, f := range s.faults {
		if f.method != r.Method || !strings.HasPrefix(r.URL.Path, f.prefix) {
			continue
		}
		if f.alreadyExists != "" && r.URL.Query().Get("name") != f.alreadyExists {
			continue
		}
		if f.name != "" && r.URL.Query().Get("name") != f.name {
			continue
		}
		f.remaining--
		if f.remaining <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// resetMidBody reads part of the body, then drops the connection.
func resetMidBody(w http.ResponseWriter, r *http.Request) {
	half := r.ContentLength / 2
	if half > 0 {
		io.CopyN(io.Discard, r.Body, half)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("githubfake: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	upload := false
	p := r.URL.Path
	if strings.HasPrefix(p, "/uploads/") {
		upload, p = true, strings.TrimPrefix(p, "/uploads")
	}
	repo := "/repos/" + s.Owner + "/" + s.Repo
	under := func(sub string) bool { return !upload && (p == repo+sub || strings.HasPrefix(p, repo+sub+"/")) }
	switch {
	case under("/deployments"):
		s.routeDeployments(w, r, strings.TrimPrefix(p, repo+"/deployments"))
		return
	case under("/pulls"):
		s.routePulls(w, r, strings.TrimPrefix(p, repo+"/pulls"))
		return
	case under("/issues"):
		s.routeIssues(w, r, strings.TrimPrefix(p, repo+"/issues"))
		return
	case under("/environments"):
		// The escaped path: an environment name may hold a "/" (production/prod-eu).
		s.routeEnvironments(w, r, strings.TrimPrefix(r.URL.EscapedPath(), repo+"/environments"))
		return
	}
	prefix := "/repos/" + s.Owner + "/" + s.Repo + "/releases"
	if !strings.HasPrefix(p, prefix) {
		notFound(w)
		return
	}
	rest := strings.Split(strings.Trim(strings.TrimPrefix(p, prefix), "/"), "/")
	if rest[0] == "" {
		rest = nil
	}
	switch {
	case upload && len(rest) == 2 && rest[1] == "assets" && r.Method == http.MethodPost:
		s.upload(w, r)
	case upload:
		notFound(w)
	case len(rest) == 0 && r.Method == http.MethodGet:
		s.listReleases(w, r)
	case len(rest) == 0 && r.Method == http.MethodPost:
		s.createRelease(w, r)
	case len(rest) == 1 && rest[0] == "generate-notes" && r.Method == http.MethodPost:
		s.generateNotes(w, r)
	case len(rest) == 2 && rest[0] == "tags" && r.Method == http.MethodGet:
		s.getByTag(w, rest[1])
	case len(rest) == 2 && rest[0] == "assets" && r.Method == http.MethodDelete:
		s.deleteAsset(w, rest[1])
	case len(rest) == 2 && rest[1] == "assets" && r.Method == http.MethodGet:
		s.listAssets(w, r, rest[0])
	case len(rest) == 1:
		s.release(w, r, rest[0])
	default:
		notFound(w)
	}
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) releaseJSON(r *Release) map[string]any {
	base := fmt.Sprintf("%s/repos/%s/%s/releases/%d", s.URL, s.Owner, s.Repo, r.ID)
	assets := make([]map[string]any, 0, len(r.Assets))
	for _, a := range r.Assets {
		assets = append(assets, s.assetJSON(a))
	}
	m := map[string]any{
		"id": r.ID, "tag_name": r.TagName, "name": r.Name, "body": r.Body, "draft": r.Draft,
		"prerelease": r.Prerelease, "url": base, "assets_url": base + "/assets",
		"html_url":   fmt.Sprintf("https://github.example/%s/%s/releases/tag/%s", s.Owner, s.Repo, url.PathEscape(r.TagName)),
		"upload_url": fmt.Sprintf("%s/uploads/repos/%s/%s/releases/%d/assets{?name,label}", s.URL, s.Owner, s.Repo, r.ID),
		"assets":     assets, "created_at": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if r.Draft {
		m["html_url"] = fmt.Sprintf("https://github.example/%s/%s/releases/tag/untagged-%d", s.Owner, s.Repo, r.ID)
	}
	return m
}

func (s *Server) assetJSON(a *Asset) map[string]any {
	return map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Content), "state": "uploaded",
		"content_type": a.ContentType, "digest": "sha256:" + a.SHA256(),
		"url":                  fmt.Sprintf("%s/repos/%s/%s/releases/assets/%d", s.URL, s.Owner, s.Repo, a.ID),
		"browser_download_url": fmt.Sprintf("https://github.example/%s/%s/releases/download/x/%s", s.Owner, s.Repo, a.Name)}
}

// page slices n items by the per_page and page query parameters and sets the Link header.
func page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pg = max(pg, 1)
	last := max((n+per-1)/per, 1)
	link := func(p int, rel string) string {
		q := r.URL.Query()
		q.Set("per_page", strconv.Itoa(per))
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, r.Host, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(pg-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*per, n)
	return lo, min(lo+per, n)
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Newest first, like GitHub.
	sorted := append([]*Release(nil), s.releases...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID > sorted[j].ID })
	lo, hi := page(w, r, len(sorted))
	out := make([]map[string]any, 0, hi-lo)
	for _, rel := range sorted[lo:hi] {
		out = append(out, s.releaseJSON(rel))
	}
	writeJSON(w, http.StatusOK, out)
}

type releaseReq struct {
	TagName    *string `json:"tag_name"`
	Name       *string `json:"name"`
	Body       *string `json:"body"`
	Draft      *bool   `json:"draft"`
	Prerelease *bool   `json:"prerelease"`
	MakeLatest *string `json:"make_latest"`
}

func (q releaseReq) apply(r *Release) {
	if q.TagName != nil {
		r.TagName = *q.TagName
	}
	if q.Name != nil {
		r.Name = *q.Name
	}
	if q.Body != nil {
		r.Body = *q.Body
	}
	if q.Draft != nil {
		r.Draft = *q.Draft
	}
	if q.Prerelease != nil {
		r.Prerelease = *q.Prerelease
	}
	if q.MakeLatest != nil {
		r.MakeLatest = *q.MakeLatest
	}
}

func validation(w http.ResponseWriter, resource, field, code string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
		"errors": []map[string]string{{"resource": resource, "code": code, "field": field}}})
}

// publishedConflict reports whether another published release holds tag.
func (s *Server) publishedConflict(tag string, except int64) bool {
	for _, o := range s.releases {
		if o.ID != except && o.TagName == tag && !o.Draft {
			return true
		}
	}
	return false
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	var q releaseReq
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.TagName == nil || *q.TagName == "" {
		validation(w, "Release", "tag_name", "missing_field")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := &Release{}
	q.apply(rel)
	// GitHub allows several drafts of one tag, but one published release.
	if !rel.Draft && s.publishedConflict(rel.TagName, 0) {
		validation(w, "Release", "tag_name", "already_exists")
		return
	}
	s.nextID++
	rel.ID = s.nextID
	s.releases = append(s.releases, rel)
	writeJSON(w, http.StatusCreated, s.releaseJSON(rel))
}

func (s *Server) find(id string) *Release {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	for _, r := range s.releases {
		if r.ID == n {
			return r
		}
	}
	return nil
}

func (s *Server) release(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := s.find(id)
	if rel == nil {
		notFound(w)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.releaseJSON(rel))
	case http.MethodPatch:
		var q releaseReq
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
			return
		}
		next := *rel
		q.apply(&next)
		if !next.Draft && s.publishedConflict(next.TagName, rel.ID) {
			validation(w, "Release", "tag_name", "already_exists")
			return
		}
		q.apply(rel)
		writeJSON(w, http.StatusOK, s.releaseJSON(rel))
	case http.MethodDelete:
		for i, o := range s.releases {
			if o == rel {
				s.releases = append(s.releases[:i], s.releases[i+1:]...)
				break
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		notFound(w)
	}
}

func (s *Server) getByTag(w http.ResponseWriter, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.releases {
		if r.TagName == tag && !r.Draft {
			writeJSON(w, http.StatusOK, s.releaseJSON(r))
			return
		}
	}
	notFound(w)
}

func (s *Server) generateNotes(w http.ResponseWriter, r *http.Request) {
	var q struct {
		TagName         string `json:"tag_name"`
		PreviousTagName string `json:"previous_tag_name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.TagName == "" {
		validation(w, "Release", "tag_name", "missing_field")
		return
	}
	s.mu.Lock()
	notes := s.notes
	s.mu.Unlock()
	rng := q.TagName
	if q.PreviousTagName != "" {
		rng = q.PreviousTagName + "..." + q.TagName
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": q.TagName, "body": fmt.Sprintf(notes, rng)})
}

func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := s.find(id)
	if rel == nil {
		notFound(w)
		return
	}
	lo, hi := page(w, r, len(rel.Assets))
	out := make([]map[string]any, 0, hi-lo)
	for _, a := range rel.Assets[lo:hi] {
		out = append(out, s.assetJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteAsset(w http.ResponseWriter, id string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rel := range s.releases {
		for i, a := range rel.Assets {
			if a.ID == n {
				rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	notFound(w)
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// uploads/repos/o/r/releases/{id}/assets
	if len(parts) != 7 {
		notFound(w)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		validation(w, "ReleaseAsset", "name", "missing_field")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "read body: " + err.Error()})
		return
	}
	if r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "body shorter than Content-Length"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := s.find(parts[5])
	if rel == nil {
		notFound(w)
		return
	}
	for _, a := range rel.Assets {
		if a.Name == name {
			validation(w, "ReleaseAsset", "name", "already_exists")
			return
		}
	}
	s.nextID++
	a := &Asset{ID: s.nextID, Name: name, ContentType: r.Header.Get("Content-Type"), Content: body}
	rel.Assets = append(rel.Assets, a)
	writeJSON(w, http.StatusCreated, s.assetJSON(a))
}

// Deployment is the fake's state of one deployment.
type Deployment struct {
	ID          int64
	Ref, SHA    string
	Environment string
	Task        string
	// Payload is the payload as sent: a JSON object or string ({} when none).
	Payload               json.RawMessage
	Description           string
	ProductionEnvironment bool
	TransientEnvironment  bool
	// Statuses are the deployment's statuses, oldest first.
	Statuses []DeploymentStatus
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID          int64
	State       string
	Description string
	// EnvironmentURL and LogURL are as sent (LogURL falls back to target_url).
	EnvironmentURL, LogURL string
	// AutoInactive is the request's auto_inactive (false on the inactive statuses it appends).
	AutoInactive bool
	// Environment is the deployment's environment once this status was written.
	Environment string
}

// States lists the states of the deployment's statuses, oldest first.
func (d Deployment) States() []string {
	out := make([]string, len(d.Statuses))
	for i, st := range d.Statuses {
		out[i] = st.State
	}
	return out
}

// Deployment states GitHub accepts for a status.
var deploymentStates = map[string]bool{"error": true, "failure": true, "inactive": true, "in_progress": true,
	"queued": true, "pending": true, "success": true}

// maxStatusDescription is GitHub's limit on a deployment status description.
const maxStatusDescription = 140

// clock is the fake's time of the object with ID id: later objects are later.
func clock(id int64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Second)
}

// fakeSHA is the commit a ref resolves to: itself when it is a full SHA.
func fakeSHA(ref string) string {
	if len(ref) == 40 {
		if _, err := hex.DecodeString(ref); err == nil {
			return strings.ToLower(ref)
		}
	}
	sum := sha256.Sum256([]byte("ref:" + ref))
	return hex.EncodeToString(sum[:20])
}

// AddDeployment stores a deployment and its statuses directly, as history (no
// call is recorded, no auto_inactive is applied), and returns its ID. Empty
// Environment, Task, Payload and SHA get GitHub's defaults.
func (s *Server) AddDeployment(d Deployment) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Environment == "" {
		d.Environment = "production"
	}
	if d.Task == "" {
		d.Task = "deploy"
	}
	if len(d.Payload) == 0 {
		d.Payload = json.RawMessage("{}")
	}
	if d.SHA == "" {
		d.SHA = fakeSHA(d.Ref)
	}
	s.nextID++
	d.ID = s.nextID
	d.Statuses = append([]DeploymentStatus(nil), d.Statuses...)
	for i := range d.Statuses {
		s.nextID++
		d.Statuses[i].ID = s.nextID
		if d.Statuses[i].Environment == "" {
			d.Statuses[i].Environment = d.Environment
		}
	}
	s.deployments = append(s.deployments, &d)
	s.ensureEnvironment(d.Environment)
	return d.ID
}

// Deployments returns a deep copy of every deployment, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
		out[i].Payload = append(json.RawMessage(nil), d.Payload...)
		out[i].Statuses = append([]DeploymentStatus(nil), d.Statuses...)
	}
	return out
}

func (s *Server) routeDeployments(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		s.listDeployments(w, r)
	case len(parts) == 0 && r.Method == http.MethodPost:
		s.createDeployment(w, r)
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		if d := s.findDeployment(parts[0]); d != nil {
			writeJSON(w, http.StatusOK, s.deploymentJSON(d))
			return
		}
		notFound(w)
	case len(parts) == 2 && parts[1] == "statuses" && r.Method == http.MethodGet:
		s.listDeploymentStatuses(w, r, parts[0])
	case len(parts) == 2 && parts[1] == "statuses" && r.Method == http.MethodPost:
		s.createDeploymentStatus(w, r, parts[0])
	case len(parts) == 3 && parts[1] == "statuses" && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		if d := s.findDeployment(parts[0]); d != nil {
			for i := range d.Statuses {
				if strconv.FormatInt(d.Statuses[i].ID, 10) == parts[2] {
					writeJSON(w, http.StatusOK, s.statusJSON(d, &d.Statuses[i]))
					return
				}
			}
		}
		notFound(w)
	default:
		notFound(w)
	}
}

func (s *Server) findDeployment(id string) *Deployment {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	for _, d := range s.deployments {
		if d.ID == n {
			return d
		}
	}
	return nil
}

func (s *Server) creator() map[string]any {
	return map[string]any{"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
}

func (s *Server) deploymentJSON(d *Deployment) map[string]any {
	base := fmt.Sprintf("%s/repos/%s/%s/deployments/%d", s.URL, s.Owner, s.Repo, d.ID)
	updated := clock(d.ID)
	if n := len(d.Statuses); n > 0 {
		updated = clock(d.Statuses[n-1].ID)
	}
	var desc any
	if d.Description != "" {
		desc = d.Description
	}
	return map[string]any{
		"url": base, "id": d.ID, "node_id": fmt.Sprintf("DE_fake%d", d.ID), "sha": d.SHA, "ref": d.Ref, "task": d.Task,
		"payload": d.Payload, "original_environment": d.Environment, "environment": d.Environment, "description": desc,
		"creator": s.creator(), "created_at": clock(d.ID), "updated_at": updated, "statuses_url": base + "/statuses",
		"repository_url":        fmt.Sprintf("%s/repos/%s/%s", s.URL, s.Owner, s.Repo),
		"transient_environment": d.TransientEnvironment, "production_environment": d.ProductionEnvironment,
	}
}

func (s *Server) statusJSON(d *Deployment, st *DeploymentStatus) map[string]any {
	dep := fmt.Sprintf("%s/repos/%s/%s/deployments/%d", s.URL, s.Owner, s.Repo, d.ID)
	return map[string]any{
		"url": fmt.Sprintf("%s/statuses/%d", dep, st.ID), "id": st.ID, "node_id": fmt.Sprintf("DES_fake%d", st.ID),
		"state": st.State, "creator": s.creator(), "description": st.Description, "environment": st.Environment,
		"target_url": st.LogURL, "log_url": st.LogURL, "environment_url": st.EnvironmentURL,
		"created_at": clock(st.ID), "updated_at": clock(st.ID), "deployment_url": dep,
		"repository_url": fmt.Sprintf("%s/repos/%s/%s", s.URL, s.Owner, s.Repo),
	}
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	var sel []*Deployment
	for i := len(s.deployments) - 1; i >= 0; i-- { // newest first
		d := s.deployments[i]
		if (q.Has("environment") && q.Get("environment") != d.Environment) || (q.Has("ref") && q.Get("ref") != d.Ref) ||
			(q.Has("sha") && q.Get("sha") != d.SHA) || (q.Has("task") && q.Get("task") != d.Task) {
			continue
		}
		sel = append(sel, d)
	}
	lo, hi := page(w, r, len(sel))
	out := make([]map[string]any, 0, hi-lo)
	for _, d := range sel[lo:hi] {
		out = append(out, s.deploymentJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Ref                   *string         `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      []string        `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  *bool           `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if q.Ref == nil || *q.Ref == "" {
		validation(w, "Deployment", "ref", "missing_field")
		return
	}
	payload := json.RawMessage("{}")
	if p := bytes.TrimSpace(q.Payload); len(p) > 0 && string(p) != "null" {
		if p[0] != '{' && p[0] != '"' {
			validation(w, "Deployment", "payload", "invalid")
			return
		}
		payload = append(json.RawMessage(nil), p...)
	}
	if len(q.RequiredContexts) > 0 {
		writeJSON(w, http.StatusConflict, map[string]any{"message": "Conflict: Commit status checks failed for " + *q.Ref + ".",
			"errors": []map[string]any{{"contexts": []any{}, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}}})
		return
	}
	d := &Deployment{Ref: *q.Ref, SHA: fakeSHA(*q.Ref), Environment: "production", Task: "deploy", Payload: payload}
	if q.Task != nil && *q.Task != "" {
		d.Task = *q.Task
	}
	if q.Environment != nil && *q.Environment != "" {
		d.Environment = *q.Environment
	}
	if q.Description != nil {
		d.Description = *q.Description
	}
	if q.TransientEnvironment != nil {
		d.TransientEnvironment = *q.TransientEnvironment
	}
	d.ProductionEnvironment = d.Environment == "production"
	if q.ProductionEnvironment != nil {
		d.ProductionEnvironment = *q.ProductionEnvironment
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	d.ID = s.nextID
	s.deployments = append(s.deployments, d)
	s.ensureEnvironment(d.Environment)
	writeJSON(w, http.StatusCreated, s.deploymentJSON(d))
}

func (s *Server) listDeploymentStatuses(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findDeployment(id)
	if d == nil {
		notFound(w)
		return
	}
	lo, hi := page(w, r, len(d.Statuses))
	out := make([]map[string]any, 0, hi-lo)
	for i := len(d.Statuses) - 1 - lo; i >= len(d.Statuses)-hi; i-- { // newest first
		out = append(out, s.statusJSON(d, &d.Statuses[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *http.Request, id string) {
	var q struct {
		State          string `json:"state"`
		TargetURL      string `json:"target_url"`
		LogURL         string `json:"log_url"`
		Description    string `json:"description"`
		Environment    string `json:"environment"`
		EnvironmentURL string `json:"environment_url"`
		AutoInactive   *bool  `json:"auto_inactive"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.findDeployment(id)
	if d == nil {
		notFound(w)
		return
	}
	switch {
	case q.State == "":
		validation(w, "DeploymentStatus", "state", "missing_field")
		return
	case !deploymentStates[q.State]:
		validation(w, "DeploymentStatus", "state", "invalid")
		return
	case len([]rune(q.Description)) > maxStatusDescription:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []map[string]string{{"resource": "DeploymentStatus", "code": "custom", "field": "description",
				"message": "description is too long (maximum is 140 characters)"}}})
		return
	}
	if q.Environment != "" {
		d.Environment = q.Environment
		s.ensureEnvironment(d.Environment)
	}
	logURL := q.LogURL
	if logURL == "" {
		logURL = q.TargetURL
	}
	auto := q.AutoInactive == nil || *q.AutoInactive
	s.nextID++
	d.Statuses = append(d.Statuses, DeploymentStatus{ID: s.nextID, State: q.State, Description: q.Description,
		EnvironmentURL: q.EnvironmentURL, LogURL: logURL, AutoInactive: auto, Environment: d.Environment})
	st := d.Statuses[len(d.Statuses)-1]
	if q.State == "success" && auto {
		for _, o := range s.deployments {
			if o == d || o.Environment != d.Environment || o.TransientEnvironment || len(o.Statuses) == 0 ||
				o.Statuses[len(o.Statuses)-1].State != "success" {
				continue
			}
			s.nextID++
			o.Statuses = append(o.Statuses, DeploymentStatus{ID: s.nextID, State: "inactive", Environment: o.Environment})
		}
	}
	writeJSON(w, http.StatusCreated, s.statusJSON(d, &st))
}

// Sleeps stands in for a retry policy's Sleep in tests against the fake: it
// records each wait the client asks for instead of waiting.
type Sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

// Sleep records d and returns at once (ctx's error, if it ended).
func (s *Sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

// All returns the waits so far, in order.
func (s *Sleeps) All() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}
