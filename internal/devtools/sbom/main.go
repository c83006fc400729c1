// Command sbom writes a CycloneDX (JSON) bill of materials for the module:
// every module go.mod requires, with its version, its package URL and the
// licenses recognised in the LICENSE (or COPYING) files of its copy in the
// module cache. A module whose license files match none of the licenses
// known here is an error, so that a new dependency's license is looked at
// rather than listed as unknown. `make sbom` runs it from the module root;
// it is not part of the release binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	out := flag.String("o", "sbom.cdx.json", "file to write the CycloneDX JSON to (- for standard output)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b, err := generate(ctx, "go", ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	if *out == "-" {
		_, err = os.Stdout.Write(b)
	} else {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}
