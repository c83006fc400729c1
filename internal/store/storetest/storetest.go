// Package storetest is the conformance suite every store implementation
// passes: the same tests run against SQLite and PostgreSQL, so both behave
// alike, including tenant isolation (another workspace's row reads as not
// found). Every store change extends it.
//
// It must only be imported by tests.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Opener opens a fresh, empty, migrated store for one test.
type Opener func(t *testing.T, opts store.Options) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := map[string]func(*testing.T, Opener){
		"Workspaces":       testWorkspaces,
		"Users":            testUsers,
		"OneTimeTokens":    testTokens,
		"Members":          testMembers,
		"MemberListings":   testMemberListings,
		"APIKeyListing":    testAPIKeyListing,
		"APIKeyCreator":    testAPIKeyCreator,
		"Invitations":      testInvitations,
		"APIKeys":          testAPIKeys,
		"Bots":             testBots,
		"TenantIsolation":  testIsolation,
		"Deliveries":       testDeliveries,
		"Knowledge":        testKnowledge,
		"SearchKeyedByBot": testSearchKeyedByBot,
		"BotPages":         testBotPages,
		"Conversations":    testConversations,
		"Usage":            testUsage,
		"UsageReserve":     testUsageReservations,
		"UsageReserveRace": testUsageReservationsConcurrent,
		"GatewayNonces":    testGatewayNonces,
		"Prune":            testPrune,
		"Retention":        testRetention,
		"PruneSessions":    testPruneSessions,
		"ExpiryBoundary":   testExpiryBoundary,
		"Placeholders":     testPlaceholders,
		"NoScope":          testNoScope,
		"Accounts":         testAccounts,
		"LastOwner":        testLastOwner,
		"LastOwnerRace":    testLastOwnerRace,
		"AuditLog":         testAuditLog,
		"Sealing":          testSealing,
		"Channels":         testChannels,
		"Replies":          testReplies,
		"ReplyOrdering":    testReplyOrdering,
		"Leases":           testLeases,
		"ChannelsOfKind":   testChannelsOfKind,
		"Billing":          testBilling,
		"BillingMessages":  testBillingMessages,
		"EventHooks":       testEventHooks,
		"ConversationList": testConversationListing,
		"Idempotency":      testIdempotency,
		"AuditFilters":     testAuditFilters,
		"Suspension":       testSuspension,
		"Export":           testExport,
		"Activity":         testActivity,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open)
		})
	}
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func mustWS(t *testing.T, s store.Store, name string) palisade.Scope {
	t.Helper()
	w, err := s.CreateWorkspace(ctx(t), store.CreateWorkspaceParams{Name: name, Now: t0})
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	return palisade.ScopeFor(w.ID)
}

