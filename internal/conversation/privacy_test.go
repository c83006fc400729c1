package conversation_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// piiMessages carry one value of each kind; piiValues are those values,
// in every form in which they could be stored (formatted and as bare
// digits).
var (
	piiMessages = []string{
		"Hello, my name is Alice Johnson. Mail me at alice.smith@example.com or call +44 20 7946 0958.",
		"Charge card 4111 1111 1111 1111 or IBAN DE89 3704 0044 0532 0130 00; my SSN is 078-05-1120.",
		"I connect from 203.0.113.7 and 2001:db8::42; again, alice.smith@example.com.",
	}
	piiValues = []string{"Alice Johnson", "alice.smith@example.com", "+44 20 7946 0958", "442079460958",
		"4111 1111 1111 1111", "4111111111111111", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
		"078-05-1120", "078051120", "203.0.113.7", "2001:db8::42"}
	// leakedByModel is what the fake model writes into its answer, as if a
	// passage had carried it: before_storage must not store it either.
	leakedByModel = "bob.jones@example.org"
)

type piiEnv struct {
	store   store.Store
	scope   palisade.Scope
	bot     palisade.Bot
	fake    *llmtest.Server
	svc     *conversation.Service
	logs    *bytes.Buffer
	queries *[]string
}

// recordingRetriever records the questions it is asked.
type recordingRetriever struct {
	inner   conversation.Retriever
	queries *[]string
}

func (r recordingRetriever) Retrieve(ctx context.Context, scope palisade.Scope, bot palisade.BotID, q string, k int) ([]knowledge.Source, error) {
	*r.queries = append(*r.queries, q)
	return r.inner.Retrieve(ctx, scope, bot, q, k)
}

// setupPII runs a bot with the given mode over a real gateway and the fake
// OpenAI provider, logging at debug level into a buffer.
func setupPII(t *testing.T, s store.Store, mode palisade.PIIMode) piiEnv {
	t.Helper()
	return setupPIIReply(t, s, mode, func(llmtest.Received) string {
		return "Noted. For billing, write to " + leakedByModel + "."
	})
}

