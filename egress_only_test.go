package palisade_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// egressExempt lists the directories whose code may build its own HTTP
// clients and transports, each with the reason.
var egressExempt = []struct{ dir, why string }{
	// The egress package is the one outbound client: it builds the
	// transports that enforce the policy.
	{"internal/egress", "the egress client itself"},
	// The security self-test (palisade probe, SPEC R9) exists to send raw
	// and malformed requests — smuggling, bad framing, forged webhooks — to
	// the one URL its operator points it at; a policy-enforcing client
	// would refuse or normalise exactly what it has to send.
	{"internal/probe", "the security self-test sends raw requests to the URL it is given"},
	// The load harness drives the servers it started itself on loopback
	// (it refuses any other target) with connection pools sized to the
	// load; the egress policy would refuse loopback, and its per-request
	// checks would be measured as the server's cost.
	{"internal/loadtest", "the load harness sends only to loopback servers it started"},
}

// TestOutboundHTTPOnlyThroughEgress fails on any code outside the exempt
// directories that could send a request without the egress policy: a
// net/http Client or Transport made by a composite literal, new() or a
// variable of the struct type; any use of http.DefaultClient,
// http.DefaultTransport, http.Get, http.Head, http.Post or http.PostForm;
// and ACME clients left to fall back to http.DefaultClient (CONVENTIONS 10).
// It reads the syntax tree, so import aliases and formatting do not hide a
// use.
func TestOutboundHTTPOnlyThroughEgress(t *testing.T) {
	t.Parallel()
	files := 0
	for _, root := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			slash := filepath.ToSlash(path)
			if d.IsDir() {
				if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || egressExemptDir(slash) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files++
			for _, v := range outboundViolations(fset, f) {
				t.Errorf("%s: outbound HTTP must go through internal/egress (Client.Do, HTTPClient or ForInternalService)", v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 50 {
		t.Fatalf("checked only %d files; is the test running from the module root?", files)
	}
}

func egressExemptDir(slashPath string) bool {
	for _, e := range egressExempt {
		if slashPath == e.dir || strings.HasPrefix(slashPath, e.dir+"/") {
			return true
		}
	}
	return false
}

// mustConfigure lists types of other libraries that fall back to
// http.DefaultClient when a field is left unset, by import path and type,
// with the field that must be given.
var mustConfigure = map[string]map[string]string{
	"golang.org/x/crypto/acme":          {"Client": "HTTPClient"},
	"golang.org/x/crypto/acme/autocert": {"Manager": "Client"},
}

// outboundViolations returns "file:line:col: what" for each way f could
// reach the network around egress.
func outboundViolations(fset *token.FileSet, f *ast.File) []string {
	// The local names of the packages we look at, resolved per file: an
	// alias must not hide a use, and another package imported as "http"
	// must not be mistaken for net/http.
	httpNames := map[string]bool{}
	configured := map[string]map[string]string{} // local name → type → field
	var out []string
	report := func(n ast.Node, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), fmt.Sprintf(format, args...)))
	}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		local := ""
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == "." && (path == "net/http" || mustConfigure[path] != nil) {
			report(imp, "dot import of %s hides which of its names are used", path)
			continue
		}
		if local == "_" {
			continue
		}
		switch {
		case path == "net/http":
			httpNames[cmp(local, "http")] = true
		case mustConfigure[path] != nil:
			configured[cmp(local, path[strings.LastIndex(path, "/")+1:])] = mustConfigure[path]
		}
	}
	if len(httpNames) == 0 && len(configured) == 0 {
		return out
	}
	// sel reports whether n is pkg.Name for a local name in names.
	sel := func(n ast.Node, names map[string]bool) (string, bool) {
		se, ok := n.(*ast.SelectorExpr)
		if !ok {
			return "", false
		}
		id, ok := se.X.(*ast.Ident)
		if !ok || !names[id.Name] {
			return "", false
		}
		return se.Sel.Name, true
	}
	configuredNames := map[string]bool{}
	for name := range configured {
		configuredNames[name] = true
	}
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		var parent ast.Node
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		stack = append(stack, n)

		if name, ok := sel(n, httpNames); ok {
			switch name {
			case "Client", "Transport":
				// Only a pointer type is harmless: a parameter or field of
				// type *http.Client carries a client made elsewhere. A
				// composite literal, new() or a variable of the struct
				// type makes a new one.
				if _, ptr := parent.(*ast.StarExpr); !ptr {
					report(n, "a new net/http %s", name)
				}
			case "DefaultClient", "DefaultTransport", "Get", "Head", "Post", "PostForm":
				report(n, "net/http's %s", name)
			}
		}
		if cl, ok := n.(*ast.CompositeLit); ok {
			if se, ok := cl.Type.(*ast.SelectorExpr); ok {
				if typ, ok := sel(se, configuredNames); ok {
					if field := configured[se.X.(*ast.Ident).Name][typ]; field != "" && !hasKey(cl, field) {
						report(cl, "%s.%s without %s falls back to http.DefaultClient", se.X.(*ast.Ident).Name, typ, field)
					}
				}
			}
		}
		if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 1 {
			if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "new" {
				if se, ok := call.Args[0].(*ast.SelectorExpr); ok {
					if typ, ok := sel(se, configuredNames); ok && configured[se.X.(*ast.Ident).Name][typ] != "" {
						report(call, "new(%s.%s) falls back to http.DefaultClient", se.X.(*ast.Ident).Name, typ)
					}
				}
			}
		}
		return true
	})
	return out
}

