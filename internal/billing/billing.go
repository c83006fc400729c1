// Package billing is the use-case service of subscriptions and plan limits.
// The operator defines plans in a file that maps the billing provider's
// (Polar's) product ids to a plan name and its limits (bots, messages per
// month); a workspace subscribes through a checkout link that carries its
// id in the checkout's metadata; the provider's subscription events,
// verified the Standard Webhooks way and recorded once per webhook-id,
// set the workspace's plan; and the bot and conversation services ask it
// before creating a bot or answering a message.
//
// An operator without billing configured has no Service (a nil *Service
// allows everything), so nothing is limited. It must never parse a payload
// before verifying it, never log the webhook secret or a payload, and never
// let a replayed event change anything.
package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/stdwebhook"
	"github.com/palisadehq/palisade/internal/store"
)

// MaxBody is the largest webhook body read; Polar's events are a few KB.
const MaxBody = 1 << 20

// MetadataKey is the checkout metadata key that carries the workspace id;
// Polar copies a checkout's metadata to the subscription it creates.
const MetadataKey = "workspace_id"

// Limits bound what a workspace may use; zero means no limit.
type Limits struct {
	Bots             int `yaml:"bots" json:"bots"`
	MessagesPerMonth int `yaml:"messages_per_month" json:"messages_per_month"`
}

// Plan is a named set of limits.
type Plan struct {
	Name   string `yaml:"name" json:"name"`
	Limits `yaml:",inline" json:",inline"`
}

// Plans is the operator's plans file: the plan of a workspace without an
// active subscription (Default; none means no limits), and the plan each
// provider product gives.
type Plans struct {
	Default  *Plan           `yaml:"default" json:"default"`
	Products map[string]Plan `yaml:"products" json:"products"`
}

// ParsePlans reads a plans file, YAML or JSON (JSON is YAML), refusing
// unknown fields and negative limits.
func ParsePlans(data []byte) (*Plans, error) {
	var p Plans
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("billing: reading the plans file: %w", err)
	}
	check := func(where string, pl Plan) error {
		if strings.TrimSpace(pl.Name) == "" || len(pl.Name) > 64 {
			return fmt.Errorf("billing: plans file: %s needs a name of 1 to 64 characters", where)
		}
		if pl.Bots < 0 || pl.MessagesPerMonth < 0 {
			return fmt.Errorf("billing: plans file: %s has a negative limit", where)
		}
		return nil
	}
	if p.Default != nil {
		if err := check("default", *p.Default); err != nil {
			return nil, err
		}
	}
	if len(p.Products) == 0 {
		return nil, errors.New("billing: plans file: no products")
	}
	for id, pl := range p.Products {
		if id == "" {
			return nil, errors.New("billing: plans file: a product without an id")
		}
		if err := check("product "+id, pl); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// LoadPlans reads the plans file at path.
func LoadPlans(path string) (*Plans, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("billing: reading the plans file: %w", err)
	}
	return ParsePlans(b)
}

// Store is what the service needs of the store.
type Store interface {
	RecordBillingEvent(ctx context.Context, scope palisade.Scope, p store.BillingEventParams) (bool, error)
	GetWorkspacePlan(ctx context.Context, scope palisade.Scope) (store.WorkspacePlan, error)
	CountMessagesSince(ctx context.Context, scope palisade.Scope, role string, since time.Time) (int, error)
	ListBots(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error)
}

// Options configure a Service.
type Options struct {
	Store Store
	Plans *Plans
	// Secret is the provider's webhook secret ("whsec_…"). Both of
	// Polar's schemes are accepted: the Standard Webhooks key (the
	// base64 after the prefix) and the older one (the whole string's
	// bytes); both come from the same secret, so accepting either
	// weakens nothing.
	Secret secret.Secret
	// CheckoutURL is the provider's checkout link; empty offers none.
	CheckoutURL string
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service is the billing use cases.
type Service struct {
	o    Options
	keys [][]byte
}

// New checks o and returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Plans == nil {
		return nil, errors.New("billing: Store and Plans are required")
	}
	if o.Secret.IsZero() {
		return nil, errors.New("billing: the webhook secret is required")
	}
	if o.CheckoutURL != "" {
		u, err := url.Parse(o.CheckoutURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, errors.New("billing: the checkout URL must be an https URL")
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o}
	sec := o.Secret.Reveal()
	if k, err := stdwebhook.KeyFromSecret(sec); err == nil {
		s.keys = append(s.keys, k)
	}
	s.keys = append(s.keys, stdwebhook.LegacyKey(sec))
	return s, nil
}

