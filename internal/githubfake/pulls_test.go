package githubfake

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPulls(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	for n := 1; n <= 35; n++ {
		s.AddPull(Pull{Number: n, Title: fmt.Sprintf("change %d", n)})
	}
	s.AddPull(Pull{Number: 36, HeadRepo: "mallory/r", HeadRef: "main", HeadSHA: "0123456789abcdef0123456789abcdef01234567", User: "mallory"})
	s.AddPull(Pull{Number: 37, HeadRepo: "-"})
	s.SetPullState(3, "closed", true)
	s.SetPullState(4, "closed", false)
	list := func(query string) ([]int, string, int) {
		var out []map[string]any
		resp := send(t, "GET", s.URL+"/repos/o/r/pulls"+query, "", nil)
		if resp.StatusCode != 200 {
			return nil, "", resp.StatusCode
		}
		send(t, "GET", s.URL+"/repos/o/r/pulls"+query, "", &out)
		var got []int
		for _, p := range out {
			got = append(got, int(p["number"].(float64)))
		}
		return got, resp.Header.Get("Link"), 200
	}
	open, link, _ := list("")
	assert.Len(t, open, 30, "open by default, 30 a page")
	assert.Equal(t, 37, open[0], "newest first")
	assert.Contains(t, link, `rel="next"`)
	rest, _, _ := list("?page=2")
	assert.Len(t, rest, 5)
	closed, _, _ := list("?state=closed")
	assert.Equal(t, []int{4, 3}, closed)
	all, _, _ := list("?state=all&per_page=100")
	assert.Len(t, all, 37)
	_, _, code := list("?state=merged")
	assert.Equal(t, 422, code)

	var p map[string]any
	require.Equal(t, 200, send(t, "GET", s.URL+"/repos/o/r/pulls/36", "", &p).StatusCode)
	assert.Equal(t, "open", p["state"])
	head := p["head"].(map[string]any)
	assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", head["sha"])
	assert.Equal(t, "mallory:main", head["label"])
	assert.Equal(t, "mallory/r", head["repo"].(map[string]any)["full_name"])
	assert.Equal(t, true, head["repo"].(map[string]any)["fork"])
	assert.Equal(t, "o/r", p["base"].(map[string]any)["repo"].(map[string]any)["full_name"])
	assert.Equal(t, "mallory", p["user"].(map[string]any)["login"])
	send(t, "GET", s.URL+"/repos/o/r/pulls/3", "", &p)
	assert.Equal(t, "closed", p["state"])
	assert.Equal(t, true, p["merged"])
	assert.Contains(t, p, "closed_at")
	send(t, "GET", s.URL+"/repos/o/r/pulls/37", "", &p)
	assert.Nil(t, p["head"].(map[string]any)["repo"], "a deleted fork has no head repository")
	assert.Equal(t, 404, send(t, "GET", s.URL+"/repos/o/r/pulls/99", "", nil).StatusCode)
	assert.Len(t, s.Pulls(), 37)
}

func TestComments(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	s.AddPull(Pull{Number: 12})
	s.AddPull(Pull{Number: 13})
	other := s.AddComment(Comment{Issue: 12, Body: "LGTM", User: "reviewer"})
	for i := range 40 {
		s.AddComment(Comment{Issue: 12, Body: fmt.Sprintf("note %d", i), User: "renovate[bot]"})
	}
	s.AddComment(Comment{Issue: 13, Body: "elsewhere"})
	url := s.URL + "/repos/o/r/issues/12/comments"

	var created map[string]any
	require.Equal(t, 201, send(t, "POST", url, `{"body":"<!-- m -->\nhello"}`, &created).StatusCode)
	id := int64(created["id"].(float64))
	assert.Equal(t, "github-actions[bot]", created["user"].(map[string]any)["login"])
	assert.Equal(t, "Bot", created["user"].(map[string]any)["type"])
	assert.Equal(t, fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, id), created["url"])

	var page1, page2 []map[string]any
	resp := send(t, "GET", url+"?per_page=30", "", &page1)
	assert.Contains(t, resp.Header.Get("Link"), `rel="next"`)
	send(t, "GET", url+"?per_page=30&page=2", "", &page2)
	require.Len(t, page1, 30)
	require.Len(t, page2, 12)
	assert.Equal(t, float64(other), page1[0]["id"], "oldest first")
	assert.Equal(t, float64(id), page2[11]["id"])

	var edited map[string]any
	require.Equal(t, 200, send(t, "PATCH", fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, id), `{"body":"<!-- m -->\nbye"}`, &edited).StatusCode)
	assert.Equal(t, "<!-- m -->\nbye", edited["body"])
	assert.NotEqual(t, created["updated_at"], edited["updated_at"])
	var got map[string]any
	send(t, "GET", fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, id), "", &got)
	assert.Equal(t, "<!-- m -->\nbye", got["body"])
	comments := s.Comments(12)
	require.Len(t, comments, 42)
	assert.Equal(t, Comment{ID: id, Issue: 12, Body: "<!-- m -->\nbye", User: "github-actions[bot]", Updated: 1}, comments[41])

	for _, tc := range []struct {
		name, method, url, body string
		want                    int
	}{
		{"no body", "POST", url, `{}`, 422},
		{"empty body", "PATCH", fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, id), `{"body":""}`, 422},
		{"too long", "POST", url, `{"body":"` + strings.Repeat("x", 65537) + `"}`, 422},
		{"not JSON", "POST", url, `{`, 400},
		{"no such pull request", "POST", s.URL + "/repos/o/r/issues/99/comments", `{"body":"x"}`, 404},
		{"no such pull request (list)", "GET", s.URL + "/repos/o/r/issues/99/comments", ``, 404},
		{"no such comment", "PATCH", s.URL + "/repos/o/r/issues/comments/1", `{"body":"x"}`, 404},
		{"delete", "DELETE", fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, other), ``, 204},
		{"deleted", "GET", fmt.Sprintf("%s/repos/o/r/issues/comments/%d", s.URL, other), ``, 404},
	} {
		assert.Equal(t, tc.want, send(t, tc.method, tc.url, tc.body, nil).StatusCode, tc.name)
	}
	assert.Len(t, s.Comments(12), 41)
	assert.Len(t, s.Comments(13), 1)
}

