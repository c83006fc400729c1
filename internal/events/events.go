// Package events is the use-case service of a workspace's outgoing
// webhooks: the endpoints it registers (HTTPS URLs, each with its own
// signing secret, shown once and sealed at rest), the events the other
// services emit (message received, reply sent, channel connected or
// failed), queued as one durable job per endpoint, and each delivery:
// signed the Standard Webhooks way, sent through the egress client (which
// refuses private, loopback and metadata addresses at dial time), recorded
// in the endpoint's delivery log, and retried with backoff by the job
// queue until the endpoint takes it.
//
// It must never return or log an endpoint's secret after creation, never
// put a message's text in an event (events name ids; the text stays sealed
// in the store), never send anywhere but through egress, and never fail
// the action an event reports.
package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/stdwebhook"
	"github.com/palisadehq/palisade/internal/store"
)

// Limits on what a workspace registers.
const (
	MaxEndpoints   = 20
	MaxURL         = 2048
	MaxDescription = 200
	// MaxErrorText bounds the error recorded for one attempt.
	MaxErrorText = 200
	// secretBytes is the size of a new signing key.
	secretBytes = 32
)

// Store is what the service needs of the store.
type Store interface {
	store.EventHooks
	Jobs() store.JobQueue
}

// Options configure a Service.
type Options struct {
	Store Store
	// ArgsKey authenticates the arguments of each event job.
	ArgsKey *job.ArgsKey
	// Egress are the options of the client each delivery goes through:
	// its policy allows exactly the endpoint's host, port and method; the
	// address checks are egress's own. Tests open loopback with
	// Egress.UnsafeAllowLoopback.
	Egress egress.Options
	Audit  audit.Recorder
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the outgoing webhook use cases.
type Service struct {
	o Options
}

var (
	_ palisade.EventSink = (*Service)(nil)
	_ job.EventSender    = (*Service)(nil)
)

// New checks o and returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.ArgsKey == nil {
		return nil, errors.New("events: Store and ArgsKey are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Egress.Logger == nil {
		o.Egress.Logger = o.Logger
	}
	if o.Egress.Timeout <= 0 {
		o.Egress.Timeout = job.EventTimeout
	}
	if o.Egress.MaxResponseBytes <= 0 {
		o.Egress.MaxResponseBytes = 64 << 10
	}
	o.Egress.MaxRedirects = -1
	return &Service{o: o}, nil
}

// Delivery is one attempt in an endpoint's delivery log.
type Delivery = store.EventDelivery

// Input is a new endpoint.
type Input struct {
	URL         string
	Description string
	// Events lists the event types to send; empty means all.
	Events []string
}

// View is an endpoint as responses show it: never its secret.
type View struct {
	store.EventEndpoint
}

// Created is a new endpoint with its secret, shown this once.
type Created struct {
	View
	Secret secret.Secret
}

// checkURL accepts an absolute https URL without credentials or fragment.
// Where it points is checked when it is dialled (egress): a name that
// resolves to a private address today may not have tomorrow, and the
// reverse.
func checkURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURL {
		return nil, palisade.FieldError("url", "url must be at most %d characters", MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, palisade.FieldError("url", "url must be an https URL without credentials or fragment")
	}
	return u, nil
}

