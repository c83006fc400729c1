package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// newKeyring is a real keyring over an in-memory key store.
func newKeyring(t *testing.T) *seal.Keyring {
	t.Helper()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{0x5a}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKeyring(ctx(t), mk, sealtest.NewMemoryKeyStore(), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rawDriver reaches under the store for raw SQL, as an attacker with
// database access would.
func rawDriver(t *testing.T, s store.Store) sqlstore.Driver {
	t.Helper()
	d, ok := s.(interface{ Driver() sqlstore.Driver })
	if !ok {
		t.Fatalf("%T does not expose its driver", s)
	}
	return d.Driver()
}

// rawGet reads one column of one row, scoped to ws; table and column are
// constants of the test.
func rawGet(t *testing.T, s store.Store, ws palisade.WorkspaceID, table, column, id string) []byte {
	t.Helper()
	var b []byte
	err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: ws}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(ctx(t), `SELECT `+column+` FROM `+table+` WHERE id = $1`, id).Scan(&b)
	})
	if err != nil {
		t.Fatalf("raw read of %s.%s: %v", table, column, err)
	}
	return b
}

func rawSet(t *testing.T, s store.Store, ws palisade.WorkspaceID, table, column, id string, v []byte) {
	t.Helper()
	err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: ws}, func(tx sqlstore.Tx) error {
		n, err := tx.Exec(ctx(t), `UPDATE `+table+` SET `+column+` = $1 WHERE id = $2`, v, id)
		if err == nil && n != 1 {
			t.Fatalf("raw update of %s.%s touched %d rows", table, column, n)
		}
		return err
	})
	if err != nil {
		t.Fatalf("raw update of %s.%s: %v", table, column, err)
	}
}

