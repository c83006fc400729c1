package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The vulnerability data: golang.org/x/vulndb at a fixed commit, and the
// go.sum hash of that module version, so that the data checked against is
// exactly the data reviewed when the pin was moved. To refresh it, pick a
// newer version (`go list -m -versions golang.org/x/vulndb` lists none, as
// it has no tags: take the pseudo-version `go list -m
// golang.org/x/vulndb@master` prints), set both constants from `go mod
// download -json golang.org/x/vulndb@VERSION` (its Version and Sum), and
// run `make vulncheck`.
const (
	vulndbModule  = "golang.org/x/vulndb"
	vulndbVersion = "v0.0.0-20261105234957-e22db6528018"
	vulndbSum     = "h1:mfngRv0Yoh0VApsXKEN82CjD99kl7mtparN3bs3JnqI="
)

// dbLayout names the layout written below; a change to how the database is
// written changes it, so a database written by an older build of this
// command is not reused.
const dbLayout = "v1.1"

// ensureDB returns the directory of the database built from the pinned
// vulndb version, building it first when the build cache does not have it.
func ensureDB(ctx context.Context, goCmd string) (string, error) {
	cache, err := goEnv(ctx, goCmd, "GOCACHE")
	if err != nil {
		return "", err
	}
	if cache == "" || cache == "off" {
		return "", errors.New("the go build cache is off (GOCACHE); the vulnerability database is kept there")
	}
	dir := filepath.Join(cache, "palisade-vulndb", vulndbVersion+"-"+dbLayout)
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err == nil {
		return dir, nil
	}
	src, err := downloadVulndb(ctx, goCmd)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("creating the database directory: %w", err)
	}
	// Written beside its final place and renamed into it, so that a run
	// stopped half-way, or another run building at the same time, never
	// leaves a partial database where the next run would take it as whole.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return "", fmt.Errorf("creating the database directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	published, err := pseudoVersionTime(vulndbVersion)
	if err != nil {
		return "", err
	}
	if err := buildDB(filepath.Join(src, "data", "osv"), tmp, published); err != nil {
		return "", fmt.Errorf("building the vulnerability database from %s@%s: %w", vulndbModule, vulndbVersion, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "index", "modules.json")); statErr == nil {
			return dir, nil // another run finished first
		}
		return "", fmt.Errorf("putting the vulnerability database in place: %w", err)
	}
	return dir, nil
}

// downloadVulndb fetches the pinned vulndb version through the module
// proxy into the module cache and returns its directory there. The go
// command checks the download against the checksum database; the hash is
// also compared with the pinned one, so a changed pin is a reviewed change.
func downloadVulndb(ctx context.Context, goCmd string) (string, error) {
	// Run outside any module, so that the download neither needs nor
	// touches a go.mod or go.sum.
	work, err := os.MkdirTemp("", "vulndb-download-")
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", vulndbModule, err)
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", vulndbModule+"@"+vulndbVersion)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct {
		Dir, Sum, Error string
	}
	if jsonErr := json.Unmarshal(out, &info); jsonErr == nil && info.Error != "" {
		return "", fmt.Errorf("downloading %s@%s: %s", vulndbModule, vulndbVersion, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s@%s: %w: %s", vulndbModule, vulndbVersion, err, strings.TrimSpace(stderr.String()))
	}
	if info.Sum != vulndbSum {
		return "", fmt.Errorf("downloading %s@%s: hash %q, want the pinned %q", vulndbModule, vulndbVersion, info.Sum, vulndbSum)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("downloading %s@%s: the go command named no directory", vulndbModule, vulndbVersion)
	}
	return info.Dir, nil
}

// osvEntry holds the fields of an OSV entry that the indexes need; the
// entry itself is copied unchanged.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}

// The v1 database layout govulncheck reads from a directory
// (https://go.dev/security/vuln/database#api): index/db.json,
// index/modules.json, index/vulns.json and ID/<id>.json.
type (
	dbMeta struct {
		Modified time.Time `json:"modified"`
	}
	moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
)

// buildDB writes the v1 database for the OSV files in osvDir to out.
// The entries in vulndb's repository carry no modification time (it is
// set when the database is published), so the database's own time is the
// later of the entries' times and published, the time of the vulndb commit.
func buildDB(osvDir, out string, published time.Time) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", osvDir)
	}
	if err := os.MkdirAll(filepath.Join(out, "index"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		return err
	}
	meta := dbMeta{Modified: published.UTC()}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	seen := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("reading %s: %w", filepath.Base(f), err)
		}
		if e.ID == "" || e.ID+".json" != filepath.Base(f) {
			return fmt.Errorf("reading %s: entry id %q does not match the file name", filepath.Base(f), e.ID)
		}
		if seen[e.ID] {
			return fmt.Errorf("entry %s appears twice", e.ID)
		}
		seen[e.ID] = true
		if e.Modified.After(meta.Modified) {
			meta.Modified = e.Modified
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &moduleMeta{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: latestFixed(a.Ranges)})
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	slices.SortFunc(vulns, func(a, b vulnMeta) int { return strings.Compare(a.ID, b.ID) })
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		slices.SortFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *moduleMeta) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{"db.json": meta, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// latestFixed is the version from which no SEMVER range of the entry
// affects the module any more, or "" when there is none (never fixed, or
// reintroduced after the last fix). govulncheck skips an entry for a
// module version at or above it without reading the entry, so too low a
// value would hide a vulnerability; "" only costs reading the entry.
func latestFixed(ranges []osvRange) string {
	latest := ""
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && (latest == "" || semverLess(latest, e.Fixed)) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && (latest == "" || semverLess(latest, e.Introduced)) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// pseudoVersionTime is the commit time a Go pseudo-version carries
// (vX.Y.Z-yyyymmddhhmmss-commit).
func pseudoVersionTime(v string) (time.Time, error) {
	parts := strings.Split(v, "-")
	if len(parts) < 3 {
		return time.Time{}, fmt.Errorf("%s is not a pseudo-version", v)
	}
	stamp := parts[len(parts)-2]
	if i := strings.LastIndex(stamp, "."); i >= 0 {
		stamp = stamp[i+1:]
	}
	t, err := time.Parse("20060102150405", stamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a pseudo-version: %w", v, err)
	}
	return t, nil
}

func goEnv(ctx context.Context, goCmd, name string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func fileURL(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}
