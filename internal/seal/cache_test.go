package seal

import (
	"crypto/cipher"
	"fmt"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

func TestKeyCacheIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	c := newKeyCache(4, time.Minute, func() time.Time { return now })
	a, err := newAEAD(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	wss := make([]palisade.WorkspaceID, 10)
	for i := range wss {
		wss[i] = palisade.NewWorkspaceID()
		c.put(wss[i], 1, a)
		c.putCurrent(wss[i], 1)
		if c.len() > 4 {
			t.Fatalf("cache holds %d entries, bound is 4", c.len())
		}
	}
	if _, ok := c.get(wss[0], 1); ok {
		t.Error("least recently used entry not evicted")
	}
	if _, ok := c.get(wss[9], 1); !ok {
		t.Error("most recent entry evicted")
	}
}

func TestKeyCacheExpiresAndDrops(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	c := newKeyCache(100, time.Minute, func() time.Time { return now })
	var a cipher.AEAD
	ws, other := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	c.put(ws, 1, a)
	c.put(ws, 2, a)
	c.putCurrent(ws, 2)
	c.put(other, 1, a)
	now = now.Add(59 * time.Second)
	if _, ok := c.get(ws, 1); !ok {
		t.Fatal("entry gone before its TTL")
	}
	c.dropWorkspace(ws)
	if _, ok := c.get(ws, 2); ok {
		t.Error("dropWorkspace left a data key")
	}
	if _, ok := c.current(ws); ok {
		t.Error("dropWorkspace left the current version")
	}
	if _, ok := c.get(other, 1); !ok {
		t.Error("dropWorkspace dropped another workspace's key")
	}
	now = now.Add(time.Second)
	if _, ok := c.get(other, 1); ok || c.len() != 0 {
		t.Errorf("expired entry still served (len %d)", c.len())
	}
}

// The associated data of distinct tuples never coincides.
func TestAADIsInjective(t *testing.T) {
	t.Parallel()
	ws := palisade.WorkspaceID("ws_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	fields := []Field{
		{Table: "ab", Column: "c", RowID: "d"}, {Table: "a", Column: "bc", RowID: "d"}, {Table: "a", Column: "b", RowID: "cd"},
		{Table: "abc", Column: "", RowID: "d"}, {Table: "", Column: "abc", RowID: "d"},
		{Table: "a\x00\x00\x00\x01b", Column: "c", RowID: "d"}, {Table: "a", Column: "\x00\x00\x00\x01bc", RowID: "d"},
	}
	seen := map[string]string{}
	add := func(name string, aad []byte) {
		if prev, ok := seen[string(aad)]; ok {
			t.Errorf("%s and %s share associated data", prev, name)
		}
		seen[string(aad)] = name
	}
	for _, f := range fields {
		for _, v := range []uint32{1, 2, 256} {
			add(fmt.Sprintf("field %q v%d", f, v), fieldAAD(FormatV1, ws, f, v))
		}
	}
	add("field in ws b", fieldAAD(FormatV1, "ws_bbbbbbbbbbbbbbbbbbbbbbbbbb", fields[0], 1))
	add("field format 2", fieldAAD(2, ws, fields[0], 1))
	add("kek 1", kekAAD(1))
	add("data key 1/1", dataKeyAAD(ws, 1, 1))
	add("data key 1/2", dataKeyAAD(ws, 1, 2))
	add("data key 2/1", dataKeyAAD(ws, 2, 1))
}

func TestCheckWorkspaceAgreesWithPalisade(t *testing.T) {
	t.Parallel()
	ids := []string{"", "ws_", "ws", "ws_aaaaaaaaaaaaaaaaaaaaaaaaaa", "ws_aaaaaaaaaaaaaaaaaaaaaaaaa", "ws_aaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"ws_aaaaaaaaaaaaaaaaaaaaaaaaa1", "ws_aaaaaaaaaaaaaaaaaaaaaaaaa8", "ws_Aaaaaaaaaaaaaaaaaaaaaaaaaa", "wx_aaaaaaaaaaaaaaaaaaaaaaaaaa",
		"ws-aaaaaaaaaaaaaaaaaaaaaaaaaa", "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa", "ws_aaaaaaaaaaaaaaaaaaaaaaaaa\n", "ws_aaaaaaaaaaaaaaaaaaaaaaaaa\xff"}
	for range 100 {
		ids = append(ids, string(palisade.NewWorkspaceID()))
	}
	for _, id := range ids {
		if got, want := checkWorkspace(palisade.WorkspaceID(id)) == nil, palisade.ValidID(palisade.PrefixWorkspace, id); got != want {
			t.Errorf("checkWorkspace(%q) accepts=%v, palisade.ValidID=%v", id, got, want)
		}
	}
}
