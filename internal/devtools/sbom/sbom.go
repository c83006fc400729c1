package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The parts of CycloneDX 1.5 written here
// (https://cyclonedx.org/docs/1.5/json/).
type (
	bom struct {
		BOMFormat    string       `json:"bomFormat"`
		SpecVersion  string       `json:"specVersion"`
		Version      int          `json:"version"`
		Metadata     metadata     `json:"metadata"`
		Components   []component  `json:"components"`
		Dependencies []dependency `json:"dependencies"`
	}
	metadata struct {
		Component component `json:"component"`
	}
	component struct {
		Type       string     `json:"type"`
		BOMRef     string     `json:"bom-ref"`
		Name       string     `json:"name"`
		Version    string     `json:"version,omitempty"`
		PURL       string     `json:"purl"`
		Scope      string     `json:"scope,omitempty"`
		Licenses   []license  `json:"licenses,omitempty"`
		Properties []property `json:"properties,omitempty"`
	}
	// license is one of CycloneDX's license choices: an SPDX id, or an
	// SPDX expression when a module carries several licenses.
	license struct {
		License    *licenseID `json:"license,omitempty"`
		Expression string     `json:"expression,omitempty"`
	}
	licenseID struct {
		ID string `json:"id"`
	}
	property struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	dependency struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}
)

// goMod is what `go mod edit -json` says of go.mod.
type goMod struct {
	Module    struct{ Path string }
	Toolchain string
	Require   []struct {
		Path     string
		Version  string
		Indirect bool
	}
}

// generate returns the bill of materials for the module in dir.
func generate(ctx context.Context, goCmd, dir string) ([]byte, error) {
	var mod goMod
	if err := goJSON(ctx, goCmd, dir, &mod, "mod", "edit", "-json"); err != nil {
		return nil, err
	}
	args := []string{"mod", "download", "-json"}
	for _, r := range mod.Require {
		args = append(args, r.Path+"@"+r.Version)
	}
	dirs := map[string]string{}
	if len(mod.Require) > 0 {
		var downloaded []struct{ Path, Version, Dir, Error string }
		if err := goJSON(ctx, goCmd, dir, &downloaded, args...); err != nil {
			return nil, err
		}
		for _, d := range downloaded {
			if d.Error != "" {
				return nil, fmt.Errorf("downloading %s@%s: %s", d.Path, d.Version, d.Error)
			}
			dirs[d.Path+"@"+d.Version] = d.Dir
		}
	}

	main := component{Type: "application", Name: mod.Module.Path, PURL: purl(mod.Module.Path, "")}
	main.BOMRef = main.PURL
	if mod.Toolchain != "" {
		main.Properties = append(main.Properties, property{Name: "go:toolchain", Value: mod.Toolchain})
	}
	b := bom{BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1, Metadata: metadata{Component: main}, Components: []component{}}
	root := dependency{Ref: main.BOMRef, DependsOn: []string{}}
	for _, r := range mod.Require {
		modDir := dirs[r.Path+"@"+r.Version]
		if modDir == "" {
			return nil, fmt.Errorf("the go command did not download %s@%s", r.Path, r.Version)
		}
		licenses, err := licensesOf(modDir)
		if err != nil {
			return nil, fmt.Errorf("licenses of %s@%s: %w", r.Path, r.Version, err)
		}
		c := component{Type: "library", Name: r.Path, Version: r.Version, PURL: purl(r.Path, r.Version), Scope: "required", Licenses: licenses}
		c.BOMRef = c.PURL
		if r.Indirect {
			c.Properties = []property{{Name: "go:indirect", Value: "true"}}
		}
		b.Components = append(b.Components, c)
		root.DependsOn = append(root.DependsOn, c.BOMRef)
	}
	b.Dependencies = []dependency{root}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// purl is the package URL of a Go module (pkg:golang/<module path>@<version>).
func purl(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" {
		p += "@" + version
	}
	return p
}