func mustUser(t *testing.T, s store.Store, email string) palisade.User {
	t.Helper()
	u, err := s.CreateUser(ctx(t), store.CreateUserParams{Email: email, Name: "N", PasswordHash: "$argon2id$x", Now: t0})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func mustBot(t *testing.T, s store.Store, scope palisade.Scope, name string) palisade.Bot {
	t.Helper()
	b, err := s.CreateBot(ctx(t), scope, palisade.Bot{Name: name, SystemPrompt: "be kind", Model: "gpt-4o-mini", Temperature: 0.5,
		MaxOutputTokens: 512, PIIMode: palisade.PIIBeforeLLM, AllowedDomains: []string{"example.com", "shop.example.org"}, CreatedAt: t0})
	if err != nil {
		t.Fatalf("CreateBot: %v", err)
	}
	return b
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testWorkspaces(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "Acme")
	w, err := s.GetWorkspace(ctx(t), a)
	if err != nil || w.Name != "Acme" || w.ID != a.Workspace() || !w.CreatedAt.Equal(t0) || w.RetentionDays != 90 || len(w.AllowedModels) != 0 || !w.AllowsModel("any") {
		t.Fatalf("GetWorkspace = %+v, %v", w, err)
	}
	if err := s.SetWorkspaceModels(ctx(t), a, []string{"gpt-4o-mini", "claude-3-5-haiku-latest"}); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.GetWorkspace(ctx(t), a); len(w.AllowedModels) != 2 || !w.AllowsModel("gpt-4o-mini") || w.AllowsModel("gpt-4o") {
		t.Fatalf("workspace models = %v", w.AllowedModels)
	}
	b := mustWS(t, s, "Beta")
	ids, err := s.ListWorkspaceIDs(ctx(t))
	if err != nil || len(ids) != 2 {
		t.Fatalf("ListWorkspaceIDs = %v, %v", ids, err)
	}
	bot := mustBot(t, s, b, "kept")
	mustBot(t, s, a, "gone")
	// Without a record of its audit chain's end the deletion cannot be
	// recorded, so it does not happen.
	if _, err := s.DeleteWorkspace(ctx(t), a, store.DeleteWorkspaceParams{Seal: testSeal}); err == nil {
		t.Fatal("DeleteWorkspace without a record for its audit entry succeeded")
	}
	if _, err := s.GetWorkspace(ctx(t), a); err != nil {
		t.Fatalf("an unrecorded deletion deleted: %v", err)
	}
	if _, err := deleteWorkspace(t, s, a); err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	_, err = s.GetWorkspace(ctx(t), a)
	wantErr(t, err, store.ErrNotFound, "GetWorkspace after delete")
	_, err = deleteWorkspace(t, s, a)
	wantErr(t, err, store.ErrNotFound, "second DeleteWorkspace")
	// The deletion is in the platform chain, once, naming the workspace.
	recorded, err := s.ListPlatformAudit(ctx(t), store.ListAuditParams{})
	if err != nil || len(recorded) != 1 || recorded[0].Action != store.AuditActionWorkspaceDeleted || recorded[0].Target != string(a.Workspace()) {
		t.Fatalf("platform audit after deleting a workspace = %+v, %v", recorded, err)
	}
	if store.AuditActionWorkspaceDeleted != string(audit.ActionWorkspaceDeleted) {
		t.Fatalf("the store records deletions as %q, the audit log calls them %q", store.AuditActionWorkspaceDeleted, audit.ActionWorkspaceDeleted)
	}
	if _, err := s.LookupBotWorkspace(ctx(t), bot.ID); err != nil {
		t.Fatalf("other workspace's bot lost: %v", err)
	}
	if bots, _ := s.ListBots(ctx(t), a); len(bots) != 0 {
		t.Fatalf("deleted workspace still has bots: %v", bots)
	}
}

// deletion is the audit entry of a workspace deletion as a caller gives it;
// the store names the action and the target.

func testUsers(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	if n, err := s.CountUsers(ctx(t)); err != nil || n != 0 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
	u := mustUser(t, s, "Ann@Example.com")
	if u.Email != "ann@example.com" {
		t.Fatalf("email not lower-cased: %q", u.Email)
	}
	got, err := s.GetUserByEmail(ctx(t), "ANN@example.COM")
	if err != nil || got.ID != u.ID || got.PasswordHash != "$argon2id$x" || got.EmailVerifiedAt != nil {
		t.Fatalf("GetUserByEmail = %+v, %v", got, err)
	}
	if got, err := s.GetUser(ctx(t), u.ID); err != nil || got.Email != u.Email {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	_, err = s.CreateUser(ctx(t), store.CreateUserParams{Email: "ann@example.com", Now: t0})
	wantErr(t, err, store.ErrConflict, "duplicate user")
	_, err = s.GetUserByEmail(ctx(t), "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "unknown user")
	_, err = s.GetUser(ctx(t), palisade.NewUserID())
	wantErr(t, err, store.ErrNotFound, "unknown user id")
	if n, _ := s.CountUsers(ctx(t)); n != 1 {
		t.Fatalf("CountUsers = %d", n)
	}
}

func testTokens(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	h := []byte("0123456789abcdef0123456789abcdef")
	err := s.CreateOneTimeToken(ctx(t), store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: h, Email: "o@example.com", Now: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ConsumeOneTimeToken(ctx(t), palisade.TokenResetPassword, h, t0)
	wantErr(t, err, store.ErrNotFound, "wrong purpose")
	_, err = s.ConsumeOneTimeToken(ctx(t), palisade.TokenSetupOwner, h, t0.Add(2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "expired token")
	tok, err := s.ConsumeOneTimeToken(ctx(t), palisade.TokenSetupOwner, h, t0.Add(time.Minute))
	if err != nil || tok.Email != "o@example.com" || tok.Purpose != palisade.TokenSetupOwner {
		t.Fatalf("Consume = %+v, %v", tok, err)
	}
	_, err = s.ConsumeOneTimeToken(ctx(t), palisade.TokenSetupOwner, h, t0.Add(time.Minute))
	wantErr(t, err, store.ErrNotFound, "second consume")
}

func testMembers(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	u := mustUser(t, s, "u@example.com")
	if _, err := s.AddMember(ctx(t), a, u.ID, palisade.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMember(ctx(t), b, u.ID, palisade.RoleViewer, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := s.AddMember(ctx(t), a, u.ID, palisade.RoleViewer, t0)
	wantErr(t, err, store.ErrConflict, "duplicate membership")
	m, err := s.GetMembership(ctx(t), b, u.ID)
	if err != nil || m.Role != palisade.RoleViewer || m.WorkspaceID != b.Workspace() {
		t.Fatalf("GetMembership = %+v, %v", m, err)
	}
	list, err := s.ListMembers(ctx(t), a)
	if err != nil || len(list) != 1 || list[0].Role != palisade.RoleOwner {
		t.Fatalf("ListMembers = %+v, %v", list, err)
	}
	mine, err := s.ListUserMemberships(ctx(t), u.ID)
	if err != nil || len(mine) != 2 || mine[0].WorkspaceID != a.Workspace() || mine[1].WorkspaceID != b.Workspace() {
		t.Fatalf("ListUserMemberships = %+v, %v", mine, err)
	}
	other := mustUser(t, s, "other@example.com")
	if mine, _ := s.ListUserMemberships(ctx(t), other.ID); len(mine) != 0 {
		t.Fatalf("another user sees memberships: %+v", mine)
	}
}

func testInvitations(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	inv, err := s.CreateInvitation(ctx(t), a, store.CreateInvitationParams{Email: "New@Example.com", Role: palisade.RoleEditor,
		TokenHashHex: "ab12", Now: t0, ExpiresAt: t0.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupInvitation(ctx(t), "ab12")
	if err != nil || got.ID != inv.ID || got.WorkspaceID != a.Workspace() || got.Email != "new@example.com" || got.Role != palisade.RoleEditor {
		t.Fatalf("LookupInvitation = %+v, %v", got, err)
	}
	_, err = s.LookupInvitation(ctx(t), "ab13")
	wantErr(t, err, store.ErrNotFound, "unknown invitation")
	u := mustUser(t, s, "new@example.com")
	b := mustWS(t, s, "B")
	_, err = s.AcceptInvitation(ctx(t), b, inv.ID, u.ID, t0)
	wantErr(t, err, store.ErrNotFound, "accept in another workspace")
	m, err := s.AcceptInvitation(ctx(t), a, inv.ID, u.ID, t0.Add(time.Minute))
	if err != nil || m.Role != palisade.RoleEditor || m.UserID != u.ID {
		t.Fatalf("AcceptInvitation = %+v, %v", m, err)
	}
	_, err = s.AcceptInvitation(ctx(t), a, inv.ID, u.ID, t0.Add(time.Minute))
	wantErr(t, err, store.ErrNotFound, "second accept")
	_, err = s.LookupInvitation(ctx(t), "ab12")
	wantErr(t, err, store.ErrNotFound, "lookup of accepted invitation")
}

func testAPIKeys(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	exp := t0.Add(24 * time.Hour)
	k, err := s.CreateAPIKey(ctx(t), a, store.CreateAPIKeyParams{Name: "ci", Prefix: "abcdefghijkl", Hash: []byte("hash-bytes"),
		Scopes: []string{"bots:read", "messages:send"}, Now: t0, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateAPIKey(ctx(t), b, store.CreateAPIKeyParams{Name: "dup", Prefix: "abcdefghijkl", Hash: []byte("h"), Now: t0})
	wantErr(t, err, store.ErrConflict, "duplicate prefix")
	got, err := s.LookupAPIKey(ctx(t), "abcdefghijkl")
	if err != nil || got.ID != k.ID || got.WorkspaceID != a.Workspace() || string(got.Hash) != "hash-bytes" ||
		len(got.Scopes) != 2 || got.Scopes[1] != "messages:send" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("LookupAPIKey = %+v, %v", got, err)
	}
	if !got.Usable(t0) || got.Usable(exp) {
		t.Fatal("Usable ignores expiry")
	}
	if err := s.TouchAPIKey(ctx(t), a, k.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.RevokeAPIKey(ctx(t), b, k.ID, t0), store.ErrNotFound, "revoke from another workspace")
	if err := s.RevokeAPIKey(ctx(t), a, k.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAPIKeys(ctx(t), a)
	if err != nil || len(list) != 1 || list[0].RevokedAt == nil || list[0].LastUsedAt == nil || list[0].Usable(t0.Add(3*time.Minute)) {
		t.Fatalf("ListAPIKeys = %+v, %v", list, err)
	}
	if list, _ := s.ListAPIKeys(ctx(t), b); len(list) != 0 {
		t.Fatalf("workspace B sees A's keys: %+v", list)
	}
	_, err = s.LookupAPIKey(ctx(t), "zzzzzzzzzzzz")
	wantErr(t, err, store.ErrNotFound, "unknown prefix")
}

func testBots(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	b := mustBot(t, s, a, "Helper")
	got, err := s.GetBot(ctx(t), a, b.ID)
	if err != nil || got.Name != "Helper" || got.Model != "gpt-4o-mini" || got.Temperature != 0.5 || got.MaxOutputTokens != 512 ||
		got.PIIMode != palisade.PIIBeforeLLM || len(got.AllowedDomains) != 2 || got.AllowedDomains[1] != "shop.example.org" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("GetBot = %+v, %v", got, err)
	}
	rot, err := s.RotateBotToken(ctx(t), a, b.ID, []byte{4, 5}, []byte{1, 2, 3}, t0.Add(time.Minute))
	if err != nil || string(rot.GatewayTokenHash) != "\x01\x02\x03" || string(rot.GatewayTokenSalt) != "\x04\x05" || rot.Name != "Helper" {
		t.Fatalf("RotateBotToken = %+v, %v", rot, err)
	}
	// An update made from a copy read before the rotation keeps the
	// rotated token: updates never write the token columns.
	got.Name, got.UpdatedAt, got.GatewayTokenHash, got.AllowedDomains = "Renamed", t0.Add(time.Hour), []byte{9, 9}, nil
	upd, err := s.UpdateBot(ctx(t), a, got)
	if err != nil || upd.Name != "Renamed" || string(upd.GatewayTokenHash) != "\x01\x02\x03" || len(upd.AllowedDomains) != 0 || !upd.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("UpdateBot = %+v, %v", upd, err)
	}
	if _, err := s.RotateBotToken(ctx(t), mustWS(t, s, "Other"), b.ID, []byte{1}, []byte{1}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RotateBotToken from another workspace = %v, want not found", err)
	}
	ws, err := s.LookupBotWorkspace(ctx(t), b.ID)
	if err != nil || ws != a.Workspace() {
		t.Fatalf("LookupBotWorkspace = %v, %v", ws, err)
	}
	list, err := s.ListBots(ctx(t), a)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListBots = %v, %v", list, err)
	}
	if err := s.DeleteBot(ctx(t), a, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetBot(ctx(t), a, b.ID)
	wantErr(t, err, store.ErrNotFound, "GetBot after delete")
	_, err = s.LookupBotWorkspace(ctx(t), b.ID)
	wantErr(t, err, store.ErrNotFound, "lookup of deleted bot")
}

// testIsolation: every method given workspace B's scope and workspace A's
// ids reads as not found and changes nothing.
func testIsolation(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "A's bot")
	_, err := s.GetBot(ctx(t), b, bot.ID)
	wantErr(t, err, store.ErrNotFound, "GetBot across workspaces")
	bot2 := bot
	bot2.Name = "hijacked"
	_, err = s.UpdateBot(ctx(t), b, bot2)
	wantErr(t, err, store.ErrNotFound, "UpdateBot across workspaces")
	wantErr(t, s.DeleteBot(ctx(t), b, bot.ID), store.ErrNotFound, "DeleteBot across workspaces")
	if got, err := s.GetBot(ctx(t), a, bot.ID); err != nil || got.Name != "A's bot" {
		t.Fatalf("A's bot changed: %+v, %v", got, err)
	}
	if list, _ := s.ListBots(ctx(t), b); len(list) != 0 {
		t.Fatalf("B lists A's bots: %+v", list)
	}
	u := mustUser(t, s, "a@example.com")
	if _, err := s.AddMember(ctx(t), a, u.ID, palisade.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetMembership(ctx(t), b, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetMembership across workspaces")
	if list, _ := s.ListMembers(ctx(t), b); len(list) != 0 {
		t.Fatalf("B lists A's members: %+v", list)
	}
}

type countArgs struct {
	Key string `json:"key"`
}

func (countArgs) Kind() string { return "storetest_count" }

// testDeliveries proves a delivery's dedupe record and its job are written
// together, once: a replay inserts no second job. The workers that run the
// jobs are proved in package job.
func testDeliveries(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	bot := mustBot(t, s, a, "bot")
	p := store.DeliveryParams{BotID: bot.ID, Source: "telegram", Key: "100000001", Now: t0}
	fresh, err := s.RecordDelivery(ctx(t), a, p, countArgs{Key: p.Key})
	if err != nil || !fresh {
		t.Fatalf("first delivery = %v, %v", fresh, err)
	}
	fresh, err = s.RecordDelivery(ctx(t), a, p, countArgs{Key: p.Key})
	if err != nil || fresh {
		t.Fatalf("replayed delivery = %v, %v; want not fresh", fresh, err)
	}
	// The same delivery key in another workspace is its own delivery.
	if fresh, err := s.RecordDelivery(ctx(t), b, p, nil); err != nil || !fresh {
		t.Fatalf("delivery in B = %v, %v", fresh, err)
	}
	if err := s.Jobs().Enqueue(ctx(t), countArgs{Key: "direct"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Jobs().Count(ctx(t), countArgs{}.Kind()); err != nil || n != 2 {
		t.Fatalf("jobs inserted = %d, %v; want 2 (one per fresh delivery with a job, one direct)", n, err)
	}
	// A delivery whose transaction fails leaves neither record nor job.
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := s.RecordDelivery(cancelled, a, store.DeliveryParams{BotID: bot.ID, Source: "telegram", Key: "100000002", Now: t0},
		countArgs{Key: "100000002"}); err == nil {
		t.Fatal("RecordDelivery succeeded with a cancelled context")
	}
	if n, err := s.Jobs().Count(ctx(t), countArgs{}.Kind()); err != nil || n != 2 {
		t.Fatalf("jobs after a failed delivery = %d, %v; want 2", n, err)
	}
	if fresh, err := s.RecordDelivery(ctx(t), a, store.DeliveryParams{BotID: bot.ID, Source: "telegram", Key: "100000002", Now: t0}, nil); err != nil || !fresh {
		t.Fatalf("delivery after a failed attempt = %v, %v; want fresh", fresh, err)
	}
}

func testPrune(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	bot := mustBot(t, s, a, "bot")
	for i, exp := range []time.Time{t0.Add(-time.Minute), t0.Add(time.Hour)} {
		h := []byte{byte(i), 1, 2, 3}
		if err := s.CreateOneTimeToken(ctx(t), store.CreateTokenParams{Purpose: palisade.TokenVerifyEmail, Hash: h, Now: t0.Add(-2 * time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	for i, at := range []time.Time{t0.Add(-72 * time.Hour), t0} {
		if _, err := s.RecordDelivery(ctx(t), a, store.DeliveryParams{BotID: bot.ID, Source: "slack", Key: string(rune('a' + i)), Now: at}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Gateway nonces and usage reservations: one expired, one not, of each.
	for i, exp := range []time.Time{t0, t0.Add(time.Minute)} {
		if _, err := s.ClaimGatewayNonce(ctx(t), string(rune('a'+i)), t0.Add(-time.Minute), exp); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReserveUsage(ctx(t), a, store.ReserveUsageParams{BotID: bot.ID, Day: t0, Budget: 100, Tokens: 10, Min: 10,
			Now: t0.Add(-time.Minute), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	u := mustUser(t, s, "prune-device@example.com")
	for i, exp := range []time.Time{t0, t0.Add(time.Hour)} {
		if err := s.CreateDevice(ctx(t), store.CreateDeviceParams{UserID: u.ID, Hash: []byte{byte(i), 9, 9, 9}, Now: t0.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneExpired(ctx(t), t0, 48*time.Hour)
	if err != nil || n != 5 {
		t.Fatalf("PruneExpired = %d, %v; want 5", n, err)
	}
	if fresh, _ := s.ClaimGatewayNonce(ctx(t), "b", t0, t0.Add(time.Minute)); fresh {
		t.Fatal("an unexpired gateway nonce was pruned")
	}
	// The unexpired reservation still holds 10 of the 100.
	if r, _ := s.ReserveUsage(ctx(t), a, store.ReserveUsageParams{BotID: bot.ID, Day: t0, Budget: 100, Tokens: 100, Min: 1,
		Now: t0, ExpiresAt: t0.Add(time.Minute)}); r.Tokens != 90 {
		t.Fatalf("after pruning, reservation = %+v; want 90", r)
	}
	if _, err := s.GetDevice(ctx(t), []byte{1, 9, 9, 9}, t0); err != nil {
		t.Fatalf("unexpired device pruned: %v", err)
	}
	if _, err := s.ConsumeOneTimeToken(ctx(t), palisade.TokenVerifyEmail, []byte{1, 1, 2, 3}, t0); err != nil {
		t.Fatalf("unexpired token pruned: %v", err)
	}
	// The kept delivery is still a duplicate.
	if fresh, _ := s.RecordDelivery(ctx(t), a, store.DeliveryParams{BotID: bot.ID, Source: "slack", Key: "b", Now: t0}, nil); fresh {
		t.Fatal("recent dedupe record was pruned")
	}
}

func testNoScope(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	_, err := s.ListBots(ctx(t), palisade.Scope{})
	wantErr(t, err, store.ErrNoScope, "ListBots without scope")
	_, err = s.GetWorkspace(ctx(t), palisade.ScopeFor("ws_bad"))
	wantErr(t, err, store.ErrNoScope, "malformed scope")
}
