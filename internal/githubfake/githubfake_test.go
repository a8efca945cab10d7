package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestFake(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	draft := s.AddRelease(Release{TagName: "v1.0.0", Draft: true})
	for i := range 120 {
		s.AddRelease(Release{TagName: fmt.Sprintf("v0.%d.0", i)})
	}
	// Drafts are invisible to the tag endpoint.
	if resp, _ := get(t, s.URL+"/repos/o/r/releases/tags/v1.0.0"); resp.StatusCode != 404 {
		t.Errorf("draft by tag: %d", resp.StatusCode)
	}
	if resp, _ := get(t, s.URL+"/repos/o/r/releases/tags/v0.3.0"); resp.StatusCode != 200 {
		t.Errorf("published by tag: %d", resp.StatusCode)
	}
	// Pagination: newest first, Link header to page 2, the draft on page 2.
	resp, b := get(t, s.URL+"/repos/o/r/releases?per_page=100")
	var page []map[string]any
	json.Unmarshal(b, &page)
	if len(page) != 100 || !strings.Contains(resp.Header.Get("Link"), `page=2&per_page=100>; rel="next"`) {
		t.Fatalf("page 1: %d items, Link %q", len(page), resp.Header.Get("Link"))
	}
	resp, b = get(t, s.URL+"/repos/o/r/releases?per_page=100&page=2")
	page = nil
	json.Unmarshal(b, &page)
	if len(page) != 21 || int64(page[20]["id"].(float64)) != draft || strings.Contains(resp.Header.Get("Link"), "next") {
		t.Fatalf("page 2: %d items", len(page))
	}
	// Faults.
	s.FailNext("GET", "/repos/o/r/releases", 2, 503, http.Header{"Retry-After": {"3"}})
	for range 2 {
		if resp, _ := get(t, s.URL+"/repos/o/r/releases"); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
			t.Errorf("fault: %d", resp.StatusCode)
		}
	}
	if resp, _ := get(t, s.URL+"/repos/o/r/releases"); resp.StatusCode != 200 {
		t.Errorf("after faults: %d", resp.StatusCode)
	}
	// Upload, then a duplicate name is 422 already_exists.
	up := fmt.Sprintf("%s/uploads/repos/o/r/releases/%d/assets?name=a.txt", s.URL, draft)
	for i, want := range []int{201, 422} {
		resp, err := http.Post(up, "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("upload %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
	// A reset upload fails on the client and stores nothing.
	s.ResetNextUpload()
	if _, err := http.Post(strings.Replace(up, "a.txt", "b.txt", 1), "text/plain", strings.NewReader(strings.Repeat("x", 1<<20))); err == nil {
		t.Error("reset upload succeeded")
	}
	rel := s.ReleasesByTag("v1.0.0")[0]
	if len(rel.Assets) != 1 || string(rel.Assets[0].Content) != "hello" {
		t.Errorf("assets = %+v", rel.Assets)
	}
	if s.WriteCalls() != 3 {
		t.Errorf("write calls = %d: %v", s.WriteCalls(), s.Calls())
	}
}

// send makes one JSON request and decodes the answer into out (when not nil).
func send(t *testing.T, method, url, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s", b)
	}
	return resp
}

func TestCreateDeployment(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	url := s.URL + "/repos/o/r/deployments"
	for _, tc := range []struct {
		name, body string
		status     int
		check      func(t *testing.T, d map[string]any)
	}{
		{name: "defaults", body: `{"ref":"main"}`, status: 201, check: func(t *testing.T, d map[string]any) {
			assert.Equal(t, "production", d["environment"])
			assert.Equal(t, "deploy", d["task"])
			assert.Equal(t, map[string]any{}, d["payload"])
			assert.Equal(t, true, d["production_environment"], "production is a production environment by default")
			assert.Equal(t, false, d["transient_environment"])
			assert.Len(t, d["sha"], 40)
			assert.Equal(t, d["url"].(string)+"/statuses", d["statuses_url"])
			for _, k := range []string{"id", "node_id", "creator", "created_at", "updated_at", "repository_url"} {
				assert.Contains(t, d, k)
			}
		}},
		{name: "every field", body: `{"ref":"0123456789abcdef0123456789abcdef01234567","task":"deploy:migrate","auto_merge":false,
			"required_contexts":[],"payload":{"image":"x:1"},"environment":"production/prod-eu","description":"d",
			"transient_environment":true,"production_environment":true}`, status: 201, check: func(t *testing.T, d map[string]any) {
			assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", d["sha"], "a full SHA is its own commit")
			assert.Equal(t, "deploy:migrate", d["task"])
			assert.Equal(t, map[string]any{"image": "x:1"}, d["payload"])
			assert.Equal(t, "production/prod-eu", d["environment"])
			assert.Equal(t, "d", d["description"])
			assert.Equal(t, true, d["transient_environment"])
			assert.Equal(t, true, d["production_environment"])
		}},
		{name: "string payload", body: `{"ref":"main","payload":"{\"a\":1}","environment":"staging"}`, status: 201,
			check: func(t *testing.T, d map[string]any) {
				assert.Equal(t, `{"a":1}`, d["payload"])
				assert.Equal(t, false, d["production_environment"], "staging is not production by default")
			}},
		{name: "ref missing", body: `{"environment":"production"}`, status: 422},
		{name: "payload neither object nor string", body: `{"ref":"main","payload":[1]}`, status: 422},
		{name: "required contexts the fake cannot satisfy", body: `{"ref":"main","required_contexts":["ci"]}`, status: 409},
		{name: "not JSON", body: `{`, status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			resp := send(t, "POST", url, tc.body, &d)
			require.Equal(t, tc.status, resp.StatusCode, "%v", d)
			if tc.check != nil {
				tc.check(t, d)
				var got map[string]any
				send(t, "GET", fmt.Sprintf("%s/%d", url, int64(d["id"].(float64))), "", &got)
				assert.Equal(t, d["id"], got["id"])
			}
		})
	}
	assert.Len(t, s.Deployments(), 3)
	resp := send(t, "GET", url+"/999999", "", nil)
	assert.Equal(t, 404, resp.StatusCode)
}

