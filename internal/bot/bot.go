// Package bot is the use-case service of a workspace's bots and their
// knowledge documents: it validates a bot's configuration against the
// model allowlist, issues and rotates gateway tokens, stores the bot and
// records every change in the audit log. The REST API, the admin UI and the
// CLI all call it, so a bot is created, changed or deleted by exactly one
// piece of code whatever the surface, and a value refused by one surface can
// never be slipped in through another.
//
// It must never act outside the caller's scope (another workspace's bot
// reads as not found), never return or store a gateway token (only its salt
// and hash), and never speak HTTP.
package bot

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	SetWorkspaceModels(ctx context.Context, scope palisade.Scope, models []string) error
	SetWorkspaceRetention(ctx context.Context, scope palisade.Scope, days int) error
	CreateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error)
	GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error)
	ListBots(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
	ListBotsPage(ctx context.Context, scope palisade.Scope, p store.ListBotsParams) ([]palisade.Bot, error)
	UpdateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error)
	RotateBotToken(ctx context.Context, scope palisade.Scope, id palisade.BotID, salt, hash []byte, now time.Time) (palisade.Bot, error)
	DeleteBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) error
	ListDocuments(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	ListDocumentsPage(ctx context.Context, scope palisade.Scope, bot palisade.BotID, p store.ListDocumentsParams) ([]palisade.Document, error)
	DeleteDocument(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.DocumentID) error
	UsageOn(ctx context.Context, scope palisade.Scope, bot palisade.BotID, day time.Time) (store.DailyUsage, error)
}

// Knowledge turns an uploaded document into indexed chunks
// (*knowledge.Service).
type Knowledge interface {
	Add(ctx context.Context, scope palisade.Scope, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error)
	FetchURL(ctx context.Context, domains []string, rawURL string) (knowledge.Fetched, error)
}

// TokenIssuer issues a bot its gateway token, returning only the salt and
// hash that are stored (*gateway.Tokens).
type TokenIssuer interface {
	Issue(bot palisade.BotID) (salt, hash []byte)
}

// Options configure a Service.
type Options struct {
	Store     Store
	Knowledge Knowledge
	// Models is the operator's model allowlist, resolved once at start-up;
	// a workspace may narrow it, never widen it. Required.
	Models []string
	// Tokens issues gateway tokens; nil issues none and refuses rotation.
	Tokens TokenIssuer
	// Audit records every change; nil records nothing.
	Audit audit.Recorder
	// Limits, when set, may refuse a new bot beyond the workspace's plan
	// (*billing.Service; nil allows every bot).
	Limits Limits
	Logger *slog.Logger
	Now    func() time.Time
	// Invalidation, when set, is told of every change the gateway caches
	// (a bot's settings, budget, token or deletion, the workspace's
	// models), so its cache drops the workspace's entries at once here
	// and in every other process.
	Invalidation *invalidate.Hub
}

// Limits says whether the workspace's plan allows one more bot.
type Limits interface {
	AllowBot(ctx context.Context, scope palisade.Scope) error
}

// Service is the bot use cases.
type Service struct {
	o Options
}

// New checks opts and returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Knowledge == nil {
		return nil, fmt.Errorf("bot: Store and Knowledge are required")
	}
	if len(o.Models) == 0 {
		return nil, fmt.Errorf("bot: the model allowlist is empty")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Models = slices.Clone(o.Models)
	return &Service{o: o}, nil
}

// OperatorModels is the operator's model allowlist.
func (s *Service) OperatorModels() []string { return slices.Clone(s.o.Models) }

// Models is the allowlist a bot of the workspace may use: the operator's,
// narrowed by the workspace's own.
func (s *Service) Models(ctx context.Context, scope palisade.Scope) ([]string, error) {
	ws, err := s.o.Store.GetWorkspace(ctx, scope)
	if err != nil {
		return nil, err
	}
	return narrow(s.o.Models, ws), nil
}

// Draft is a new bot with every field at its default, as a creation form
// starts.
func (s *Service) Draft(ctx context.Context, scope palisade.Scope) (palisade.Bot, error) {
	models, err := s.Models(ctx, scope)
	if err != nil {
		return palisade.Bot{}, err
	}
	return Defaults(models), nil
}

// List lists the workspace's bots.
func (s *Service) List(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error) {
	return s.o.Store.ListBots(ctx, scope)
}

