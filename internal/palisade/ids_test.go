package palisade

import (
	"slices"
	"testing"
)

func TestIDs(t *testing.T) {
	t.Parallel()
	id := NewID(PrefixBot)
	if !ValidID(PrefixBot, id) || ValidID(PrefixWorkspace, id) || NewID(PrefixBot) == id {
		t.Fatalf("id %q: wrong kind accepted or not random", id)
	}
	for _, bad := range []string{"", "bot_", "bot_" + id[4:len(id)-1], id + "a", "BOT_" + id[4:], "bot_" + id[4:len(id)-1] + "1", "bot-" + id[4:]} {
		if ValidID(PrefixBot, bad) {
			t.Errorf("malformed id %q accepted", bad)
		}
	}
}

func TestPathWildcards(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"/healthz":             nil,
		"/api/v1/bots/{botId}": {"botId"},
		"/w/{workspaceId}/bots/{botId}/documents": {"workspaceId", "botId"},
		"/static/{path...}":                       {"path"},
		"/{$}":                                    nil,
	}
	for pattern, want := range cases {
		if got := PathWildcards(pattern); !slices.Equal(got, want) {
			t.Errorf("PathWildcards(%q) = %v, want %v", pattern, got, want)
		}
	}
}
