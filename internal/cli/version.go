package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

func runVersion(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version", "version")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	version, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(env.Stdout, "palisade %s", version)
	if rev != "" {
		fmt.Fprintf(env.Stdout, " (%s)", rev)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}
