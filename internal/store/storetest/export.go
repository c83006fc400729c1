package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// exportCanaries are secrets seeded in every place a workspace keeps one;
// none may appear in an export.
type exportCanaries struct {
	channelToken, channelSecret, providerKey, webhookSecret, apiKeyHash, cachedResponse string
}

func canariesFor(tag string) exportCanaries {
	return exportCanaries{
		channelToken:   "7012345678:AAH-canary-channel-token-" + tag,
		channelSecret:  "canary-channel-webhook-secret-" + tag,
		providerKey:    "sk-canary-provider-key-" + tag,
		webhookSecret:  "whsec_canary_endpoint_secret_" + tag,
		apiKeyHash:     "canary-api-key-hash-" + tag,
		cachedResponse: "pal_canary_cached_new_key_" + tag,
	}
}

func (c exportCanaries) all() []string {
	return []string{c.channelToken, c.channelSecret, c.providerKey, c.webhookSecret, c.apiKeyHash, c.cachedResponse}
}

// seedWorkspace puts at least one row of the workspace in every tenant
// table a store method writes, with the given canaries as its secrets and
// tag in its visible text, and n messages.
func seedWorkspace(t *testing.T, s store.Store, scope palisade.Scope, tag string, c exportCanaries, n int) {
	t.Helper()
	now := t0
	owner := mustUser(t, s, "owner-"+tag+"@example.com")
	if _, err := s.AddMember(ctx(t), scope, owner.ID, palisade.RoleOwner, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateInvitation(ctx(t), scope, store.CreateInvitationParams{Email: "invitee-" + tag + "@example.com", Role: palisade.RoleEditor,
		TokenHashHex: fmt.Sprintf("%x", sha256.Sum256([]byte(tag))), InvitedBy: owner.ID, Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx(t), scope, store.CreateAPIKeyParams{Name: "key " + tag, Prefix: "pfx" + tag, Hash: []byte(c.apiKeyHash),
		Scopes: []string{"bots:read"}, CreatedBy: owner.ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	bot := mustBot(t, s, scope, "bot "+tag)
	if _, err := s.CreateChannel(ctx(t), scope, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Name: "tg " + tag,
		Credentials: secret.New(c.channelToken), Secret: secret.New(c.channelSecret), Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProviderKey(ctx(t), scope, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New(c.providerKey), Now: now}); err != nil {
		t.Fatal(err)
	}
	ep, err := s.CreateEventEndpoint(ctx(t), scope, store.CreateEventEndpointParams{URL: "https://hooks.example.com/" + tag, Events: []string{"reply.sent"},
		Secret: secret.New(c.webhookSecret), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordEventDelivery(ctx(t), scope, store.EventDelivery{EndpointID: ep.ID, EventID: "evt_" + tag, EventType: "reply.sent", Attempt: 1, Status: 200, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDocument(ctx(t), scope, store.CreateDocumentParams{BotID: bot.ID, Title: "handbook " + tag, ContentType: "text/plain", SizeBytes: 10,
		Chunks: []string{"first chunk " + tag, "second chunk " + tag}, Now: now}); err != nil {
		t.Fatal(err)
	}
	conv, err := s.OpenConversation(ctx(t), scope, store.OpenConversationParams{BotID: bot.ID, Key: "conv-" + tag, Channel: "api", ExternalUser: "user-" + tag, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p := store.AppendMessageParams{ConversationID: conv.ID, Role: palisade.MessageUser,
			Body: fmt.Sprintf("message %d of %s", i, tag), Now: now.Add(time.Duration(i) * time.Second)}
		if i%2 == 1 {
			p.Role = palisade.MessageAssistant
			p.Sources = []palisade.MessageSource{{Title: "handbook " + tag, Excerpt: fmt.Sprintf("cited excerpt %d of %s", i, tag)}}
		}
		if _, err := s.AppendMessage(ctx(t), scope, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RecordDelivery(ctx(t), scope, store.DeliveryParams{BotID: bot.ID, Source: "telegram", Key: "upd-" + tag, Now: now}, countArgs{Key: tag}); err != nil {
		t.Fatal(err)
	}
	for part := range 3 {
		if _, err := s.BeginReply(ctx(t), scope, store.ReplyPart{BotID: bot.ID, Source: "telegram", Ref: "upd-" + tag, Part: part}, now); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.ReserveUsage(ctx(t), scope, store.ReserveUsageParams{BotID: bot.ID, Day: now, Budget: 1000, Tokens: 10, Min: 10, Now: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	if err := s.AddUsage(ctx(t), scope, store.AddUsageParams{BotID: bot.ID, Day: now, TokensIn: 5, TokensOut: 7}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ClaimIdempotencyKey(ctx(t), scope, store.ClaimIdempotencyParams{Principal: "key_" + tag, Key: "idem-" + tag,
		RequestHash: []byte("request-hash"), Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteIdempotencyKey(ctx(t), scope, "key_"+tag, "idem-"+tag, 201, []byte(`{"secret":"`+c.cachedResponse+`"}`)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := s.AppendAudit(ctx(t), scope, auditEntry("bot.created", fmt.Sprint(tag, i), now), testSeal); err != nil {
			t.Fatal(err)
		}
	}
}

// recordingSink keeps every table's columns and rows, and the JSON of all
// values, as an export would write them.
type recordingSink struct {
	order   []string
	columns map[string][]string
	rows    map[string][][]any
	text    strings.Builder
	current string
}

func (r *recordingSink) Table(name string, columns []string) error {
	if r.columns == nil {
		r.columns, r.rows = map[string][]string{}, map[string][][]any{}
	}
	if _, dup := r.columns[name]; dup {
		return fmt.Errorf("table %s exported twice", name)
	}
	r.order = append(r.order, name)
	r.columns[name], r.current = columns, name
	r.text.WriteString(name)
	return nil
}

func (r *recordingSink) Row(values []any) error {
	if len(values) != len(r.columns[r.current]) {
		return fmt.Errorf("row of %s has %d values for %d columns", r.current, len(values), len(r.columns[r.current]))
	}
	r.rows[r.current] = append(r.rows[r.current], values)
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	r.text.Write(b)
	return nil
}

// catalogTenantTables lists, from the database's own catalog, every table
// of the application's schema with a workspace_id column and its columns,
// independently of the export's own reading of it.
func catalogTenantTables(t *testing.T, s store.Store, ws palisade.WorkspaceID) map[string][]string {
	t.Helper()
	q := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY m.name, p.cid`
	if s.Dialect() == store.DialectPostgres {
		q = `SELECT table_name::text, column_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`
	}
	all := map[string][]string{}
	err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: ws}, func(tx sqlstore.Tx) error {
		rows, err := tx.Query(ctx(t), q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tbl, col string
			if err := rows.Scan(&tbl, &col); err != nil {
				return err
			}
			all[tbl] = append(all[tbl], col)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("reading the catalog: %v", err)
	}
	out := map[string][]string{}
	for tbl, cols := range all {
		if slices.Contains(cols, "workspace_id") || tbl == "workspaces" {
			out[tbl] = cols
		}
	}
	return out
}

func rawCount(t *testing.T, s store.Store, ws palisade.WorkspaceID, table string) int64 {
	t.Helper()
	col := "workspace_id"
	if table == "workspaces" {
		col = "id"
	}
	var n int64
	err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{Workspace: ws}, func(tx sqlstore.Tx) error {
		return tx.QueryRow(ctx(t), `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, string(ws)).Scan(&n)
	})
	if err != nil {
		t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func testExport(t *testing.T, open Opener) {
	s := open(t, store.Options{Sealer: newKeyring(t)})
	if p, ok := s.(interface{ WithExportPage(int) *sqlstore.Store }); ok {
		// Pages of two rows make every table with more than two rows
		// cross a page boundary, composite keys included.
		p.WithExportPage(2)
	} else {
		t.Fatalf("%T cannot set its export page size", s)
	}
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	ca, cb := canariesFor("alpha"), canariesFor("bravo")
	seedWorkspace(t, s, a, "alpha", ca, 7)
	seedWorkspace(t, s, b, "bravo", cb, 3)

	var sink recordingSink
	if err := s.ExportWorkspace(ctx(t), a, &sink); err != nil {
		t.Fatalf("ExportWorkspace: %v", err)
	}
	if len(sink.order) == 0 || sink.order[0] != "workspaces" {
		t.Fatalf("export starts with %v, want the workspace row first", sink.order)
	}

	// Every tenant table of the catalog is in the export with exactly the
	// rows the database holds for the workspace, and every column of it
	// has a decided treatment.
	catalog := catalogTenantTables(t, s, a.Workspace())
	for tbl, cols := range catalog {
		if strings.HasSuffix(tbl, "_fts") {
			continue // the full-text index repeats chunks, which are exported
		}
		if _, ok := sink.columns[tbl]; !ok {
			t.Errorf("table %s is not in the export", tbl)
			continue
		}
		if got, want := int64(len(sink.rows[tbl])), rawCount(t, s, a.Workspace(), tbl); got != want {
			t.Errorf("export has %d rows of %s, the database %d", got, tbl, want)
		}
		for _, c := range cols {
			if _, listed := sqlstore.ExportColumnTreatment(tbl, c); !listed {
				t.Errorf("column %s.%s has no export treatment (keep, redact or open)", tbl, c)
			}
		}
	}
	for tbl := range sink.columns {
		if _, ok := catalog[tbl]; !ok {
			t.Errorf("export has table %s the catalog does not list", tbl)
		}
	}
	// The seed reached the tables that matter, so the counts compare
	// something.
	for _, tbl := range []string{"memberships", "invitations", "api_keys", "bots", "channels", "provider_keys", "event_endpoints",
		"event_deliveries", "documents", "chunks", "conversations", "messages", "deliveries", "reply_sends", "usage_daily",
		"idempotency_keys", "audit_log"} {
		if len(sink.rows[tbl]) == 0 {
			t.Errorf("the seed left %s empty", tbl)
		}
	}
	if got := len(sink.rows["messages"]); got != 7 {
		t.Errorf("export has %d messages, want 7", got)
	}

	text := sink.text.String()
	// Message bodies are the workspace's content and arrive opened.
	for i := range 7 {
		if !strings.Contains(text, fmt.Sprintf("message %d of alpha", i)) {
			t.Errorf("message %d's body is not in the export", i)
		}
	}
	// So are the sources an answer cited: they quote the documents.
	if !strings.Contains(text, "cited excerpt 1 of alpha") {
		t.Error("an answer's cited sources are not in the export")
	}
	if !slices.Contains(sink.columns["messages"], "sources") || slices.Contains(sink.columns["messages"], "sealed_sources") {
		t.Errorf("messages columns = %v", sink.columns["messages"])
	}
	if !slices.Contains(sink.columns["messages"], "body") || slices.Contains(sink.columns["messages"], "sealed_body") {
		t.Errorf("messages columns = %v", sink.columns["messages"])
	}
	// No secret, of this workspace or another, in any form.
	for _, canary := range append(ca.all(), cb.all()...) {
		for _, form := range []string{canary, fmt.Sprintf("%x", canary)} {
			if strings.Contains(text, form) {
				t.Errorf("the export contains the secret %q", canary)
			}
		}
	}
	if !strings.Contains(text, `"[redacted]"`) {
		t.Error("no secret column was shown as redacted")
	}
	// Nothing of the other workspace.
	for _, marker := range []string{string(b.Workspace()), "bravo"} {
		if strings.Contains(text, marker) {
			t.Errorf("the export of A contains %q of workspace B", marker)
		}
	}
	if !strings.Contains(text, string(a.Workspace())) || !strings.Contains(text, "alpha") {
		t.Error("the export does not contain its own workspace")
	}

	// A workspace that does not exist exports nothing.
	var none recordingSink
	if err := s.ExportWorkspace(ctx(t), palisade.ScopeFor(palisade.NewWorkspaceID()), &none); err == nil || len(none.order) != 0 {
		t.Fatalf("export of an unknown workspace: %v, %v", err, none.order)
	}
}
