package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
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