func cmp(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

func hasKey(cl *ast.CompositeLit, field string) bool {
	return slices.ContainsFunc(cl.Elts, func(e ast.Expr) bool {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			return false
		}
		id, ok := kv.Key.(*ast.Ident)
		return ok && id.Name == field
	})
}

// TestOutboundViolations shows the checker above at work on small sources.
func TestOutboundViolations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		want      []string // substrings of the violations, in order
	}{
		{"clean", `package p
import "net/http"
func f(c *http.Client, t *http.Transport) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, "https://example.com", nil)
	_ = t.(*http.Transport)
	return c.Do(req)
}`, nil},
		{"composite literals and new", `package p
import "net/http"
var a = &http.Client{}
var b = http.Transport{Proxy: nil}
var c = new(http.Client)
var d http.Transport
type s struct{ c http.Client }`, []string{"p.go:3:10: a new net/http Client", "p.go:4:9: a new net/http Transport", "p.go:5:13: a new net/http Client",
			"p.go:6:7: a new net/http Transport", "p.go:7:18: a new net/http Client"}},
		{"defaults", `package p
import "net/http"
var a = http.DefaultClient
var b = http.DefaultTransport.(*http.Transport).Clone()
func f() { http.Get("x"); http.Head("x"); http.Post("x", "", nil); http.PostForm("x", nil) }`,
			[]string{"DefaultClient", "DefaultTransport", "Get", "Head", "Post", "PostForm"}},
		{"an alias", `package p
import nethttp "net/http"
var a = &nethttp.Client{Timeout: 1}
func f() { nethttp.Get("x") }`, []string{"p.go:3:10: a new net/http Client", "p.go:4:12: net/http's Get"}},
		{"imported twice", `package p
import (
	"net/http"
	h2 "net/http"
)
var a = http.Client{}
var b = h2.DefaultClient`, []string{"a new net/http Client", "net/http's DefaultClient"}},
		{"another package named http", `package p
import http "example.com/fake/http"
var a = http.Client{}
var b = http.Get`, nil},
		{"net/http under another name, http shadowing nothing", `package p
import (
	std "net/http"
	"example.com/http"
)
var a = http.Client{}
var b = std.Transport{}`, []string{"p.go:7:9: a new net/http Transport"}},
		{"dot import", `package p
import . "net/http"
var a = Client{}`, []string{"dot import of net/http"}},
		{"ACME without the egress client", `package p
import (
	"golang.org/x/crypto/acme"
	ac "golang.org/x/crypto/acme/autocert"
)
var a = &ac.Manager{Prompt: ac.AcceptTOS}
var b = &ac.Manager{Client: &acme.Client{HTTPClient: nil}}
var c = &ac.Manager{Client: &acme.Client{DirectoryURL: "x"}}
var d = new(acme.Client)`, []string{"p.go:6:10: ac.Manager without Client", "p.go:8:30: acme.Client without HTTPClient", "p.go:9:9: new(acme.Client)"}},
	}
	for _, tc := range cases {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "p.go", tc.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := outboundViolations(fset, f)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.Contains(got[i], tc.want[i])
		}
		if !ok {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
	if !egressExemptDir("internal/probe") || !egressExemptDir("internal/probe/checks") || egressExemptDir("internal/prober") || egressExemptDir("internal/egressx") {
		t.Error("exemptions must be whole directories")
	}
}