// Create registers an endpoint and returns it with its new secret, which
// is never shown again.
func (s *Service) Create(ctx context.Context, c palisade.Caller, in Input) (Created, error) {
	if _, err := checkURL(in.URL); err != nil {
		return Created{}, err
	}
	if len(in.Description) > MaxDescription || strings.ContainsAny(in.Description, "\r\n\x00") {
		return Created{}, palisade.FieldError("description", "description must be one line of at most %d characters", MaxDescription)
	}
	evs := in.Events
	if len(evs) == 0 {
		evs = palisade.EventTypes()
	}
	for _, e := range evs {
		if !slices.Contains(palisade.EventTypes(), e) {
			return Created{}, palisade.FieldError("events", "events must be among: %s", strings.Join(palisade.EventTypes(), ", "))
		}
	}
	slices.Sort(evs)
	evs = slices.Compact(evs)
	list, err := s.o.Store.ListEventEndpoints(ctx, c.Scope)
	if err != nil {
		return Created{}, err
	}
	if len(list) >= MaxEndpoints {
		return Created{}, palisade.Errorf(palisade.CodeConflict, "a workspace has at most %d webhook endpoints", MaxEndpoints)
	}
	key := make([]byte, secretBytes)
	_, _ = rand.Read(key)
	sec := secret.New(stdwebhook.SecretPrefix + base64.StdEncoding.EncodeToString(key))
	clear(key)
	e, err := s.o.Store.CreateEventEndpoint(ctx, c.Scope, store.CreateEventEndpointParams{URL: in.URL, Description: in.Description, Events: evs,
		Secret: sec, Now: s.o.Now()})
	if err != nil {
		return Created{}, err
	}
	s.record(ctx, c, ActionEndpointCreated, e.ID)
	return Created{View: View{e}, Secret: sec}, nil
}

// List lists the workspace's endpoints.
func (s *Service) List(ctx context.Context, scope palisade.Scope) ([]View, error) {
	list, err := s.o.Store.ListEventEndpoints(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(list))
	for _, e := range list {
		out = append(out, View{e})
	}
	return out, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, scope palisade.Scope, id string) (View, error) {
	e, err := s.o.Store.GetEventEndpoint(ctx, scope, id)
	return View{e}, err
}

// Delete removes an endpoint and its delivery log; events queued for it
// end at their next attempt.
func (s *Service) Delete(ctx context.Context, c palisade.Caller, id string) error {
	if err := s.o.Store.DeleteEventEndpoint(ctx, c.Scope, id); err != nil {
		return err
	}
	s.record(ctx, c, ActionEndpointDeleted, id)
	return nil
}

// Deliveries returns the endpoint's latest delivery attempts, newest
// first.
func (s *Service) Deliveries(ctx context.Context, scope palisade.Scope, id string, limit int) ([]Delivery, error) {
	if _, err := s.o.Store.GetEventEndpoint(ctx, scope, id); err != nil {
		return nil, err
	}
	return s.o.Store.ListEventDeliveries(ctx, scope, id, limit)
}

// Test queues a test event to one endpoint and returns its event id.
func (s *Service) Test(ctx context.Context, c palisade.Caller, id string) (string, error) {
	e, err := s.o.Store.GetEventEndpoint(ctx, c.Scope, id)
	if err != nil {
		return "", err
	}
	return s.enqueue(ctx, c.Scope, e, palisade.EventTest, map[string]any{"endpoint_id": e.ID})
}

// Emit queues the event for every endpoint of the workspace that takes
// it. Failures are logged, never returned: the action it reports stands.
func (s *Service) Emit(ctx context.Context, scope palisade.Scope, typ string, data map[string]any) {
	list, err := s.o.Store.ListEventEndpoints(ctx, scope)
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "could not list webhook endpoints for an event", "type", typ, "err", err)
		return
	}
	for _, e := range list {
		if !slices.Contains(e.Events, typ) {
			continue
		}
		if _, err := s.enqueue(ctx, scope, e, typ, data); err != nil {
			s.o.Logger.ErrorContext(ctx, "could not queue a webhook event", "type", typ, "endpoint_id", e.ID, "err", err)
		}
	}
}

// payload is the body of an event, the shape Standard Webhooks
// recommends.
type payload struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

func (s *Service) enqueue(ctx context.Context, scope palisade.Scope, e store.EventEndpoint, typ string, data map[string]any) (string, error) {
	body, err := json.Marshal(payload{Type: typ, Timestamp: s.o.Now().UTC(), Data: data})
	if err != nil {
		return "", fmt.Errorf("encoding event: %w", err)
	}
	args, err := job.SignEvent(s.o.ArgsKey, job.EventArgs{Workspace: scope.Workspace(), EndpointID: e.ID, EventID: palisade.NewID(palisade.PrefixEvent),
		Type: typ, Payload: body})
	if err != nil {
		return "", err
	}
	if err := s.o.Store.Jobs().Enqueue(ctx, args); err != nil {
		return "", fmt.Errorf("queueing event: %w", err)
	}
	return args.EventID, nil
}