// licensesOf is the CycloneDX license list of the module in dir: one SPDX
// id, or an SPDX expression joining several. No recognised license is an
// error.
func licensesOf(dir string) ([]license, error) {
	ids, err := moduleLicenses(dir)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		// A license file whose wording is its own may still declare
		// itself in SPDX terms (libcap's psx: BSD-3-Clause OR GPL-2.0-only).
		if expr, err := declaredLicense(dir); err != nil || expr != "" {
			if err != nil || !strings.ContainsAny(expr, " ()") {
				return []license{{License: &licenseID{ID: expr}}}, err
			}
			return []license{{Expression: expr}}, nil
		}
		return nil, errors.New("no known license recognised in its license files")
	case 1:
		return []license{{License: &licenseID{ID: ids[0]}}}, nil
	}
	return []license{{Expression: strings.Join(ids, " AND ")}}, nil
}

// moduleLicenses returns the SPDX ids of the licenses recognised in the
// license files at the root of a module's directory, sorted.
func moduleLicenses(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() || !isLicenseFile(e.Name()) {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, id := range classify(string(text)) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// spdxToken is one word of an SPDX license expression: an id, an
// operator or a parenthesis.
var spdxToken = regexp.MustCompile(`^(\(*[A-Za-z0-9][A-Za-z0-9.+-]*\)*|AND|OR|WITH)$`)

// declaredLicense is the SPDX expression a license file at the root of
// dir declares on an SPDX-License-Identifier line, or "".
func declaredLicense(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() || !isLicenseFile(e.Name()) {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		for line := range strings.SplitSeq(string(text), "\n") {
			_, expr, ok := strings.Cut(line, "SPDX-License-Identifier:")
			if !ok {
				continue
			}
			words := strings.Fields(strings.TrimSuffix(strings.TrimSpace(expr), "*/"))
			valid := len(words) > 0
			for _, w := range words {
				valid = valid && spdxToken.MatchString(w)
			}
			if valid {
				return strings.Join(words, " "), nil
			}
		}
	}
	return "", nil
}

func isLicenseFile(name string) bool {
	upper := strings.ToUpper(name)
	for _, prefix := range []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE"} {
		if strings.HasPrefix(upper, prefix) {
			return true
		}
	}
	return false
}

// classify names the licenses whose distinctive wording a license file
// holds, as SPDX ids. A file may hold several (one module ships MIT and
// Apache-2.0 parts in one file).
func classify(text string) []string {
	t := strings.Join(strings.Fields(strings.ToLower(text)), " ")
	var ids []string
	if strings.Contains(t, "apache license") && strings.Contains(t, "version 2.0") {
		ids = append(ids, "Apache-2.0")
	}
	if strings.Contains(t, "permission is hereby granted, free of charge, to any person obtaining a copy") {
		ids = append(ids, "MIT")
	}
	if strings.Contains(t, "redistribution and use in source and binary forms, with or without modification, are permitted") {
		if strings.Contains(t, "neither the name") || strings.Contains(t, "names of its contributors") || strings.Contains(t, "name of the copyright holder") {
			ids = append(ids, "BSD-3-Clause")
		} else {
			ids = append(ids, "BSD-2-Clause")
		}
	}
	if strings.Contains(t, "permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted") ||
		strings.Contains(t, "permission to use, copy, modify, and distribute this software for any purpose with or without fee is hereby granted") {
		ids = append(ids, "ISC")
	}
	if strings.Contains(t, "mozilla public license") && (strings.Contains(t, "version 2.0") || strings.Contains(t, "v. 2.0")) {
		ids = append(ids, "MPL-2.0")
	}
	if strings.Contains(t, "this is free and unencumbered software released into the public domain") {
		ids = append(ids, "Unlicense")
	}
	return ids
}

// goJSON runs a go command in dir and decodes its JSON output into v; a
// stream of objects (as go mod download -json prints) fills a slice.
func goJSON(ctx context.Context, goCmd, dir string, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(out) > 0 {
			// go mod download -json reports a failed module in its
			// output; decode it so the caller can say which.
			if decodeErr := decodeStream(out, v); decodeErr == nil {
				return nil
			}
		}
		return fmt.Errorf("go %s: %w: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(stderr.String()))
	}
	return decodeStream(out, v)
}

func decodeStream(out []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(out))
	list, isList := v.(*[]struct{ Path, Version, Dir, Error string })
	if !isList {
		return dec.Decode(v)
	}
	for dec.More() {
		var item struct{ Path, Version, Dir, Error string }
		if err := dec.Decode(&item); err != nil {
			return err
		}
		*list = append(*list, item)
	}
	return nil
}
