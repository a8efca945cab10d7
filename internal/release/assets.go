package release

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ChecksumsName is the name of the checksums asset.
const ChecksumsName = "SHA256SUMS"

// Asset is one file to attach.
type Asset struct {
	Name   string // asset name (the file's base name)
	Path   string
	Size   int64
	SHA256 string // hex
}

// ExpandFiles expands globs (one per entry, filepath.Glob syntax, relative to
// dir unless absolute) into assets with their sizes and SHA-256 digests.
// Directories are skipped; two files with the same base name are an error
// (GitHub names assets by base name). A glob that matches nothing is an error
// when failOnUnmatched, else returned in unmatched.
func ExpandFiles(dir string, globs []string, failOnUnmatched bool) (assets []Asset, unmatched []string, err error) {
	seen := map[string]string{}
	for _, g := range globs {
		pattern := g
		if !filepath.IsAbs(pattern) && dir != "" {
			pattern = filepath.Join(dir, pattern)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, nil, fmt.Errorf("files: bad glob %q: %w", g, err)
		}
		sort.Strings(matches)
		n := 0
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, nil, fmt.Errorf("files: %w", err)
			}
			if st.IsDir() {
				continue
			}
			name := filepath.Base(m)
			if prev, ok := seen[name]; ok {
				if prev == m {
					n++
					continue
				}
				return nil, nil, fmt.Errorf("files: %s and %s would both be uploaded as %q", prev, m, name)
			}
			if name == ChecksumsName {
				return nil, nil, fmt.Errorf("files: %s is the name of the checksums asset; rename it or set checksums: false", m)
			}
			sum, err := fileSHA256(m)
			if err != nil {
				return nil, nil, fmt.Errorf("files: %w", err)
			}
			seen[name] = m
			assets = append(assets, Asset{Name: name, Path: m, Size: st.Size(), SHA256: sum})
			n++
		}
		if n == 0 {
			if failOnUnmatched {
				return nil, nil, fmt.Errorf("files: %q matches no file (set fail-on-unmatched-files: false to allow this)", g)
			}
			unmatched = append(unmatched, g)
		}
	}
	return assets, unmatched, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Checksums renders assets in sha256sum format ("<hex>  <name>"), sorted by name.
func Checksums(assets []Asset) string {
	sorted := append([]Asset(nil), assets...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, a := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", a.SHA256, a.Name)
	}
	return b.String()
}

// WriteChecksums writes the SHA256SUMS file of assets into dir and returns it as an asset.
func WriteChecksums(dir string, assets []Asset) (Asset, error) {
	content := []byte(Checksums(assets))
	path := filepath.Join(dir, ChecksumsName)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return Asset{}, fmt.Errorf("write %s: %w", ChecksumsName, err)
	}
	sum := sha256.Sum256(content)
	return Asset{Name: ChecksumsName, Path: path, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}, nil
}