func TestEnvironments(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	s.AddDeployment(Deployment{Ref: "main", Environment: "production/prod-eu"})
	var d map[string]any
	require.Equal(t, 201, send(t, "POST", s.URL+"/repos/o/r/deployments", `{"ref":"main","environment":"pr-12","transient_environment":true}`, &d).StatusCode)
	require.Equal(t, 201, send(t, "POST", fmt.Sprintf("%s/repos/o/r/deployments/%d/statuses", s.URL, int64(d["id"].(float64))),
		`{"state":"queued","environment":"pr-12-moved"}`, nil).StatusCode)
	assert.Equal(t, []string{"pr-12", "pr-12-moved", "production/prod-eu"}, s.Environments())

	var list map[string]any
	send(t, "GET", s.URL+"/repos/o/r/environments", "", &list)
	assert.Equal(t, float64(3), list["total_count"])
	var env map[string]any
	require.Equal(t, 200, send(t, "GET", s.URL+"/repos/o/r/environments/production%2Fprod-eu", "", &env).StatusCode)
	assert.Equal(t, "production/prod-eu", env["name"])
	assert.Equal(t, 404, send(t, "GET", s.URL+"/repos/o/r/environments/qa", "", nil).StatusCode)

	s.ForbidEnvironmentDeletes(true)
	var refused map[string]any
	assert.Equal(t, 403, send(t, "DELETE", s.URL+"/repos/o/r/environments/pr-12", "", &refused).StatusCode)
	assert.Equal(t, "Resource not accessible by integration", refused["message"])
	assert.Len(t, s.Environments(), 3)
	s.ForbidEnvironmentDeletes(false)
	assert.Equal(t, 204, send(t, "DELETE", s.URL+"/repos/o/r/environments/pr-12", "", nil).StatusCode)
	assert.Equal(t, 404, send(t, "DELETE", s.URL+"/repos/o/r/environments/pr-12", "", nil).StatusCode)
	assert.Equal(t, 204, send(t, "DELETE", s.URL+"/repos/o/r/environments/production%2Fprod-eu", "", nil).StatusCode)
	assert.Equal(t, []string{"pr-12-moved"}, s.Environments())
	assert.Len(t, s.Deployments(), 2, "deleting an environment leaves its deployments in the fake")
}

// TestAutoInactiveSkipsTransient: GitHub's auto_inactive leaves earlier
// transient deployments of the environment alone, so a preview must mark its
// own old deployments inactive.
func TestAutoInactiveSkipsTransient(t *testing.T) {
	s := New("o", "r")
	defer s.Close()
	create := func() int64 {
		var d map[string]any
		require.Equal(t, 201, send(t, "POST", s.URL+"/repos/o/r/deployments",
			`{"ref":"main","environment":"pr-12","transient_environment":true,"production_environment":false}`, &d).StatusCode)
		id := int64(d["id"].(float64))
		require.Equal(t, 201, send(t, "POST", fmt.Sprintf("%s/repos/o/r/deployments/%d/statuses", s.URL, id), `{"state":"success"}`, nil).StatusCode)
		return id
	}
	first := create()
	create()
	for _, d := range s.Deployments() {
		assert.Equal(t, []string{"success"}, d.States(), "deployment %d (first %d): transient ones stay active", d.ID, first)
		assert.False(t, d.ProductionEnvironment)
	}
}
