# The whole test suite: `make test`. With PALISADE_TEST_POSTGRES_URL and
# PALISADE_TEST_REDIS_URL set (as .ci/run does) the PostgreSQL and Redis
# tests run too; without them they skip, saying so.
GO ?= go
PKGS ?= ./...

.PHONY: test lint bench load build fuzz vulncheck sbom faults

# go.mod's toolchain line pins the Go release the module is built, tested
# and checked for vulnerabilities with; `auto` lets the go command fetch
# that release through the module proxy when the installed one is older
# (a go env of GOTOOLCHAIN=local would otherwise ignore the line). An
# explicit GOTOOLCHAIN in the environment wins.
export GOTOOLCHAIN ?= auto

# The suite's JSON runs through testsummary, which prints what plain go test
# would and ends with the tests that were skipped and why (without
# PostgreSQL and Redis configured, their tests skip), so a skip is never
# mistaken for "ok".
SHELL := /bin/bash
test:
	set -o pipefail; $(GO) test -race -count=1 -timeout 15m -json $(PKGS) | $(GO) run ./internal/devtools/testsummary

# The fault scenarios at full size: the real binary killed during a flood
# of 10,000 deliveries, its PostgreSQL and Redis restarted, its model and
# platforms failing, its disk full, its listener flooded. Each scenario
# prints a table of its figures. make test runs the same scenarios with
# small counts.
faults:
	$(GO) test -tags faults -count=1 -timeout 90m -v -run '^TestFaults$$' ./internal/faulttest

# staticcheck is pinned in tools.go.mod, a module file of its own so that
# go.mod does not carry the linter's dependencies; the first run downloads it.
# go mod verify checks that the downloaded dependencies of both module files
# still hash to what go.sum and tools.go.sum recorded.
lint:
	$(GO) mod verify
	$(GO) mod verify -modfile=tools.go.mod
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool -modfile=tools.go.mod staticcheck $(PKGS)

# govulncheck (pinned in tools.go.mod) on the module, against a copy of the
# Go vulnerability database built from golang.org/x/vulndb at the version
# internal/devtools/vulncheck pins; the copy is built once and kept in the
# go build cache. Fails when the module calls a function with a known
# vulnerability. make test runs the same check (and proves it can fail).
vulncheck:
	$(GO) run ./internal/devtools/vulncheck ./...

# A CycloneDX list of the module's dependencies with their versions and the
# licenses found in their LICENSE files.
SBOM ?= sbom.cdx.json
sbom:
	$(GO) run ./internal/devtools/sbom -o $(SBOM)

# Benchmarks (B1–B6 of SPEC.md). Each prints its ratio against a reference
# measured in the same run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $(PKGS)

# The end-to-end load harness: builds palisade and a bare net/http
# reference, starts both on loopback (SQLite, and PostgreSQL too when
# PALISADE_TEST_POSTGRES_URL names a server) and prints each path's
# throughput, its ratio to the reference, p50/p99, server CPU per request
# and resident memory. LOADFLAGS passes options, e.g.
# LOADFLAGS='-rounds 1 -profile /tmp/prof' (go run ./internal/loadtest/cmd/load -help).
LOADFLAGS ?=
load:
	$(GO) run ./internal/loadtest/cmd/load $(LOADFLAGS)

# The binary carries its commit and the commit's date (palisade --version).
# The go tool stamps them itself only in a plain clone (not in a git
# worktree, and not when GOFLAGS says -buildvcs=false), so they are also
# passed to the linker; the stamp, when present, wins.
BIN ?= palisade
BUILDENV ?= CGO_ENABLED=0
BUILDFLAGS ?= -trimpath
COMMIT := $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null || c=$$c-dirty; echo $$c; })
COMMIT_DATE := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
build:
	$(BUILDENV) $(GO) build $(BUILDFLAGS) -buildvcs=auto -ldflags "-X github.com/palisadehq/palisade/internal/cli.linkedCommit=$(COMMIT) -X github.com/palisadehq/palisade/internal/cli.linkedDate=$(COMMIT_DATE)" -o $(BIN) ./cmd/palisade

# Runs each fuzz test for a short while; the seed corpora in testdata/ run
# as part of `make test` already.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
