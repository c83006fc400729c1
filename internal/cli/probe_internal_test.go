package cli

import (
	"slices"
	"testing"
)

// TestProbeHidesBothKeys: the values Main overwrites in the process's
// argument block include both API key flags, and each names a flag the
// probe has, so neither workspace's key shows in a process listing.
func TestProbeHidesBothKeys(t *testing.T) {
	t.Parallel()
	sets, _ := helpOf(t, []string{"probe", "--help"})
	for _, name := range []string{"api-key", "api-key-b"} {
		if !slices.Contains(probeSecretFlags(), name) {
			t.Errorf("--%s is not hidden from the command line", name)
		}
	}
	for _, name := range probeSecretFlags() {
		if sets[0].Lookup(name) == nil {
			t.Errorf("the hidden flag --%s is not a probe flag", name)
		}
	}
}