// PageParams page a bot listing; Cursor is a position in it.
type (
	PageParams = store.ListBotsParams
	Cursor     = store.BotCursor
)

// Page returns one keyset page of the workspace's bots, oldest first
// (store.ListBotsPage).
func (s *Service) Page(ctx context.Context, scope palisade.Scope, p PageParams) ([]palisade.Bot, error) {
	return s.o.Store.ListBotsPage(ctx, scope, p)
}

// Get returns one bot of the workspace.
func (s *Service) Get(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error) {
	return s.o.Store.GetBot(ctx, scope, id)
}

// Create validates in over the defaults and stores a new bot with its
// gateway token. The name is required.
func (s *Service) Create(ctx context.Context, c palisade.Caller, in Input) (palisade.Bot, error) {
	if in.Name == nil {
		return palisade.Bot{}, palisade.FieldError("name", "name is required")
	}
	models, err := s.Models(ctx, c.Scope)
	if err != nil {
		return palisade.Bot{}, err
	}
	b := Defaults(models)
	b.CreatedAt = s.o.Now()
	if err := in.Apply(&b, models); err != nil {
		return palisade.Bot{}, err
	}
	if s.o.Limits != nil {
		if err := s.o.Limits.AllowBot(ctx, c.Scope); err != nil {
			return palisade.Bot{}, err
		}
	}
	b.ID = palisade.NewBotID()
	if s.o.Tokens != nil {
		b.GatewayTokenSalt, b.GatewayTokenHash = s.o.Tokens.Issue(b.ID)
	}
	b, err = s.o.Store.CreateBot(ctx, c.Scope, b)
	if err != nil {
		return palisade.Bot{}, err
	}
	s.record(ctx, c, audit.ActionBotCreated, string(b.ID))
	return b, nil
}

// Update applies the fields in names to the bot. Nothing is stored when
// any field is refused.
func (s *Service) Update(ctx context.Context, c palisade.Caller, id palisade.BotID, in Input) (palisade.Bot, error) {
	b, err := s.o.Store.GetBot(ctx, c.Scope, id)
	if err != nil {
		return palisade.Bot{}, err
	}
	models, err := s.Models(ctx, c.Scope)
	if err != nil {
		return palisade.Bot{}, err
	}
	if err := in.Apply(&b, models); err != nil {
		return palisade.Bot{}, err
	}
	b.UpdatedAt = s.o.Now()
	b, err = s.o.Store.UpdateBot(ctx, c.Scope, b)
	s.invalidate(ctx, c.Scope)
	if err != nil {
		return palisade.Bot{}, err
	}
	s.record(ctx, c, audit.ActionBotChanged, string(b.ID))
	return b, nil
}

// Delete removes the bot with its documents and conversations.
func (s *Service) Delete(ctx context.Context, c palisade.Caller, id palisade.BotID) error {
	err := s.o.Store.DeleteBot(ctx, c.Scope, id)
	s.invalidate(ctx, c.Scope)
	if err != nil {
		return err
	}
	s.record(ctx, c, audit.ActionBotDeleted, string(id))
	return nil
}

// RotateGatewayToken gives the bot a new gateway token: the old one stops
// working at once. The token itself is never returned; the platform
// derives it for the bot's own work.
func (s *Service) RotateGatewayToken(ctx context.Context, c palisade.Caller, id palisade.BotID) (palisade.Bot, error) {
	if s.o.Tokens == nil {
		return palisade.Bot{}, palisade.Errorf(palisade.CodeUnavailable, "gateway tokens are not configured")
	}
	salt, hash := s.o.Tokens.Issue(id)
	b, err := s.o.Store.RotateBotToken(ctx, c.Scope, id, salt, hash, s.o.Now())
	s.invalidate(ctx, c.Scope)
	if err != nil {
		return palisade.Bot{}, err
	}
	s.record(ctx, c, audit.ActionBotTokenRotated, string(b.ID))
	return b, nil
}