// ErrRejected answers every delivery that fails verification, whatever
// the reason.
var ErrRejected = palisade.Errorf(palisade.CodeUnauthorized, "webhook verification failed")

// Receipt is what one verified delivery did.
type Receipt struct {
	// Duplicate: the webhook-id was handled before; nothing changed.
	Duplicate bool
	// Workspace is the workspace whose plan the event set, if any.
	Workspace palisade.WorkspaceID
}

// event is the part of a provider event the service reads.
type event struct {
	Type string `json:"type"`
	Data struct {
		ID         string               `json:"id"`
		Status     string               `json:"status"`
		ProductID  string               `json:"product_id"`
		Metadata   map[string]any       `json:"metadata"`
		CreatedAt  *time.Time           `json:"created_at"`
		ModifiedAt *time.Time           `json:"modified_at"`
		Product    *struct{ ID string } `json:"product"`
	} `json:"data"`
}

// subscriptionEvents change a subscription's state.
var subscriptionEvents = map[string]bool{
	"subscription.created":    true,
	"subscription.updated":    true,
	"subscription.active":     true,
	"subscription.canceled":   true,
	"subscription.uncanceled": true,
	"subscription.revoked":    true,
}

// Receive verifies one delivery over its raw body, then records it once
// by its webhook-id and, for a subscription event naming one of our
// workspaces, sets that workspace's plan in the same transaction.
func (s *Service) Receive(ctx context.Context, h http.Header, body []byte) (Receipt, error) {
	hdr := stdwebhook.HeadersFrom(h)
	if err := stdwebhook.Verify(s.keys, hdr, body, s.o.Now()); err != nil {
		s.o.Logger.WarnContext(ctx, "billing webhook refused", "reason", err.Error())
		return Receipt{}, ErrRejected
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		return Receipt{}, palisade.Errorf(palisade.CodeInvalid, "the event is not a JSON object with a type")
	}
	if len(ev.Type) > 64 {
		return Receipt{}, palisade.Errorf(palisade.CodeInvalid, "the event type is too long")
	}
	p := store.BillingEventParams{ID: hdr.ID, Type: ev.Type, Now: s.o.Now()}
	var scope palisade.Scope
	if subscriptionEvents[ev.Type] {
		ws, _ := ev.Data.Metadata[MetadataKey].(string)
		if palisade.ValidID(palisade.PrefixWorkspace, ws) {
			scope = palisade.ScopeFor(palisade.WorkspaceID(ws))
			p.Plan = s.planState(ev)
		} else {
			s.o.Logger.InfoContext(ctx, "subscription event without a workspace id in its metadata", "type", ev.Type)
		}
	}
	fresh, err := s.o.Store.RecordBillingEvent(ctx, scope, p)
	if err != nil {
		return Receipt{}, fmt.Errorf("recording billing event: %w", err)
	}
	r := Receipt{Duplicate: !fresh}
	if fresh && p.Plan != nil {
		r.Workspace = scope.Workspace()
		s.o.Logger.InfoContext(ctx, "workspace plan changed", "workspace_id", string(r.Workspace), "plan", p.Plan.Plan, "status", p.Plan.Status)
	}
	return r, nil
}

// planState is the plan a subscription event gives its workspace.
func (s *Service) planState(ev event) *store.WorkspacePlan {
	product := ev.Data.ProductID
	if product == "" && ev.Data.Product != nil {
		product = ev.Data.Product.ID
	}
	st := &store.WorkspacePlan{ProductID: product, SubscriptionID: ev.Data.ID, Status: ev.Data.Status, SourceTime: s.o.Now()}
	switch {
	case ev.Data.ModifiedAt != nil:
		st.SourceTime = *ev.Data.ModifiedAt
	case ev.Data.CreatedAt != nil:
		st.SourceTime = *ev.Data.CreatedAt
	}
	// A revocation ends the subscription whatever status it reports.
	if ev.Type == "subscription.revoked" {
		st.Status = "revoked"
	}
	if pl, ok := s.o.Plans.Products[product]; ok {
		st.Plan = pl.Name
	}
	return st
}

