// Package account is the business logic of accounts (SPEC R2): the first
// owner's set-up, sign-up, log-in with an optional second factor, log-out,
// sessions, password change and reset, e-mail verification, invitations,
// member roles, TOTP enrolment with recovery codes, and API keys with their
// authentication. The admin UI (internal/admin) and, for API keys, the
// public API (internal/api) call it, and the job worker (internal/job)
// sends the account e-mails it queues; it speaks no HTTP.
//
// It must never reveal whether an account exists (unknown accounts pay a
// dummy hash and get the same error as a wrong password, and e-mails that
// depend on an account are sent by the job worker, not the request), never store or
// log a token, password, TOTP secret or recovery code in clear, and never
// compare a secret except in constant time.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Defaults for Options left zero.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	InvitationTTL          = 7 * 24 * time.Hour
	ResetTTL               = time.Hour
	VerificationTTL        = 48 * time.Hour
	// touchEvery bounds how often a session's last-seen time is written:
	// once a minute is precise enough for a 30-minute idle time-out.
	touchEvery = time.Minute
)

// Store is what the account service reads and writes: users, their
// credentials and sessions, one-time tokens, memberships, invitations and
// API keys, and the workspace rows they hang from.
type Store interface {
	store.Accounts
	store.Users
	store.Tokens
	store.Members
	store.Invitations
	store.APIKeys
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
}

// Options configure a Service.
type Options struct {
	Store  Store
	Hasher *auth.Hasher
	// Tokens makes the stored form of session, one-time and invitation
	// tokens (a key derived from the master key).
	Tokens  *auth.TokenKey
	Mailer  mail.Sender
	Limiter ratelimit.Limiter
	// Limits holds the login and reset policies; nil means
	// ratelimit.Defaults().
	Limits ratelimit.Table
	// Audit records every security-relevant action; nil records nothing.
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
	// BaseURL is the external origin links in e-mails start with.
	BaseURL string
	// Jobs queues the account e-mails that could reveal whether an address
	// has an account (resets, verification, sign-up notices) for the job
	// worker, which sends them through DeliverMail. Nil delivers them
	// within the request instead: for tools and tests only, never serve.
	Jobs store.JobQueue
	// MailSealer seals each queued e-mail's address (required with Jobs):
	// the user-secret key, bound to the job's own reference and purpose.
	MailSealer store.UserSealer
	// DeviceKey keys the hashes of known-device tokens (at least 32
	// bytes, the same in every process). Empty means a random key: devices
	// are then known to this process only, until it restarts.
	DeviceKey secret.Secret
	// DeleteWorkspace deletes a workspace for good: its data keys first
	// (crypto-shredding), then its rows, recorded in the platform audit
	// chain by e (audit.Logger.DeleteWorkspace on the store). Nil refuses
	// every deletion of a workspace, and of an account that is the only
	// member of one.
	DeleteWorkspace func(ctx context.Context, scope palisade.Scope, e audit.Entry) error
	// AllowSignup opens self-service sign-up; operators may close it.
	AllowSignup     bool
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// Invalidation, when set, lets verified API keys be cached in process
	// memory: every change that can end a key's use (revocation, a role
	// change, a member removed, an account or workspace deleted) drops the
	// workspace's entries here at once and tells the other processes
	// through it. Nil caches nothing.
	Invalidation *invalidate.Hub
}

// Service implements the account operations.
type Service struct {
	o         Options
	deviceKey []byte
	// denials counts refusals not written to the audit log (denials.go).
	denials denials
	// keys caches verified API keys by the hash of the whole key; nil
	// without Options.Invalidation.
	keys *invalidate.Cache[*cachedKey]
	// workspaces caches workspaces, for their status, by id.
	workspaces *invalidate.Cache[palisade.Workspace]
}

// New checks opts and returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Hasher == nil || opts.Tokens == nil || opts.Mailer == nil || opts.Limiter == nil {
		return nil, errors.New("account: Store, Hasher, Tokens, Mailer and Limiter are required")
	}
	if opts.Limits == nil {
		opts.Limits = ratelimit.Defaults()
	}
	for _, c := range []ratelimit.Class{ratelimit.ClassLoginIP, ratelimit.ClassLoginAccount, ratelimit.ClassLoginDevice,
		ratelimit.ClassSecondFactor, ratelimit.ClassReauth, ratelimit.ClassResetIP, ratelimit.ClassResetAccount} {
		if _, ok := opts.Limits.Policy(c); !ok {
			return nil, fmt.Errorf("account: no rate-limit policy for %s", c)
		}
	}
	if opts.Jobs != nil && opts.MailSealer == nil {
		return nil, errors.New("account: a mail queue needs a MailSealer")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.AbsoluteTimeout <= 0 {
		opts.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	key := []byte(opts.DeviceKey.Reveal())
	switch {
	case len(key) == 0:
		key = newDeviceKey()
	case len(key) < minDeviceKey:
		return nil, fmt.Errorf("account: DeviceKey must be at least %d bytes", minDeviceKey)
	}
	svc := &Service{o: opts, deviceKey: key}
	if opts.Invalidation != nil {
		svc.keys = invalidate.NewCache[*cachedKey](invalidate.CacheOptions{Now: opts.Now})
		svc.workspaces = invalidate.NewCache[palisade.Workspace](invalidate.CacheOptions{Now: opts.Now})
		opts.Invalidation.Add(svc.keys)
		opts.Invalidation.Add(svc.workspaces)
	}
	return svc, nil
}

// SignupOpen reports whether self-service sign-up is open.
func (s *Service) SignupOpen() bool { return s.o.AllowSignup }

// MailToConsole reports whether account e-mails go to the server's
// standard output instead of a mail server (no SMTP configured), so pages
// can say where a link went.
func (s *Service) MailToConsole() bool {
	_, ok := s.o.Mailer.(mail.LogSender)
	return ok
}

// SetupPending reports whether the first owner is still to be created: a
// set-up link can be used only while no account exists, so once one does
// every set-up link is spent.
func (s *Service) SetupPending(ctx context.Context) (bool, error) {
	n, err := s.o.Store.CountUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("account: counting users: %w", err)
	}
	return n == 0, nil
}

