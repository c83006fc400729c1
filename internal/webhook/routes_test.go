package webhook_test

import (
	"testing"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
)

// TestRoutesArePublicWithABotID: every webhook route is public (the
// platform's own secret or signature authenticates it) and carries exactly
// the bot id, checked against its pattern before anything runs.
func TestRoutesArePublicWithABotID(t *testing.T) {
	t.Parallel()
	st := newStack(t, "sqlite", stackOptions{})
	routes := st.hooks.Routes()
	if len(routes) == 0 {
		t.Fatal("no webhook route")
	}
	for _, rt := range routes {
		if rt.Perm != auth.PermPublic || !rt.Perm.Valid() {
			t.Errorf("%s %s: permission %q", rt.Method, rt.Pattern, rt.Perm)
		}
		w := palisade.PathWildcards(rt.Pattern)
		if len(w) != 1 || w[0] != "botId" {
			t.Errorf("%s %s: wildcards %v", rt.Method, rt.Pattern, w)
		}
		if rt.Pattern != "/hooks/"+rt.Kind+"/{botId}" {
			t.Errorf("pattern %s for kind %s", rt.Pattern, rt.Kind)
		}
	}
}