func TestDeploymentStatuses(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	url := s.URL + "/repos/o/r/deployments"
	status := func(id int64, body string) int {
		return send(t, "POST", fmt.Sprintf("%s/%d/statuses", url, id), body, nil).StatusCode
	}
	id := s.AddDeployment(Deployment{Ref: "main"})
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"in_progress", `{"state":"in_progress","log_url":"https://ci/1","description":"deploying"}`, 201},
		{"unknown state", `{"state":"done"}`, 422},
		{"no state", `{"description":"x"}`, 422},
		{"description over 140 characters", `{"state":"queued","description":"` + strings.Repeat("é", 141) + `"}`, 422},
		{"description of 140 characters", `{"state":"queued","description":"` + strings.Repeat("é", 140) + `"}`, 201},
		{"target_url is the log url", `{"state":"pending","target_url":"https://ci/legacy"}`, 201},
		{"success", `{"state":"success","environment_url":"https://app","log_url":"https://ci/1"}`, 201},
	} {
		assert.Equal(t, tc.want, status(id, tc.body), tc.name)
	}
	assert.Equal(t, 404, status(999999, `{"state":"success"}`))
	for _, st := range []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"} {
		assert.Equal(t, 201, status(id, `{"state":"`+st+`","auto_inactive":false}`), st)
	}
	d := s.Deployments()[0]
	assert.Equal(t, []string{"in_progress", "queued", "pending", "success",
		"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}, d.States())
	assert.Equal(t, DeploymentStatus{ID: d.Statuses[0].ID, State: "in_progress", Description: "deploying",
		LogURL: "https://ci/1", AutoInactive: true, Environment: "production"}, d.Statuses[0])
	assert.Equal(t, "https://ci/legacy", d.Statuses[2].LogURL)
	assert.Equal(t, "https://app", d.Statuses[3].EnvironmentURL)
	assert.False(t, d.Statuses[4].AutoInactive)

	// Listed newest first, paginated.
	var page1, page2 []map[string]any
	resp := send(t, "GET", fmt.Sprintf("%s/%d/statuses?per_page=6", url, id), "", &page1)
	assert.Contains(t, resp.Header.Get("Link"), `rel="next"`)
	send(t, "GET", fmt.Sprintf("%s/%d/statuses?per_page=6&page=2", url, id), "", &page2)
	require.Len(t, page1, 6)
	require.Len(t, page2, 5)
	assert.Equal(t, "success", page1[0]["state"])
	assert.Equal(t, "in_progress", page2[4]["state"])
	assert.Equal(t, "https://ci/1", page2[4]["log_url"])
	assert.Equal(t, "https://ci/1", page2[4]["target_url"])
	var one map[string]any
	send(t, "GET", fmt.Sprintf("%s/%d/statuses/%d", url, id, d.Statuses[3].ID), "", &one)
	assert.Equal(t, "https://app", one["environment_url"])

	// A status may move the deployment to another environment.
	assert.Equal(t, 201, status(id, `{"state":"queued","environment":"staging"}`))
	assert.Equal(t, "staging", s.Deployments()[0].Environment)
}

func TestAutoInactive(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	succeeded := func(env string, transient bool) int64 {
		return s.AddDeployment(Deployment{Ref: "main", Environment: env, TransientEnvironment: transient,
			Statuses: []DeploymentStatus{{State: "in_progress"}, {State: "success"}}})
	}
	eu1 := succeeded("production/prod-eu", false)
	us := succeeded("production/prod-us", false)
	transient := succeeded("production/prod-eu", true)
	failed := s.AddDeployment(Deployment{Ref: "main", Environment: "production/prod-eu",
		Statuses: []DeploymentStatus{{State: "in_progress"}, {State: "failure"}}})
	eu2 := s.AddDeployment(Deployment{Ref: "main", Environment: "production/prod-eu"})
	post := func(id int64, body string) {
		resp := send(t, "POST", fmt.Sprintf("%s/repos/o/r/deployments/%d/statuses", s.URL, id), body, nil)
		require.Equal(t, 201, resp.StatusCode)
	}
	states := func() map[int64][]string {
		out := map[int64][]string{}
		for _, d := range s.Deployments() {
			out[d.ID] = d.States()
		}
		return out
	}
	// Neither in_progress nor success without auto_inactive touches the others.
	post(eu2, `{"state":"in_progress"}`)
	post(eu2, `{"state":"success","auto_inactive":false}`)
	assert.Equal(t, []string{"in_progress", "success"}, states()[eu1])
	// A success makes every other successful, non-transient deployment of the environment inactive, only those.
	post(eu2, `{"state":"success"}`)
	assert.Equal(t, map[int64][]string{
		eu1:       {"in_progress", "success", "inactive"},
		us:        {"in_progress", "success"},
		transient: {"in_progress", "success"},
		failed:    {"in_progress", "failure"},
		eu2:       {"in_progress", "success", "success"},
	}, states())
	// Success on an older deployment (a rollback) makes the newer one inactive.
	post(eu1, `{"state":"success"}`)
	assert.Equal(t, []string{"in_progress", "success", "success", "inactive"}, states()[eu2])
	assert.Equal(t, []string{"in_progress", "success", "inactive", "success"}, states()[eu1])
}

func TestListDeployments(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	var ids []int64
	for i := range 45 {
		env := []string{"production", "staging", "production/prod-eu"}[i%3]
		ids = append(ids, s.AddDeployment(Deployment{Ref: fmt.Sprintf("v%d", i%2), Environment: env, Task: []string{"deploy", "deploy:migrate"}[i%5/4]}))
	}
	list := func(query string) ([]int64, string) {
		var out []map[string]any
		resp := send(t, "GET", s.URL+"/repos/o/r/deployments"+query, "", &out)
		require.Equal(t, 200, resp.StatusCode)
		got := []int64{}
		for _, d := range out {
			got = append(got, int64(d["id"].(float64)))
		}
		return got, resp.Header.Get("Link")
	}
	all, link := list("")
	assert.Len(t, all, 30, "30 per page by default")
	assert.Equal(t, ids[44], all[0], "newest first")
	assert.Contains(t, link, `page=2&per_page=30>; rel="next"`)
	rest, link := list("?page=2")
	assert.Len(t, rest, 15)
	assert.Equal(t, ids[0], rest[14])
	assert.NotContains(t, link, "next")

	eu, _ := list("?environment=production%2Fprod-eu&per_page=100")
	assert.Len(t, eu, 15)
	assert.Equal(t, ids[44], eu[0])
	v1eu, _ := list("?environment=production%2Fprod-eu&ref=v1&per_page=100")
	assert.Len(t, v1eu, 7)
	migrate, _ := list("?task=deploy:migrate&per_page=100")
	assert.Len(t, migrate, 9)
	bySHA, _ := list("?sha=" + s.Deployments()[1].SHA + "&per_page=100")
	assert.Len(t, bySHA, 22, "every deployment of ref v1")
	none, _ := list("?environment=qa")
	assert.Empty(t, none)
}

func TestDeploymentFaults(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	s.FailNextBody("POST", "/repos/o/r/deployments", 1, http.StatusForbidden, http.Header{"Retry-After": {"5"}},
		`{"message":"You have exceeded a secondary rate limit","documentation_url":"https://docs.github.com/rest#secondary-rate-limits"}`)
	s.FailNext("POST", "/repos/o/r/deployments/", 1, http.StatusInternalServerError, nil)
	resp := send(t, "POST", s.URL+"/repos/o/r/deployments", `{"ref":"main"}`, nil)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	var d map[string]any
	require.Equal(t, 201, send(t, "POST", s.URL+"/repos/o/r/deployments", `{"ref":"main"}`, &d).StatusCode)
	statuses := fmt.Sprintf("%s/repos/o/r/deployments/%d/statuses", s.URL, int64(d["id"].(float64)))
	assert.Equal(t, 500, send(t, "POST", statuses, `{"state":"success"}`, nil).StatusCode)
	assert.Equal(t, 201, send(t, "POST", statuses, `{"state":"success"}`, nil).StatusCode)
	assert.Equal(t, []string{"success"}, s.Deployments()[0].States())
	assert.Equal(t, 4, s.WriteCalls())
}