// entitled reports whether a subscription status grants its plan: a
// canceled subscription stays active until its period ends, when the
// provider revokes it.
func entitled(status string) bool { return status == "active" || status == "trialing" }

// Current is a workspace's plan as it applies now.
type Current struct {
	Plan   string `json:"plan"`
	Limits Limits `json:"limits"`
	// Subscribed: an active subscription gives the plan; otherwise it is
	// the default one.
	Subscribed bool   `json:"subscribed"`
	Status     string `json:"status,omitempty"`
}

// Current returns the plan that applies to the workspace. A nil service
// (billing off) has no plan and no limits.
func (s *Service) Current(ctx context.Context, scope palisade.Scope) (Current, error) {
	if s == nil {
		return Current{}, nil
	}
	var c Current
	if s.o.Plans.Default != nil {
		c = Current{Plan: s.o.Plans.Default.Name, Limits: s.o.Plans.Default.Limits}
	}
	wp, err := s.o.Store.GetWorkspacePlan(ctx, scope)
	switch {
	case palisade.ErrorCode(err) == palisade.CodeNotFound:
		return c, nil
	case err != nil:
		return Current{}, fmt.Errorf("reading the workspace's plan: %w", err)
	}
	c.Status = wp.Status
	if pl, ok := s.o.Plans.Products[wp.ProductID]; ok && entitled(wp.Status) {
		c.Plan, c.Limits, c.Subscribed = pl.Name, pl.Limits, true
	}
	return c, nil
}

// AllowBot refuses a new bot beyond the plan's limit. A nil service
// allows every bot.
func (s *Service) AllowBot(ctx context.Context, scope palisade.Scope) error {
	if s == nil {
		return nil
	}
	c, err := s.Current(ctx, scope)
	if err != nil || c.Limits.Bots == 0 {
		return err
	}
	bots, err := s.o.Store.ListBots(ctx, scope)
	if err != nil {
		return fmt.Errorf("counting bots: %w", err)
	}
	if len(bots) >= c.Limits.Bots {
		return palisade.Errorf(palisade.CodeForbidden, "the %s plan allows %d bots; upgrade the plan to create more", c.Plan, c.Limits.Bots)
	}
	return nil
}

// AllowMessage refuses a message beyond the plan's monthly limit (user
// messages since the start of the UTC month). A nil service allows every
// message.
func (s *Service) AllowMessage(ctx context.Context, scope palisade.Scope) error {
	if s == nil {
		return nil
	}
	c, err := s.Current(ctx, scope)
	if err != nil || c.Limits.MessagesPerMonth == 0 {
		return err
	}
	now := s.o.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	n, err := s.o.Store.CountMessagesSince(ctx, scope, palisade.MessageUser, month)
	if err != nil {
		return fmt.Errorf("counting this month's messages: %w", err)
	}
	if n >= c.Limits.MessagesPerMonth {
		return palisade.Errorf(palisade.CodeRateLimited, "the %s plan allows %d messages a month, all used; upgrade the plan or wait for next month",
			c.Plan, c.Limits.MessagesPerMonth)
	}
	return nil
}

// CheckoutURL is the link a workspace subscribes through: the operator's
// checkout link with the workspace id as checkout metadata, which the
// provider copies to the subscription. Changing the id in the link only
// pays for another workspace's plan. Empty when none is configured.
func (s *Service) CheckoutURL(scope palisade.Scope) (string, error) {
	if s == nil || s.o.CheckoutURL == "" {
		return "", palisade.Errorf(palisade.CodeNotFound, "billing is not configured")
	}
	if !scope.Valid() {
		return "", store.ErrNoScope
	}
	u, _ := url.Parse(s.o.CheckoutURL)
	q := u.Query()
	q.Set("metadata["+MetadataKey+"]", string(scope.Workspace()))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// PlanNames lists the plans of the file, for display.
func (s *Service) PlanNames() []string {
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range s.o.Plans.Products {
		seen[p.Name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
