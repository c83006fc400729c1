package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// linkedCommit and linkedDate are set by `make build` through the linker
// (-X), for builds the go tool could not stamp with their VCS settings
// (a git worktree, GOFLAGS=-buildvcs=false). They are never assigned at run
// time.
var (
	linkedCommit string
	linkedDate   string
)

func hasSetting(bi *debug.BuildInfo, key string) bool {
	for _, s := range bi.Settings {
		if s.Key == key && s.Value != "" {
			return true
		}
	}
	return false
}

func runVersion(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "version", "version")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	if bi != nil && linkedCommit != "" && !hasSetting(bi, "vcs.revision") {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.revision", Value: strings.TrimSuffix(linkedCommit, "-dirty")},
			debug.BuildSetting{Key: "vcs.modified", Value: strconv.FormatBool(strings.HasSuffix(linkedCommit, "-dirty"))},
			debug.BuildSetting{Key: "vcs.time", Value: linkedDate})
	}
	fmt.Fprintln(env.Stdout, VersionLine(bi))
	return nil
}

// VersionLine describes a build in one line: the module version, the
// commit it was built from (with "-dirty" when the work tree had local
// changes) and the commit's date, as the go tool stamps them into a binary
// built inside a git checkout. What the build does not know reads
// "unknown", so the line has the same shape everywhere.
func VersionLine(bi *debug.BuildInfo) string {
	version, rev, date, dirty := "(devel)", "unknown", "unknown", false
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				if s.Value != "" {
					date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty && rev != "unknown" {
		rev += "-dirty"
	}
	return fmt.Sprintf("palisade %s (commit %s, built %s)", version, rev, date)
}