// errGone ends an event's deliveries: the endpoint answered 410 Gone.
var errGone = palisade.Errorf(palisade.CodeNotFound, "the endpoint answered 410 Gone")

// SendEvent makes one delivery attempt and records it in the endpoint's
// log. See job.EventSender for what its error means.
func (s *Service) SendEvent(ctx context.Context, scope palisade.Scope, a job.EventArgs, attempt int) error {
	e, err := s.o.Store.GetEventEndpoint(ctx, scope, a.EndpointID)
	if err != nil {
		return err
	}
	sec, err := s.o.Store.EventEndpointSecret(ctx, scope, a.EndpointID)
	if err != nil {
		return err
	}
	start := s.o.Now()
	status, sendErr := s.post(ctx, e, sec, a, start)
	d := store.EventDelivery{EndpointID: e.ID, EventID: a.EventID, EventType: a.Type, Attempt: attempt, Status: status,
		Duration: s.o.Now().Sub(start), CreatedAt: start}
	if sendErr != nil {
		d.Error = truncate(sendErr.Error(), MaxErrorText)
	}
	if _, err := s.o.Store.RecordEventDelivery(context.WithoutCancel(ctx), scope, d); err != nil {
		s.o.Logger.ErrorContext(ctx, "could not record a webhook delivery", "endpoint_id", e.ID, "err", err)
	}
	return sendErr
}

// post sends the event once and returns the status the endpoint answered
// (zero without an answer).
func (s *Service) post(ctx context.Context, e store.EventEndpoint, sec secret.Secret, a job.EventArgs, now time.Time) (int, error) {
	u, err := checkURL(e.URL)
	if err != nil {
		return 0, errors.New("the endpoint URL is no longer valid")
	}
	port := 443
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return 0, errors.New("the endpoint URL has a malformed port")
		}
	}
	// One rule, for exactly this endpoint: its host and port, POST, any
	// path. The address it resolves to is checked at dial time.
	policy, err := egress.NewPolicy(egress.Rule{Name: "webhook-endpoint", Host: u.Hostname(), Ports: []int{port}, Methods: []string{http.MethodPost},
		Paths: []string{"/", "/**"}})
	if err != nil {
		return 0, errors.New("the endpoint host is not allowed")
	}
	client, err := egress.New(policy, s.o.Egress)
	if err != nil {
		return 0, fmt.Errorf("building the egress client: %w", err)
	}
	defer client.CloseIdleConnections()
	sig, err := stdwebhook.Sign(sec.Reveal(), a.EventID, now, a.Payload)
	if err != nil {
		return 0, errors.New("the endpoint secret cannot sign")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(a.Payload))
	if err != nil {
		return 0, errors.New("the endpoint URL cannot be requested")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Palisade-Webhooks/1")
	req.Header.Set(stdwebhook.HeaderID, a.EventID)
	req.Header.Set(stdwebhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(stdwebhook.HeaderSignature, sig)
	res, err := client.Do(req)
	if err != nil {
		var de *egress.DenialError
		if errors.As(err, &de) {
			return 0, fmt.Errorf("refused by the egress policy: %s", de.Denial.Reason)
		}
		return 0, errors.New("no answer from the endpoint")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return res.StatusCode, nil
	case res.StatusCode == http.StatusGone:
		return res.StatusCode, errGone
	}
	return res.StatusCode, fmt.Errorf("the endpoint answered %d", res.StatusCode)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Service) record(ctx context.Context, c palisade.Caller, action audit.Action, id string) {
	audit.Best(ctx, s.o.Audit, s.o.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: action, Target: id,
		Outcome: audit.OutcomeSuccess, ClientIP: c.ClientIP, RequestID: c.RequestID})
}

// Audit actions of endpoint changes.
const (
	ActionEndpointCreated audit.Action = "webhook_endpoint.created"
	ActionEndpointDeleted audit.Action = "webhook_endpoint.deleted"
)
