package release

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/ghretry"
)

// upsert creates or updates the release, uploads the assets and publishes.
func (p *Publisher) upsert(ctx context.Context, cfg Config, res *Result, rel *github.RepositoryRelease) error {
	name := cfg.Tag
	makeLatest := cfg.MakeLatest
	if makeLatest == "" {
		makeLatest = "true"
	}
	if rel == nil {
		// A release with assets stays a draft until they are all up, so
		// nobody downloads a half-attached release.
		draft := cfg.Draft || len(res.Assets) > 0
		body := MergeBody("", res.Notes, cfg.Mode, false)
		req := github.CreateReleaseRequest{TagName: cfg.Tag, Name: &name, Body: &body, Draft: &draft, Prerelease: &res.Prerelease}
		if !draft {
			req.MakeLatest = &makeLatest
		}
		var created *github.RepositoryRelease
		tries := 0
		err := p.do(ctx, "create release", func() error {
			tries++
			if tries > 1 {
				// The failed create may have gone through: look before creating again.
				if again, ferr := p.findRelease(ctx, cfg.Owner, cfg.Repo, cfg.Tag); ferr == nil && again != nil {
					created = again
					return nil
				}
			}
			var err error
			created, _, err = p.Client.Repositories.CreateRelease(ctx, cfg.Owner, cfg.Repo, req)
			return err
		})
		res.Created = true
		if err != nil {
			return fmt.Errorf("create release %s: %w", cfg.Tag, err)
		}
		rel = created
		p.log().Infof("created release %d (draft: %v)", rel.ID, rel.Draft)
	} else {
		body := MergeBody(rel.GetBody(), res.Notes, cfg.Mode, true)
		req := github.UpdateReleaseRequest{Name: &name, Body: &body, Prerelease: &res.Prerelease}
		if rel.Draft && cfg.Draft {
			req.Draft = &cfg.Draft
		}
		if !rel.Draft && !cfg.Draft {
			req.MakeLatest = &makeLatest
		}
		if rel.Draft && !cfg.Draft && len(res.Assets) == 0 {
			// Nothing to upload: publish in the same call.
			f := false
			req.Draft, req.MakeLatest = &f, &makeLatest
		}
		var updated *github.RepositoryRelease
		err := p.do(ctx, "update release", func() error {
			var err error
			updated, _, err = p.Client.Repositories.UpdateRelease(ctx, cfg.Owner, cfg.Repo, rel.ID, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("update release %d: %w", rel.ID, err)
		}
		rel = updated
		p.log().Infof("updated release %d (mode %s)", rel.ID, cfg.Mode)
	}
	res.ReleaseID, res.URL, res.UploadURL, res.Draft = rel.ID, rel.HTMLURL, rel.UploadURL, rel.Draft

	if len(res.Assets) > 0 {
		if err := p.uploadAll(ctx, cfg, res, rel); err != nil {
			return err
		}
	}
	if rel.Draft && !cfg.Draft {
		f := false
		req := github.UpdateReleaseRequest{Draft: &f, MakeLatest: &makeLatest}
		var published *github.RepositoryRelease
		err := p.do(ctx, "publish release", func() error {
			var err error
			published, _, err = p.Client.Repositories.UpdateRelease(ctx, cfg.Owner, cfg.Repo, rel.ID, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("publish release %d: %w", rel.ID, err)
		}
		rel = published
		p.log().Infof("published release %d", rel.ID)
	}
	res.URL, res.UploadURL, res.Draft = rel.HTMLURL, rel.UploadURL, rel.Draft
	return nil
}

// uploadAll attaches every asset: an asset already there with the same
// digest and size is kept, one with other content is deleted and uploaded again.
func (p *Publisher) uploadAll(ctx context.Context, cfg Config, res *Result, rel *github.RepositoryRelease) error {
	end := p.log().Group(fmt.Sprintf("Upload %d asset(s)", len(res.Assets)))
	defer end()
	existing := map[string]*github.ReleaseAsset{}
	if !res.Created {
		list, err := p.listAssets(ctx, cfg, rel.ID)
		if err != nil {
			return err
		}
		for _, a := range list {
			existing[a.GetName()] = a
		}
	}
	var failed []string
	for _, a := range res.Assets {
		if old, ok := existing[a.Name]; ok {
			if old.GetDigest() == "sha256:"+a.SHA256 && int64(old.GetSize()) == a.Size {
				p.log().Infof("%s is already attached with sha256 %s", a.Name, a.SHA256)
				res.Skipped = append(res.Skipped, a.Name)
				continue
			}
			if err := p.deleteAsset(ctx, cfg, old.GetID()); err != nil {
				failed = append(failed, fmt.Sprintf("%s: delete old copy: %v", a.Name, err))
				continue
			}
			p.log().Infof("deleted the old %s", a.Name)
		}
		if err := p.upload(ctx, cfg, rel, a); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", a.Name, err))
			continue
		}
		res.Uploaded = append(res.Uploaded, a.Name)
	}
	if len(failed) > 0 {
		state := "it stays a draft; run again to finish"
		if !rel.Draft {
			state = "run again to finish"
		}
		return fmt.Errorf("release %d: %d asset(s) failed (%s):\n%s", rel.ID, len(failed), state, strings.Join(failed, "\n"))
	}
	return nil
}

func (p *Publisher) listAssets(ctx context.Context, cfg Config, id int64) ([]*github.ReleaseAsset, error) {
	var all []*github.ReleaseAsset
	opt := &github.ListOptions{PerPage: 100}
	for {
		var page []*github.ReleaseAsset
		var resp *github.Response
		err := p.do(ctx, "list assets", func() error {
			var err error
			page, resp, err = p.Client.Repositories.ListReleaseAssets(ctx, cfg.Owner, cfg.Repo, id, opt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list assets of release %d: %w", id, err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opt.Page = resp.NextPage
	}
}

func (p *Publisher) deleteAsset(ctx context.Context, cfg Config, id int64) error {
	return p.do(ctx, "delete asset", func() error {
		resp, err := p.Client.Repositories.DeleteReleaseAsset(ctx, cfg.Owner, cfg.Repo, id)
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil // already gone
		}
		return err
	})
}

// alreadyExists reports a 422 already_exists answer to an upload.
func alreadyExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == "already_exists" {
			return true
		}
	}
	return false
}

// upload sends one file, reopening it for every try so a retried request has
// its full body. A 422 already_exists (a concurrent or half-failed earlier
// upload) is resolved by deleting that asset and trying again.
func (p *Publisher) upload(ctx context.Context, cfg Config, rel *github.RepositoryRelease, a Asset) error {
	conflicts := 0
	return p.do(ctx, "upload "+a.Name, func() error {
		f, err := os.Open(a.Path)
		if err != nil {
			return ghretry.Permanent(err)
		}
		defer f.Close()
		got, _, err := p.Client.Repositories.UploadReleaseAssetFromRelease(ctx, rel, &github.UploadOptions{Name: a.Name}, f, a.Size)
		if alreadyExists(err) && conflicts < 2 {
			conflicts++
			p.log().Warnf("%s already exists on release %d (a concurrent upload?); replacing it", a.Name, rel.ID)
			list, lerr := p.listAssets(ctx, cfg, rel.ID)
			if lerr != nil {
				return lerr
			}
			for _, x := range list {
				if x.GetName() == a.Name {
					if derr := p.deleteAsset(ctx, cfg, x.GetID()); derr != nil {
						return derr
					}
				}
			}
			return ghretry.ErrRetryNow
		}
		if err != nil {
			return err
		}
		if got.GetSize() != 0 && int64(got.GetSize()) != a.Size {
			return fmt.Errorf("uploaded %s has %d bytes, want %d", a.Name, got.GetSize(), a.Size)
		}
		if d := got.GetDigest(); d != "" && d != "sha256:"+a.SHA256 {
			return fmt.Errorf("uploaded %s has digest %s, want sha256:%s", a.Name, d, a.SHA256)
		}
		p.log().Infof("uploaded %s (%d bytes, sha256 %s)", a.Name, a.Size, a.SHA256)
		return nil
	})
}