func testSealing(t *testing.T, open Opener) {
	t.Run("NoSealerRefuses", func(t *testing.T) {
		t.Parallel()
		s := open(t, store.Options{})
		a := mustWS(t, s, "A")
		bot := mustBot(t, s, a, "b")
		_, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Credentials: secret.New("123:tok"), Now: t0})
		wantErr(t, err, store.ErrNoSealer, "CreateChannel with credentials and no sealer")
		_, err = s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New("sk-x"), Now: t0})
		wantErr(t, err, store.ErrNoSealer, "CreateProviderKey with no sealer")
		if ks, err := s.ListProviderKeys(ctx(t), a); err != nil || len(ks) != 0 {
			t.Fatalf("a refused provider key was stored: %v, %v", ks, err)
		}
		if cs, err := s.ListChannels(ctx(t), a, bot.ID); err != nil || len(cs) != 0 {
			t.Fatalf("a refused channel was stored: %v, %v", cs, err)
		}
		// A channel without secrets needs no sealer; setting one does.
		c, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "widget", Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.SetChannelSecret(ctx(t), a, c.ID, secret.New("whsec"), t0), store.ErrNoSealer, "SetChannelSecret with no sealer")
		if raw := rawGet(t, s, a.Workspace(), "channels", "sealed_secret", string(c.ID)); raw != nil {
			t.Fatalf("sealed_secret written without a sealer: %q", raw)
		}
		n, err := s.CountSealedFields(ctx(t), a)
		if err != nil || n != 0 {
			t.Fatalf("CountSealedFields = %d, %v", n, err)
		}
	})

	t.Run("ChannelsAndProviderKeys", func(t *testing.T) {
		t.Parallel()
		s := open(t, store.Options{Sealer: newKeyring(t)})
		a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
		bot := mustBot(t, s, a, "b")
		botB := mustBot(t, s, b, "b")
		if _, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: botB.ID, Kind: "telegram", Now: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("channel on another workspace's bot: %v", err)
		}
		const token, whsec = "7012345678:AAHcanaryTokenValueForTelegram_x", "whsec-canary-value"
		c, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Name: "tg", Credentials: secret.New(token), Secret: secret.New(whsec), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetChannel(ctx(t), a, c.ID)
		if err != nil || !got.HasCredentials || !got.HasSecret || got.Kind != "telegram" || got.BotID != bot.ID || !got.CreatedAt.Equal(t0) {
			t.Fatalf("GetChannel = %+v, %v", got, err)
		}
		if v, err := s.ChannelCredentials(ctx(t), a, c.ID); err != nil || v.Reveal() != token {
			t.Fatalf("ChannelCredentials: %v", err)
		}
		if v, err := s.ChannelSecret(ctx(t), a, c.ID); err != nil || v.Reveal() != whsec {
			t.Fatalf("ChannelSecret: %v", err)
		}
		for _, col := range []string{"sealed_credentials", "sealed_secret"} {
			raw := rawGet(t, s, a.Workspace(), "channels", col, string(c.ID))
			if bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(whsec)) || len(raw) < seal.Overhead {
				t.Fatalf("channels.%s is not sealed at rest", col)
			}
		}
		if _, err := s.ChannelCredentials(ctx(t), b, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace read the credentials: %v", err)
		}
		if err := s.SetChannelCredentials(ctx(t), b, c.ID, secret.New("x"), t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace replaced the credentials: %v", err)
		}
		if err := s.SetChannelCredentials(ctx(t), a, c.ID, secret.New("new-token"), t0); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.ChannelCredentials(ctx(t), a, c.ID); v.Reveal() != "new-token" {
			t.Fatal("credentials not replaced")
		}
		if err := s.SetChannelSecret(ctx(t), a, c.ID, secret.Secret{}, t0); err != nil {
			t.Fatal(err)
		}
		if v, err := s.ChannelSecret(ctx(t), a, c.ID); err != nil || !v.IsZero() {
			t.Fatalf("cleared secret = %v, %v", v, err)
		}
		if cs, _ := s.ListChannels(ctx(t), a, bot.ID); len(cs) != 1 || cs[0].HasSecret {
			t.Fatalf("ListChannels = %+v", cs)
		}

		const sk = "sk-proj-canaryProviderKey0123456789abcdef"
		pk, err := s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "openai", BaseURL: "https://api.openai.com/v1", Key: secret.New(sk), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.ParseProviderKeyID(string(pk.ID)); err != nil {
			t.Fatalf("provider key id %q: %v", pk.ID, err)
		}
		if raw := rawGet(t, s, a.Workspace(), "provider_keys", "sealed_key", string(pk.ID)); bytes.Contains(raw, []byte(sk)) {
			t.Fatal("provider key in plaintext at rest")
		}
		if k, err := s.GetProviderKey(ctx(t), a, pk.ID); err != nil || k.Key.Reveal() != sk || k.Provider != "openai" {
			t.Fatalf("GetProviderKey = %+v, %v", k, err)
		}
		if _, err := s.GetProviderKey(ctx(t), b, pk.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace read the provider key: %v", err)
		}
		list, err := s.ListProviderKeys(ctx(t), a)
		if err != nil || len(list) != 1 || !list[0].Key.IsZero() {
			t.Fatalf("ListProviderKeys must not open keys: %+v, %v", list, err)
		}
		if err := s.UpdateProviderKey(ctx(t), a, pk.ID, secret.New("sk-rotated")); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.GetProviderKey(ctx(t), a, pk.ID); k.Key.Reveal() != "sk-rotated" {
			t.Fatal("provider key not updated")
		}
		wantErr(t, s.DeleteProviderKey(ctx(t), b, pk.ID), store.ErrNotFound, "DeleteProviderKey from another workspace")
		if err := s.DeleteProviderKey(ctx(t), a, pk.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetProviderKey(ctx(t), a, pk.ID)
		wantErr(t, err, store.ErrNotFound, "GetProviderKey after delete")
	})

	// A sealed value copied (raw SQL) to another row, column
	// or workspace fails to open through the store.
	t.Run("ChannelGatewaySession", func(t *testing.T) {
		t.Parallel()
		s := open(t, store.Options{Sealer: newKeyring(t)})
		a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
		bot := mustBot(t, s, a, "b")
		c, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: "discord", Credentials: secret.New("tok"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: mustBot(t, s, a, "b2").ID, Kind: "discord", Credentials: secret.New("tok2"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := s.ChannelGatewaySession(ctx(t), a, c.ID); err != nil || !g.SessionID.IsZero() || g.ResumeURL != "" || g.Seq != 0 {
			t.Fatalf("a new channel's Gateway session = %+v, %v", g, err)
		}
		const sid = "canary-gateway-session-9f3a1c"
		if err := s.SetChannelGatewaySession(ctx(t), a, c.ID, store.GatewaySession{SessionID: secret.New(sid), ResumeURL: "wss://resume.example", Seq: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetChannelGatewaySeq(ctx(t), a, c.ID, 42); err != nil {
			t.Fatal(err)
		}
		g, err := s.ChannelGatewaySession(ctx(t), a, c.ID)
		if err != nil || g.SessionID.Reveal() != sid || g.ResumeURL != "wss://resume.example" || g.Seq != 42 {
			t.Fatalf("ChannelGatewaySession = %+v, %v", g, err)
		}
		raw := rawGet(t, s, a.Workspace(), "channels", "sealed_gateway_session", string(c.ID))
		if bytes.Contains(raw, []byte(sid)) || len(raw) < seal.Overhead {
			t.Fatal("the Gateway session id is not sealed at rest")
		}
		// Bound to its row: copied onto another channel it fails to open.
		rawSet(t, s, a.Workspace(), "channels", "sealed_gateway_session", string(c2.ID), raw)
		if _, err := s.ChannelGatewaySession(ctx(t), a, c2.ID); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("a session id copied to another channel opened: %v", err)
		}
		if _, err := s.ChannelGatewaySession(ctx(t), b, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace read the Gateway session: %v", err)
		}
		if err := s.SetChannelGatewaySeq(ctx(t), b, c.ID, 99); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace moved the sequence number: %v", err)
		}
		if err := s.SetChannelGatewaySession(ctx(t), b, c.ID, store.GatewaySession{SessionID: secret.New("x")}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another workspace replaced the Gateway session: %v", err)
		}
		if err := s.SetChannelGatewaySession(ctx(t), a, c.ID, store.GatewaySession{ResumeURL: "wss://x", Seq: 7}); err != nil {
			t.Fatal(err)
		}
		if g, err := s.ChannelGatewaySession(ctx(t), a, c.ID); err != nil || !g.SessionID.IsZero() || g.ResumeURL != "" || g.Seq != 0 {
			t.Fatalf("a cleared Gateway session = %+v, %v", g, err)
		}
		if err := s.SetChannelGatewaySession(ctx(t), a, c.ID, store.GatewaySession{SessionID: secret.New(sid), ResumeURL: "wss://resume.example", Seq: 3}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChannel(ctx(t), a, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChannelGatewaySession(ctx(t), a, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the Gateway session outlived its channel: %v", err)
		}
	})

	t.Run("CopiedCiphertextFailsToOpen", func(t *testing.T) {
		t.Parallel()
		s := open(t, store.Options{Sealer: newKeyring(t)})
		a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
		bot, botB := mustBot(t, s, a, "a"), mustBot(t, s, b, "b")
		// A bot has one channel of each kind: the second one here is
		// another kind.
		mkChan := func(scope palisade.Scope, bot palisade.BotID, kind string) palisade.Channel {
			c, err := s.CreateChannel(ctx(t), scope, store.CreateChannelParams{BotID: bot, Kind: kind, Credentials: secret.New("cred-" + string(bot)),
				Secret: secret.New("sec-" + string(bot)), Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c1, c2, cb := mkChan(a, bot.ID, "telegram"), mkChan(a, bot.ID, "slack"), mkChan(b, botB.ID, "telegram")
		pk1, err := s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New("sk-one"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		pk2, err := s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New("sk-two"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		cred1 := rawGet(t, s, a.Workspace(), "channels", "sealed_credentials", string(c1.ID))

		// Another row of the same table and column.
		rawSet(t, s, a.Workspace(), "channels", "sealed_credentials", string(c2.ID), cred1)
		if _, err := s.ChannelCredentials(ctx(t), a, c2.ID); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("credentials copied to another row: %v, want seal.ErrOpen", err)
		}
		rawSet(t, s, a.Workspace(), "provider_keys", "sealed_key", string(pk2.ID), rawGet(t, s, a.Workspace(), "provider_keys", "sealed_key", string(pk1.ID)))
		if _, err := s.GetProviderKey(ctx(t), a, pk2.ID); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("provider key copied to another row: %v, want seal.ErrOpen", err)
		}
		// Another column of the same row.
		rawSet(t, s, a.Workspace(), "channels", "sealed_secret", string(c1.ID), cred1)
		if _, err := s.ChannelSecret(ctx(t), a, c1.ID); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("credentials copied into the secret column: %v, want seal.ErrOpen", err)
		}
		// Another workspace.
		rawSet(t, s, b.Workspace(), "channels", "sealed_credentials", string(cb.ID), cred1)
		if _, err := s.ChannelCredentials(ctx(t), b, cb.ID); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("credentials copied to another workspace: %v, want seal.ErrOpen", err)
		}
		// The original still opens: the test is not blind.
		if v, err := s.ChannelCredentials(ctx(t), a, c1.ID); err != nil || v.Reveal() != "cred-"+string(bot.ID) {
			t.Fatalf("the original no longer opens: %v", err)
		}
	})

	t.Run("ResealWalk", func(t *testing.T) {
		t.Parallel()
		k := newKeyring(t)
		s := open(t, store.Options{Sealer: k})
		a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
		bot, botB := mustBot(t, s, a, "a"), mustBot(t, s, b, "b")
		var chans []palisade.Channel
		for _, kind := range []string{"slack", "discord", "whatsapp"} {
			c, err := s.CreateChannel(ctx(t), a, store.CreateChannelParams{BotID: bot.ID, Kind: kind, Credentials: secret.New("xoxb-1"), Secret: secret.New("s"), Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			chans = append(chans, c)
		}
		pk, err := s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "anthropic", Key: secret.New("sk-ant-1"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		cb, err := s.CreateChannel(ctx(t), b, store.CreateChannelParams{BotID: botB.ID, Kind: "slack", Credentials: secret.New("xoxb-b"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountSealedFields(ctx(t), a); err != nil || n != 7 {
			t.Fatalf("CountSealedFields = %d, %v; want 7", n, err)
		}
		if _, err := k.RotateDataKey(ctx(t), a.Workspace()); err != nil {
			t.Fatal(err)
		}
		// An empty cursor walk in small batches, as the CLI does.
		cur, seen, changed, batches := store.ResealCursor{}, 0, 0, 0
		for {
			res, err := s.ResealFields(ctx(t), a, cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			if res.Seen > 2 {
				t.Fatalf("batch of %d values, limit 2", res.Seen)
			}
			seen, changed, cur = seen+res.Seen, changed+res.Changed, res.Next
			batches++
			if res.Done {
				break
			}
			if batches > 20 {
				t.Fatal("the walk does not end")
			}
		}
		if seen != 7 || changed != 7 {
			t.Fatalf("walk saw %d and changed %d values, want 7 and 7", seen, changed)
		}
		check := func(table, column, id string, ws palisade.WorkspaceID, want uint32) {
			t.Helper()
			_, v, err := seal.EnvelopeInfo(rawGet(t, s, ws, table, column, id))
			if err != nil || v != want {
				t.Errorf("%s.%s of %s under data key v%d (%v), want v%d", table, column, id, v, err, want)
			}
		}
		for _, c := range chans {
			check("channels", "sealed_credentials", string(c.ID), a.Workspace(), 2)
			check("channels", "sealed_secret", string(c.ID), a.Workspace(), 2)
		}
		check("provider_keys", "sealed_key", string(pk.ID), a.Workspace(), 2)
		check("channels", "sealed_credentials", string(cb.ID), b.Workspace(), 1)
		if n, err := k.RetireDataKeys(ctx(t), a.Workspace()); err != nil || n != 1 {
			t.Fatalf("RetireDataKeys = %d, %v", n, err)
		}
		if v, err := s.GetProviderKey(ctx(t), a, pk.ID); err != nil || v.Key.Reveal() != "sk-ant-1" {
			t.Fatalf("after reseal and retire: %v", err)
		}
		// A second pass changes nothing.
		res, err := s.ResealFields(ctx(t), a, store.ResealCursor{}, 100)
		if err != nil || res.Changed != 0 || res.Seen != 7 || !res.Done {
			t.Fatalf("second pass = %+v, %v", res, err)
		}
		// A value that does not open stops the walk, naming where.
		rawSet(t, s, a.Workspace(), "channels", "sealed_secret", string(chans[0].ID), rawGet(t, s, a.Workspace(), "channels", "sealed_credentials", string(chans[1].ID)))
		if _, err := s.ResealFields(ctx(t), a, store.ResealCursor{}, 100); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("walk over a copied value: %v, want seal.ErrOpen", err)
		}
	})

	// Crypto-shredding, at the store: bytes read before the deletion no longer
	// open with the current keys after it.
	t.Run("DeleteWorkspaceShredsKeys", func(t *testing.T) {
		t.Parallel()
		k := newKeyring(t)
		s := open(t, store.Options{Sealer: k})
		a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
		pk, err := s.CreateProviderKey(ctx(t), a, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New("sk-doomed"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		pkB, err := s.CreateProviderKey(ctx(t), b, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New("sk-kept"), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		copied := rawGet(t, s, a.Workspace(), "provider_keys", "sealed_key", string(pk.ID))
		f := seal.Field{Table: "provider_keys", Column: "sealed_key", RowID: string(pk.ID)}
		if pt, err := k.Open(ctx(t), a.Workspace(), f, copied); err != nil || string(pt) != "sk-doomed" {
			t.Fatalf("the copy does not open before deletion: %v", err)
		}
		if _, err := deleteWorkspace(t, s, a); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(ctx(t), a.Workspace(), f, copied); !errors.Is(err, seal.ErrKeyDestroyed) {
			t.Fatalf("a copy taken before deletion opens after it: %v, want seal.ErrKeyDestroyed", err)
		}
		if v, err := s.GetProviderKey(ctx(t), b, pkB.ID); err != nil || v.Key.Reveal() != "sk-kept" {
			t.Fatalf("another workspace's key lost: %v", err)
		}
		_, err = deleteWorkspace(t, s, a)
		wantErr(t, err, store.ErrNotFound, "second DeleteWorkspace")
	})
}
