package palisade_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The architecture, as a table the build is checked against: every package
// of the module has one layer, and a layer may import only the layers its
// rule names. A new package without a layer, or an import that crosses a
// boundary, fails TestLayers with the rule it broke.

type layer string

const (
	domain      layer = "domain"       // the vocabulary: ids, entities, roles, errors
	library     layer = "library"      // self-contained building blocks: crypto, limits, egress, providers
	storeSeam   layer = "store seam"   // the database interfaces
	storeImpl   layer = "store impl"   // the SQL and the drivers behind the seam
	useCase     layer = "use case"     // services: validation, policy, persistence, audit
	surface     layer = "surface"      // HTTP translators: API, admin UI, transports, the server
	wiring      layer = "wiring"       // the command that builds and connects everything
	testSupport layer = "test support" // fakes and fixtures for tests
)

// rules says what each layer may import besides the standard library and
// third-party modules, and why.
var rules = map[layer]struct {
	may []layer
	why string
}{
	domain:      {nil, "the domain vocabulary imports nothing of ours"},
	library:     {[]layer{domain, library}, "libraries know the domain vocabulary and each other, never storage, use cases or surfaces"},
	storeSeam:   {[]layer{domain, library}, "the database seam names data, never how it is stored or who uses it"},
	storeImpl:   {[]layer{domain, library, storeSeam, storeImpl}, "store implementations serve the seam and nothing above it"},
	useCase:     {[]layer{domain, library, storeSeam, useCase}, "use cases reach data through the seam only, never a driver, and never depend on a surface"},
	surface:     {[]layer{domain, library, useCase, surface}, "surfaces translate HTTP into use cases and never touch the store"},
	wiring:      {[]layer{domain, library, storeSeam, storeImpl, useCase, surface, wiring, testSupport}, "the wiring may build anything"},
	testSupport: {[]layer{domain, library, storeSeam, storeImpl, useCase, surface, testSupport}, "test helpers fake what they stand beside, never the wiring"},
}

// layers places every package of the module, by import path below the
// module path.
var layers = map[string]layer{
	"": domain, // the module root holds only these repository-wide tests

	"internal/palisade": domain,

	// The security self-test: a client of any deployment's URL, which
	// knows Palisade only from the outside.
	"internal/probe": library,

	"internal/secret":    library,
	"internal/dirlock":   library,
	"internal/validate":  library,
	"internal/redact":    library,
	"internal/pii":       library,
	"internal/auth":      library,
	"internal/ratelimit": library,
	// Invalidation of in-process caches across processes (Redis pub/sub,
	// PostgreSQL LISTEN/NOTIFY): knows only workspace ids, never the store.
	"internal/invalidate":    library,
	"internal/mail":          library,
	"internal/egress":        library,
	"internal/seal":          library,
	"internal/llm":           library,
	"internal/sse":           library,
	"internal/llm/openai":    library,
	"internal/llm/anthropic": library,
	"internal/llm/gemini":    library,
	"internal/config":        library,
	"internal/procargs":      library,
	"internal/stdwebhook":    library,
	// Bot workers: the framed protocol, the pool of worker processes and
	// their confinement, knowing nothing of what a task does.
	"internal/sandbox": library,
	// Reads hostile documents into text; runs in the bot's confined
	// worker as well as in the server.
	"internal/docparse":       library,
	"internal/store":          storeSeam,
	"internal/store/sqlstore": storeImpl,
	"internal/store/sqlite":   storeImpl,
	"internal/store/postgres": storeImpl,

	"internal/audit":        useCase,
	"internal/bot":          useCase,
	"internal/account":      useCase,
	"internal/export":       useCase,
	"internal/backup":       library,
	"internal/knowledge":    useCase,
	"internal/conversation": useCase,
	"internal/gateway":      useCase,
	"internal/idempotency":  useCase,
	"internal/job":          useCase,
	"internal/billing":      useCase,
	"internal/events":       useCase,
	// The channel service and its platform adapters: an adapter
	// implements channel.Platform, so it stands beside the service.
	"internal/channel":          useCase,
	"internal/channel/telegram": useCase,
	"internal/channel/whatsapp": useCase,
	"internal/channel/slack":    useCase,
	"internal/channel/discord":  useCase,
	// The Discord Gateway sessions: one per connected bot, owned by one
	// process through a lease, feeding the channel service.
	"internal/discordgateway": useCase,
	"internal/channel/widget": useCase,

	"internal/httpx":       surface,
	"internal/gatewayhttp": surface,
	"internal/api":         surface,
	"internal/admin":       surface,
	"internal/server":      surface,
	"internal/webhook":     surface,
	"internal/widget":      surface,

	"internal/cli": wiring,
	"cmd/palisade": wiring,

	// Development commands the Makefile runs (the test summary, the
	// vulnerability check, the SBOM); not in the release binary.
	"internal/devtools/testsummary": testSupport,
	"internal/devtools/vulncheck":   testSupport,
	"internal/devtools/sbom":        testSupport,

	"internal/servicetest":             testSupport,
	"internal/loadtest":                testSupport,
	"internal/loadtest/cmd/load":       testSupport,
	"internal/llm/llmtest":             testSupport,
	"internal/ratelimit/ratelimittest": testSupport,
	"internal/seal/sealtest":           testSupport,
	"internal/store/storetest":         testSupport,
	"internal/docparse/docparsetest":   testSupport,
	"internal/channel/channeltest":     testSupport,
	// The fault harness: runs the built binary as a child process and
	// breaks what it depends on.
	"internal/faulttest": testSupport,
}

const modulePath = "github.com/palisadehq/palisade"

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages runs `go list -json ./...`: the packages of the module with
// the imports of their non-test files, as the build sees them.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is the test running from the module root?", len(pkgs))
	}
	return pkgs
}

func relPath(importPath string) (string, bool) {
	if importPath == modulePath {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, modulePath+"/")
	return rel, ok
}

// TestLayers fails on a package without a layer and on an import its
// layer's rule does not allow, naming the rule.
func TestLayers(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		rel, _ := relPath(p.ImportPath)
		from, ok := layers[rel]
		if !ok {
			t.Errorf("package %s has no layer: add it to the layers table in layers_test.go", p.ImportPath)
			continue
		}
		rule := rules[from]
		for _, imp := range p.Imports {
			irel, ours := relPath(imp)
			if !ours {
				continue
			}
			to, ok := layers[irel]
			if !ok {
				continue // reported as a package without a layer
			}
			if !slices.Contains(rule.may, to) {
				t.Errorf("%s (%s) imports %s (%s): %s", rel, from, irel, to, rule.why)
			}
		}
	}
}

// TestLayerTableNamesRealPackages keeps the table honest: a package that
// was removed or renamed must leave the table too.
func TestLayerTableNamesRealPackages(t *testing.T) {
	t.Parallel()
	present := map[string]bool{}
	for _, p := range listPackages(t) {
		if rel, ok := relPath(p.ImportPath); ok {
			present[rel] = true
		}
	}
	for rel := range layers {
		if !present[rel] {
			t.Errorf("the layers table names %q, which is not a package of the module", rel)
		}
	}
}
