// Package procargs hides secret values from the process's visible command
// line. Another local user, a process listing or a profiler endpoint reads
// the arguments a process was started with (on Linux /proc/PID/cmdline);
// a secret given as a flag would be readable there for the life of the
// process. Hide overwrites those bytes in place and returns a private copy
// of the arguments for the program to parse.
//
// It must never change the number or order of arguments, and it must never
// be relied on alone: secrets belong in *_FILE variables, which never reach
// the command line. Where the platform keeps no writable copy of the
// arguments, Hide changes nothing visible and reports so.
package procargs

import (
	"strings"
)

// Hide returns a copy of args that the caller may keep, and overwrites, in
// the memory args point to, the value of every flag named in secret
// ("--name=value", "-name=value", or "--name value" with the value as the
// next argument) with 'x'. It reports whether the process's visible
// arguments were overwritten (false where the platform does not allow it
// or no secret was given).
func Hide(args []string, secret []string) ([]string, bool) {
	private := make([]string, len(args))
	for i, a := range args {
		private[i] = strings.Clone(a)
	}
	names := map[string]bool{}
	for _, n := range secret {
		names[n] = true
	}
	var targets []int // indexes of args whose value part is secret
	var offsets []int // where the value starts in that arg
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			if names[name[:eq]] {
				targets = append(targets, i)
				offsets = append(offsets, len(a)-len(name)+eq+1)
			}
			continue
		}
		if names[name] && i+1 < len(args) {
			targets = append(targets, i+1)
			offsets = append(offsets, 0)
			i++
		}
	}
	if len(targets) == 0 {
		return private, false
	}
	hidden := false
	for k, i := range targets {
		if overwrite(args[i], offsets[k]) {
			hidden = true
		}
	}
	return private, hidden
}