// SetAllowedModels sets the workspace's own model allowlist, which narrows
// the operator's: each model must be one the operator allows; empty (or
// only blank entries) allows them all. Duplicates are dropped.
func (s *Service) SetAllowedModels(ctx context.Context, c palisade.Caller, models []string) error {
	var out []string
	for _, m := range models {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !slices.Contains(s.o.Models, m) {
			return palisade.FieldError("models", "each model must be one of the operator's: %s", strings.Join(s.o.Models, ", "))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	err := s.o.Store.SetWorkspaceModels(ctx, c.Scope, out)
	s.invalidate(ctx, c.Scope)
	if err != nil {
		return err
	}
	s.record(ctx, c, audit.ActionWorkspaceChanged, "models")
	return nil
}

// SetRetention sets how many days the workspace keeps messages (1 to
// 3650); a bot's own retention, when set, wins over it.
func (s *Service) SetRetention(ctx context.Context, c palisade.Caller, days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return palisade.FieldError("retention_days", "retention_days must be between %d and %d", MinRetentionDays, MaxRetentionDays)
	}
	if err := s.o.Store.SetWorkspaceRetention(ctx, c.Scope, days); err != nil {
		return err
	}
	s.record(ctx, c, audit.ActionWorkspaceChanged, "retention")
	return nil
}

// Documents lists a bot's knowledge documents, oldest first.
func (s *Service) Documents(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error) {
	return s.o.Store.ListDocuments(ctx, scope, bot)
}

// DocumentPageParams page a bot's documents; DocumentCursor is a position
// in them.
type (
	DocumentPageParams = store.ListDocumentsParams
	DocumentCursor     = store.DocumentCursor
)

// DocumentsPage returns one keyset page of a bot's documents, oldest first
// (store.ListDocumentsPage).
func (s *Service) DocumentsPage(ctx context.Context, scope palisade.Scope, bot palisade.BotID, p DocumentPageParams) ([]palisade.Document, error) {
	return s.o.Store.ListDocumentsPage(ctx, scope, bot, p)
}

// AddDocument validates, chunks and indexes a document for the bot.
func (s *Service) AddDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, d knowledge.NewDocument) (palisade.Document, error) {
	doc, err := s.o.Knowledge.Add(ctx, c.Scope, bot, d)
	if err != nil {
		return palisade.Document{}, err
	}
	s.record(ctx, c, audit.ActionDocumentAdded, string(doc.ID))
	return doc, nil
}

// AddDocumentFromURL fetches a page from one of the bot's allowed domains
// (https, public addresses, GET only) and adds it as a document. The title
// is title, else the document's own, else the URL's last path segment.
func (s *Service) AddDocumentFromURL(ctx context.Context, c palisade.Caller, bot palisade.BotID, title, rawURL string) (palisade.Document, error) {
	b, err := s.o.Store.GetBot(ctx, c.Scope, bot)
	if err != nil {
		return palisade.Document{}, err
	}
	if len(b.AllowedDomains) == 0 {
		return palisade.Document{}, palisade.FieldError("url", "the bot has no allowed domains to fetch documents from")
	}
	f, err := s.o.Knowledge.FetchURL(ctx, b.AllowedDomains, rawURL)
	if err != nil {
		return palisade.Document{}, err
	}
	d := knowledge.NewDocument{Title: title, ContentType: f.MediaType, File: f.Body, FallbackTitle: f.Name}
	return s.AddDocument(ctx, c, bot, d)
}

// DeleteDocument removes one of the bot's documents.
func (s *Service) DeleteDocument(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.DocumentID) error {
	if err := s.o.Store.DeleteDocument(ctx, c.Scope, bot, id); err != nil {
		return err
	}
	s.record(ctx, c, audit.ActionDocumentDeleted, string(id))
	return nil
}

func (s *Service) record(ctx context.Context, c palisade.Caller, action audit.Action, target string) {
	audit.Best(ctx, s.o.Audit, s.o.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: action, Target: target,
		Outcome: audit.OutcomeSuccess, ClientIP: c.ClientIP, RequestID: c.RequestID})
}

// invalidate drops what the gateway caches for scope's workspace, in this
// process at once and in the others. The change is made by then; a failure
// to tell the others is logged, and their entries end with the cache's
// time-to-live.
func (s *Service) invalidate(ctx context.Context, scope palisade.Scope) {
	if s.o.Invalidation == nil {
		return
	}
	if err := s.o.Invalidation.Invalidate(ctx, string(scope.Workspace())); err != nil {
		s.o.Logger.ErrorContext(ctx, "other processes may use a changed bot until their cache expires", "workspace", string(scope.Workspace()), "error", err)
	}
}