func setupPIIReply(t *testing.T, s store.Store, mode palisade.PIIMode, reply func(llmtest.Received) string) piiEnv {
	t.Helper()
	ctx := t.Context()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	b := palisade.Bot{ID: palisade.NewBotID(), Name: "Helper", SystemPrompt: "You are Helper.", Model: "gpt-4o-mini",
		Temperature: 0.2, MaxOutputTokens: 500, PIIMode: mode, CreatedAt: t0}
	b.GatewayTokenSalt, b.GatewayTokenHash = tokens.Issue(b.ID)
	if b, err = s.CreateBot(ctx, scope, b); err != nil {
		t.Fatal(err)
	}
	kn := &knowledge.Service{Store: s, Now: func() time.Time { return t0 }}
	if _, err := kn.Add(ctx, scope, b.ID, knowledge.NewDocument{Title: "Billing", ContentType: knowledge.TypePlain,
		Content: "Cards and bank transfers are accepted. Mail and phone support answer within a day."}); err != nil {
		t.Fatal(err)
	}
	fake := llmtest.NewOpenAI(t, llmtest.Options{Reply: reply})
	prov, err := openai.New(openai.Config{BaseURL: fake.URL, APIKey: secret.New("sk-test"), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw := gateway.New(gateway.Options{Store: s, Providers: map[string]llm.Provider{"gpt-4o-mini": prov}, Now: func() time.Time { return t0 }, Logger: logger})
	queries := &[]string{}
	svc := &conversation.Service{Store: s, Knowledge: recordingRetriever{inner: kn, queries: queries},
		Generator: &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens}, Now: func() time.Time { return t0 }, Logger: logger}
	return piiEnv{store: s, scope: scope, bot: b, fake: fake, svc: svc, logs: logs, queries: queries}
}

func (e piiEnv) converse(t *testing.T) palisade.ConversationID {
	t.Helper()
	var conv palisade.ConversationID
	for i, text := range piiMessages {
		r, err := e.svc.Handle(t.Context(), e.scope, conversation.Inbound{BotID: e.bot.ID, Channel: "api", UserID: "user-1",
			Text: text, InboundRef: fmt.Sprintf("ref-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = r.ConversationID
	}
	return conv
}

// assertAbsent fails when any value occurs in what.
func assertAbsent(t *testing.T, where string, what []byte, values ...string) {
	t.Helper()
	for _, v := range values {
		if bytes.Contains(what, []byte(v)) {
			t.Errorf("%s holds %q", where, v)
		}
	}
}

// TestPIIBeforeLLM: with before_llm, neither the provider (every byte of
// every request it receives) nor the retriever gets an original value, a
// value keeps its placeholder across messages, and the stored messages
// are the originals.
func TestPIIBeforeLLM(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := setupPII(t, s, palisade.PIIBeforeLLM)
	conv := e.converse(t)
	reqs := e.fake.Requests()
	if len(reqs) != len(piiMessages) {
		t.Fatalf("%d provider requests, want %d", len(reqs), len(piiMessages))
	}
	for i, r := range reqs {
		assertAbsent(t, fmt.Sprintf("provider request %d", i), r.Body, piiValues...)
	}
	last := string(reqs[len(reqs)-1].Body)
	for _, ph := range []string{"[NAME_1]", "[EMAIL_1]", "[PHONE_1]", "[CARD_1]", "[IBAN_1]", "[SSN_1]", "[IP_1]", "[IP_2]"} {
		if !strings.Contains(last, ph) {
			t.Errorf("last request lacks %s: %s", ph, last)
		}
	}
	// The e-mail address of the first message comes back in the third:
	// the same placeholder as in the history sent with it.
	if !strings.Contains(last, "again, [EMAIL_1]") || !strings.Contains(last, "Mail me at [EMAIL_1]") {
		t.Errorf("a repeated value got a new placeholder: %s", last)
	}
	for _, q := range *e.queries {
		assertAbsent(t, "retrieval query", []byte(q), piiValues...)
	}
	msgs, err := e.store.ListMessages(t.Context(), e.scope, conv, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*len(piiMessages) || msgs[0].Body != piiMessages[0] || msgs[4].Body != piiMessages[2] {
		t.Fatalf("stored = %+v, want the originals", msgs)
	}
	assertAbsent(t, "logs", e.logs.Bytes(), piiValues...)
}

// clearSealer "seals" by prefixing the plaintext: with it, message bodies
// reach the database as written, so a search of the file's bytes or of
// the rows finds whatever plaintext the service stored. (The real sealer
// encrypts, which would hide a leak from that search.)
type clearSealer struct{}

const clearPrefix = "clear:"

func (clearSealer) Seal(_ context.Context, _ palisade.WorkspaceID, _ palisade.SealedField, p []byte) ([]byte, error) {
	return append([]byte(clearPrefix), p...), nil
}

func (clearSealer) Open(_ context.Context, _ palisade.WorkspaceID, _ palisade.SealedField, b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(clearPrefix)) {
		return nil, fmt.Errorf("not sealed by clearSealer")
	}
	return b[len(clearPrefix):], nil
}

func (c clearSealer) Reseal(ctx context.Context, ws palisade.WorkspaceID, f palisade.SealedField, b []byte) ([]byte, error) {
	return b, nil
}

func (clearSealer) DestroyWorkspace(context.Context, palisade.WorkspaceID) error { return nil }

// openPlainSQLite opens a SQLite store with clearSealer, so that message
// bodies reach the file as written and a search of its bytes means
// something.
func openPlainSQLite(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := sqlite.Open(t.Context(), path, store.Options{Sealer: clearSealer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// fileBytes checkpoints and closes the store, then reads the database and
// any journal beside it.
func fileBytes(t *testing.T, s *sqlite.Store, path string) []byte {
	t.Helper()
	if _, err := s.DB().ExecContext(t.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(path + "*")
	if err != nil || len(files) == 0 {
		t.Fatalf("database files %v, %v", files, err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// storedBodies reads every message of the conversation back through the
// store, opened (unsealed).
func storedBodies(t *testing.T, e piiEnv, conv palisade.ConversationID) []byte {
	t.Helper()
	msgs, err := e.store.ListMessages(t.Context(), e.scope, conv, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*len(piiMessages) {
		t.Fatalf("%d messages stored, want %d", len(msgs), 2*len(piiMessages))
	}
	var b bytes.Buffer
	for _, m := range msgs {
		b.WriteString(m.Body + "\n")
	}
	return b.Bytes()
}

// TestPIIBeforeStorageSQLite: with before_storage, a conversation holding
// each kind of personal data leaves no original value in the database
// file, in the messages read back through the store, in what the
// provider received, or in the logs. The same conversation with the mode
// off does leave them in the file, which shows the search can find them.
func TestPIIBeforeStorageSQLite(t *testing.T) {
	t.Parallel()
	forbidden := append([]string{leakedByModel}, piiValues...)
	s, path := openPlainSQLite(t)
	e := setupPII(t, s, palisade.PIIBeforeStorage)
	conv := e.converse(t)
	bodies := storedBodies(t, e, conv)
	assertAbsent(t, "stored messages", bodies, forbidden...)
	if !bytes.Contains(bodies, []byte("[CARD_1]")) || !bytes.Contains(bodies, []byte("[EMAIL_2]")) {
		t.Errorf("stored messages lack their placeholders: %s", bodies)
	}
	for i, r := range e.fake.Requests() {
		assertAbsent(t, fmt.Sprintf("provider request %d", i), r.Body, piiValues...)
	}
	assertAbsent(t, "logs", e.logs.Bytes(), forbidden...)
	assertAbsent(t, "database file", fileBytes(t, s, path), forbidden...)

	// The control: the mode off stores the values, and the file shows them.
	s2, path2 := openPlainSQLite(t)
	off := setupPII(t, s2, palisade.PIIOff)
	off.converse(t)
	raw := fileBytes(t, s2, path2)
	for _, v := range []string{"alice.smith@example.com", "4111 1111 1111 1111", "078-05-1120", leakedByModel} {
		if !bytes.Contains(raw, []byte(v)) {
			t.Errorf("with the mode off the file lacks %q: the search proves nothing", v)
		}
	}
}

// TestPIIBeforeStorageRedactsCitedSources: the sources stored with an
// answer quote the documents, so with before_storage their personal data
// is replaced as the answer's is; with the mode off they are kept as cited.
func TestPIIBeforeStorageRedactsCitedSources(t *testing.T) {
	t.Parallel()
	const address = "refunds.desk@example.org"
	for _, mode := range []palisade.PIIMode{palisade.PIIBeforeStorage, palisade.PIIOff} {
		s, _ := openPlainSQLite(t)
		e := setupPII(t, s, mode)
		kn := &knowledge.Service{Store: s, Now: func() time.Time { return t0 }}
		if _, err := kn.Add(t.Context(), e.scope, e.bot.ID, knowledge.NewDocument{Title: "Refunds", ContentType: knowledge.TypePlain,
			Content: "Refunds are handled by " + address + " within a week."}); err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Handle(t.Context(), e.scope, conversation.Inbound{BotID: e.bot.ID, Channel: "api", UserID: "user-1", Text: "Who handles refunds?"})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.ListMessages(t.Context(), e.scope, r.ConversationID, 10)
		if err != nil || len(msgs) != 2 || len(msgs[1].Sources) == 0 {
			t.Fatalf("%s: stored %+v, %v", mode, msgs, err)
		}
		var cited strings.Builder
		for _, src := range msgs[1].Sources {
			cited.WriteString(src.Title + ": " + src.Excerpt + "\n")
		}
		switch mode {
		case palisade.PIIBeforeStorage:
			if strings.Contains(cited.String(), address) || !strings.Contains(cited.String(), "[EMAIL_") {
				t.Errorf("before_storage stored the cited sources as:\n%s", cited.String())
			}
		default:
			if !strings.Contains(cited.String(), address) {
				t.Errorf("with the mode off the cited sources lack the address, so the check proves nothing:\n%s", cited.String())
			}
		}
	}
}

// TestPIIBeforeStoragePostgres: the same on PostgreSQL, reading every row
// of every table as the administrator, which row-level security does not
// filter.
func TestPIIBeforeStoragePostgres(t *testing.T) {
	t.Parallel()
	role := servicetest.PostgresRole(t)
	admin := servicetest.Postgres(t)
	master, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	scopeKey, err := postgres.DeriveScopeKey(master)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(t.Context(), admin, postgres.MigrateOptions{AppRole: role, Master: master}); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), store.Options{Sealer: clearSealer{}}, postgres.OpenOptions{ScopeKey: scopeKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	forbidden := append([]string{leakedByModel}, piiValues...)
	e := setupPII(t, s, palisade.PIIBeforeStorage)
	conv := e.converse(t)
	assertAbsent(t, "stored messages", storedBodies(t, e, conv), forbidden...)
	assertAbsent(t, "logs", e.logs.Bytes(), forbidden...)

	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	// One query per table that renders each row as text, bytea columns
	// (where sealed values live) as their bytes rather than hex.
	rows, err := conn.Query(t.Context(), `SELECT quote_ident(c.table_schema) || '.' || quote_ident(c.table_name),
		'SELECT string_agg(concat_ws(E''\t'', ' || string_agg(CASE WHEN c.data_type = 'bytea'
			THEN 'encode(' || quote_ident(c.column_name) || ', ''escape'')' ELSE quote_ident(c.column_name) || '::text' END, ', ')
		|| '), E''\n'') FROM ' || quote_ident(c.table_schema) || '.' || quote_ident(c.table_name)
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
		GROUP BY c.table_schema, c.table_name`)
	if err != nil {
		t.Fatal(err)
	}
	type tableQuery struct{ Table, Query string }
	tables, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tableQuery])
	if err != nil || len(tables) == 0 {
		t.Fatalf("tables %v, %v", tables, err)
	}
	var dump bytes.Buffer
	sawMessages := false
	for _, tq := range tables {
		table := tq.Table
		var text *string
		if err := conn.QueryRow(t.Context(), tq.Query).Scan(&text); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		if text != nil {
			dump.WriteString(*text)
			if strings.HasSuffix(table, ".messages") && strings.Contains(*text, "[CARD_1]") {
				sawMessages = true
			}
		}
	}
	if !sawMessages {
		t.Fatal("the messages table does not hold the redacted bodies in clear: the search proves nothing")
	}
	assertAbsent(t, "PostgreSQL rows", dump.Bytes(), forbidden...)
}

// TestPIIPlaceholdersAcrossStoredHistory: with before_storage the stored
// history is already redacted; a new value is numbered after the
// placeholders in it, so no placeholder names two values.
func TestPIIPlaceholdersAcrossStoredHistory(t *testing.T) {
	t.Parallel()
	s, _ := openPlainSQLite(t)
	e := setupPII(t, s, palisade.PIIBeforeStorage)
	e.converse(t)
	r, err := e.svc.Handle(t.Context(), e.scope, conversation.Inbound{BotID: e.bot.ID, Channel: "api", UserID: "user-1",
		Text: "New address: carol@example.net"})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.store.ListMessages(t.Context(), e.scope, r.ConversationID, 100)
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`\[EMAIL_\d+\]`)
	earlier := map[string]bool{}
	for _, m := range msgs[:len(msgs)-2] {
		for _, p := range placeholder.FindAllString(m.Body, -1) {
			earlier[p] = true
		}
	}
	got := placeholder.FindAllString(msgs[len(msgs)-2].Body, -1)
	if len(earlier) == 0 || len(got) != 1 || earlier[got[0]] {
		t.Fatalf("new value stored as %v; earlier placeholders %v", got, earlier)
	}
}

// TestPIIBeforeLLMModelKeepsPlaceholders: with before_llm, a placeholder
// the model used in its reply still names the same value in the next
// request, where the history is redacted again from the originals.
func TestPIIBeforeLLMModelKeepsPlaceholders(t *testing.T) {
	t.Parallel()
	s, _ := openPlainSQLite(t)
	email := regexp.MustCompile(`\[EMAIL_\d+\]`)
	e := setupPIIReply(t, s, palisade.PIIBeforeLLM, func(r llmtest.Received) string {
		return "I will write to " + email.FindString(r.Messages[len(r.Messages)-1].Content) + " now."
	})
	e.converse(t)
	reqs := e.fake.Requests()
	last := reqs[len(reqs)-1]
	var history strings.Builder
	for _, m := range last.Messages[:len(last.Messages)-1] {
		history.WriteString(m.Content + "\n")
	}
	h := history.String()
	if !strings.Contains(h, "Mail me at [EMAIL_1]") || !strings.Contains(h, "I will write to [EMAIL_1] now.") ||
		!strings.Contains(last.Messages[len(last.Messages)-1].Content, "again, [EMAIL_1]") || strings.Contains(string(last.Body), "[EMAIL_2]") {
		t.Fatalf("placeholders drifted between requests: %s", last.Body)
	}
	assertAbsent(t, "provider request", last.Body, piiValues...)
}