// Client describes where a request comes from, for rate limits, sessions
// and the audit log.
type Client struct {
	IP        string     // rate-limit key of the client address (ratelimit.IPKey)
	Addr      netip.Addr // client address as resolved by the edge, for the audit log
	UserAgent string
	RequestID string
	// Device is the browser's device token (its device cookie), if any.
	Device secret.Secret
}

// record appends e to the chain of scope's workspace, with where the
// request came from.
func (s *Service) record(ctx context.Context, c Client, scope palisade.Scope, e audit.Entry) {
	audit.Best(ctx, s.o.Audit, s.o.Logger, scope, c.stamp(e))
}

// recordAccount appends e to the platform chain: account events belong to
// no one workspace.
func (s *Service) recordAccount(ctx context.Context, c Client, e audit.Entry) {
	audit.BestPlatform(ctx, s.o.Audit, s.o.Logger, c.stamp(e))
}

func (c Client) stamp(e audit.Entry) audit.Entry {
	e.ClientIP, e.RequestID = c.Addr, c.RequestID
	return e
}

func outcome(err error) audit.Outcome {
	if err != nil {
		return audit.OutcomeFailure
	}
	return audit.OutcomeSuccess
}

// Errors shown to users. errBadCredentials is the one message for every
// failed log-in, whether the account exists or not.
var (
	errBadCredentials = palisade.Errorf(palisade.CodeUnauthorized, "invalid email or password")
	errBadCode        = palisade.FieldError("code", "invalid or already used code")
	errBadLink        = palisade.Errorf(palisade.CodeNotFound, "this link is invalid, expired or already used")
	errRateLimited    = palisade.Errorf(palisade.CodeRateLimited, "too many attempts; wait a minute and try again")
	errSignupClosed   = palisade.Errorf(palisade.CodeForbidden, "sign-up is closed on this server")
)

// limit takes a decision under class for each key and refuses when any
// refuses. Every key is counted, so an attacker spreading over accounts
// still hits the per-IP limit and one spreading over IPs the per-account one.
func (s *Service) limit(ctx context.Context, checks ...limitCheck) (ratelimit.Decision, error) {
	var ds []ratelimit.Decision
	for _, c := range checks {
		p, _ := s.o.Limits.Policy(c.class)
		d, err := s.o.Limiter.Allow(ctx, p, c.key)
		if err != nil {
			return ratelimit.Decision{}, fmt.Errorf("rate limit %s: %w", c.class, err)
		}
		ds = append(ds, d)
	}
	d := ratelimit.Strictest(ds...)
	if !d.Allowed {
		return d, refusal(d, ds, checks)
	}
	return d, nil
}

// refusal is the error for the strictest decision d of ds, taken for
// checks in order, naming the key that was refused.
func refusal(d ratelimit.Decision, ds []ratelimit.Decision, checks []limitCheck) *RateLimitError {
	for i, x := range ds {
		if x == d {
			return &RateLimitError{Decision: d, key: checks[i].key}
		}
	}
	return &RateLimitError{Decision: d}
}

type limitCheck struct {
	class ratelimit.Class
	key   string
}

// reservation is a unit of failure budget taken by reserve.
type reservation []limitCheck

// reserve takes one unit of each check's budget before a secret is
// checked, and refuses (giving back what it took) when any budget is
// spent. The caller keeps the units for a failure and gives them back with
// refund for a success: so only failures count, yet concurrent guesses can
// never all pass a check that would only count them afterwards.
func (s *Service) reserve(ctx context.Context, checks ...limitCheck) (reservation, error) {
	var ds []ratelimit.Decision
	var held reservation
	for _, c := range checks {
		p, _ := s.o.Limits.Policy(c.class)
		d, err := s.o.Limiter.Allow(ctx, p, c.key)
		if err != nil {
			s.refund(ctx, held)
			return nil, fmt.Errorf("rate limit %s: %w", c.class, err)
		}
		if d.Allowed {
			held = append(held, c)
		}
		ds = append(ds, d)
	}
	d := ratelimit.Strictest(ds...)
	if !d.Allowed {
		s.refund(ctx, held)
		return nil, refusal(d, ds, checks)
	}
	return held, nil
}

// refund gives back the units of r: the attempt succeeded, or never ran.
// A refund that fails leaves the unit spent, which only refuses more.
func (s *Service) refund(ctx context.Context, r reservation) {
	for _, c := range r {
		p, _ := s.o.Limits.Policy(c.class)
		if err := s.o.Limiter.Refund(ctx, p, c.key); err != nil {
			s.o.Logger.WarnContext(ctx, "giving back a rate-limit unit failed", "class", string(c.class), "err", err)
		}
	}
}

// RateLimitError is a refusal by the limiter; the UI writes its headers.
type RateLimitError struct {
	Decision ratelimit.Decision
	key      string // the key refused, for the audit log's aggregation
}

func (e *RateLimitError) Error() string { return errRateLimited.Error() }
func (e *RateLimitError) Unwrap() error { return errRateLimited }

func (s *Service) link(path string) string { return s.o.BaseURL + path }
