package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The bill of materials of this module parses as CycloneDX and lists every
// module go.mod requires, at the required version, with a license each.
func TestBillOfMaterialsListsEveryRequirement(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	out, err := generate(context.Background(), "go", root)
	if err != nil {
		t.Fatal(err)
	}
	var got bom
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the output does not parse: %v", err)
	}
	if got.BOMFormat != "CycloneDX" || got.SpecVersion != "1.5" {
		t.Errorf("bomFormat %q specVersion %q", got.BOMFormat, got.SpecVersion)
	}
	if got.Metadata.Component.Name != "github.com/palisadehq/palisade" {
		t.Errorf("metadata names %q as the component", got.Metadata.Component.Name)
	}
	var mod goMod
	if err := goJSON(context.Background(), "go", root, &mod, "mod", "edit", "-json"); err != nil {
		t.Fatal(err)
	}
	if len(mod.Require) < 10 {
		t.Fatalf("go.mod lists %d requirements; is the test running in the module?", len(mod.Require))
	}
	byName := map[string]component{}
	for _, c := range got.Components {
		byName[c.Name] = c
	}
	for _, r := range mod.Require {
		c, ok := byName[r.Path]
		if !ok {
			t.Errorf("%s is not listed", r.Path)
			continue
		}
		if c.Version != r.Version || c.PURL != "pkg:golang/"+r.Path+"@"+r.Version {
			t.Errorf("%s listed at version %q (purl %q), go.mod requires %s", r.Path, c.Version, c.PURL, r.Version)
		}
		if len(c.Licenses) == 0 {
			t.Errorf("%s has no license", r.Path)
		}
		for _, l := range c.Licenses {
			if (l.License == nil || l.License.ID == "") && l.Expression == "" {
				t.Errorf("%s has an empty license entry", r.Path)
			}
		}
		if !slices.Contains(got.Dependencies[0].DependsOn, c.BOMRef) {
			t.Errorf("the module's dependencies do not name %s", c.BOMRef)
		}
	}
	if len(got.Components) != len(mod.Require) {
		t.Errorf("%d components for %d requirements", len(got.Components), len(mod.Require))
	}
	// The standard library's licence, as it appears on every Go module of
	// the Go project, is recognised as such.
	if l := byName["golang.org/x/text"].Licenses; len(l) != 1 || l[0].License == nil || l[0].License.ID != "BSD-3-Clause" {
		t.Errorf("golang.org/x/text licenses %+v, want BSD-3-Clause", l)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Permission is hereby granted, free of charge, to any person obtaining a copy\nof this software", []string{"MIT"}},
		{"Apache License\n Version 2.0, January 2004", []string{"Apache-2.0"}},
		{"Redistribution and use in source and binary forms, with or without\nmodification, are permitted provided that ... * Neither the name of Google Inc. nor the names of its\ncontributors", []string{"BSD-3-Clause"}},
		{"Redistribution and use in source and binary forms, with or without modification, are permitted provided that the following conditions are met: 1. ... 2. ...", []string{"BSD-2-Clause"}},
		{"Permission to use, copy, modify, and/or distribute this software for any\npurpose with or without fee is hereby granted", []string{"ISC"}},
		{"Mozilla Public License Version 2.0\n==================================", []string{"MPL-2.0"}},
		{"This is free and unencumbered software released into the public domain.", []string{"Unlicense"}},
		{"All rights reserved. You may not use this.", nil},
	} {
		if got := classify(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("classify(%.40q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// A module whose license files name no license known here is refused by
// name rather than listed without one.
func TestUnrecognisedLicenseIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "LICENSE"), []byte("All rights reserved."), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("Permission is hereby granted, free of charge, to any person obtaining a copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if licenses, err := licensesOf(dir); err == nil {
		t.Errorf("licensesOf = %+v for an unrecognised LICENSE (a README is not a license file), want an error", licenses)
	}
	if err := os.WriteFile(filepath.Join(dir, "COPYING"), []byte("Mozilla Public License Version 2.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if licenses, err := licensesOf(dir); err != nil || len(licenses) != 1 || licenses[0].License.ID != "MPL-2.0" {
		t.Errorf("licensesOf = %+v, %v, want MPL-2.0 from COPYING", licenses, err)
	}
}

// A license file worded its own way that declares an SPDX expression is
// listed with that expression.
func TestDeclaredLicense(t *testing.T) {
	dir := t.TempDir()
	text := "/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-only */\n\nRedistribution and use in source and binary forms of psx, with or without..."
	if err := os.WriteFile(filepath.Join(dir, "License"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := licensesOf(dir)
	if err != nil || len(got) != 1 || got[0].Expression != "BSD-3-Clause OR GPL-2.0-only" {
		t.Fatalf("licensesOf = %+v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "License"), []byte("SPDX-License-Identifier: rm -rf /; echo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := licensesOf(dir); err == nil {
		t.Fatal("a malformed declaration was accepted")
	}
}
