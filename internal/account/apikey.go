package account

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// KeyPrincipal is who a request authenticated by an API key acts for: the
// key, in its workspace, with its scopes, bounded by the current role of
// the member who made it (SPEC R2).
type KeyPrincipal struct {
	Scope  palisade.Scope
	KeyID  palisade.APIKeyID
	Scopes []auth.Scope
	// CreatedBy is the member who made the key; empty for a key the
	// operator made with the CLI, which belongs to the workspace and is
	// bounded by its scopes alone.
	CreatedBy palisade.UserID
	// CreatorRole is CreatedBy's role in the workspace, as read when the
	// request was authenticated.
	CreatorRole palisade.Role
	// ExpiresAt is when the key stops working; nil when it does not
	// expire. Keys it creates expire no later.
	ExpiresAt *time.Time
}

// Authorize reports whether the key may act under perm: its scopes must
// grant perm, and so must its creator's current role. The two refusals
// differ only in their message.
func (p KeyPrincipal) Authorize(perm auth.Permission) error {
	if !auth.ScopeAllows(p.Scopes, perm) {
		return palisade.Errorf(palisade.CodeForbidden, "this API key lacks the scope for %s", perm)
	}
	if p.CreatedBy != "" && !auth.Allows(p.CreatorRole, perm) {
		return palisade.Errorf(palisade.CodeForbidden, "the role of the member who made this API key does not allow %s", perm)
	}
	return nil
}

// ErrInvalidAPIKey is the one answer to a key that is malformed, unknown,
// wrong, revoked, expired, or whose creator has left the workspace: which
// of these it was is of use only to someone guessing.
var ErrInvalidAPIKey = palisade.Errorf(palisade.CodeUnauthorized, "invalid API key")

// touchKeyEvery bounds how often a key's last-used time is written.
const touchKeyEvery = time.Minute

// AuthenticateAPIKey checks a bearer API key: its strict format first (a
// malformed key never reaches the store), then one lookup by its public
// prefix that also reads its creator's membership, then the hash in
// constant time, revocation, expiry and the creator's membership, all
// evaluated before they are combined. A key made by a member works only
// while they are a member of the key's workspace; a key the operator made
// with the CLI (no creator) lives until it is revoked or expires.
//
// A verified key is cached by the hash of the whole key (so only the exact
// key finds it) until a change in its workspace is announced, its expiry,
// or the cache's short time-to-live, whichever comes first.
func (s *Service) AuthenticateAPIKey(ctx context.Context, key secret.Secret) (KeyPrincipal, error) {
	prefix, err := auth.ParseAPIKey(key.Reveal())
	if err != nil {
		return KeyPrincipal{}, ErrInvalidAPIKey
	}
	var ticket invalidate.Ticket
	var cacheKey string
	if s.keys != nil {
		cacheKey = string(auth.HashAPIKey(key))
		if c, ok := s.keys.Get(cacheKey); ok {
			now := s.o.Now()
			if c.p.ExpiresAt != nil && !now.Before(*c.p.ExpiresAt) {
				return KeyPrincipal{}, ErrInvalidAPIKey
			}
			s.touchCached(ctx, c, now)
			return c.p, nil
		}
		ticket = s.keys.Begin()
	}
	k, err := s.o.Store.LookupAPIKey(ctx, prefix)
	if err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return KeyPrincipal{}, ErrInvalidAPIKey
		}
		return KeyPrincipal{}, err
	}
	now := s.o.Now()
	hashOK := auth.CheckAPIKey(key, k.Hash)
	usable := k.Usable(now)
	creatorOK := k.CreatedBy == "" || k.CreatorRole.Valid()
	scopes, scopesErr := auth.ParseScopeList(k.Scopes)
	if !hashOK || !usable || !creatorOK || scopesErr != nil {
		return KeyPrincipal{}, ErrInvalidAPIKey
	}
	scope := palisade.ScopeFor(k.WorkspaceID)
	// Last-used time is best effort and kept to the minute: a write on
	// every request would put one on the hot path, and a failure to record
	// it must not fail the request.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= touchKeyEvery {
		_ = s.o.Store.TouchAPIKey(ctx, scope, k.ID, now)
	}
	p := KeyPrincipal{Scope: scope, KeyID: k.ID, Scopes: scopes, CreatedBy: k.CreatedBy, CreatorRole: k.CreatorRole, ExpiresAt: k.ExpiresAt}
	if s.keys != nil {
		c := &cachedKey{p: p}
		last := now
		if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < touchKeyEvery {
			last = *k.LastUsedAt
		}
		c.touched.Store(last.UnixNano())
		s.keys.Put(ticket, cacheKey, string(k.WorkspaceID), c)
	}
	return p, nil
}

// cachedKey is a verified key's principal and when its last-used time was
// last written.
type cachedKey struct {
	p       KeyPrincipal
	touched atomic.Int64
}

// touchCached keeps the last-used time to the minute for a key served from
// the cache, with one writer per minute however many requests race.
func (s *Service) touchCached(ctx context.Context, c *cachedKey, now time.Time) {
	last := c.touched.Load()
	if now.Sub(time.Unix(0, last)) < touchKeyEvery || !c.touched.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	_ = s.o.Store.TouchAPIKey(ctx, c.p.Scope, c.p.KeyID, now)
}

// invalidate drops what is cached for scope's workspace (every workspace
// for invalidate.All), here at once and in the other processes. The change
// itself is made by then; a failure to tell the others is logged, and their
// entries end with the cache's time-to-live.
func (s *Service) invalidate(ctx context.Context, scope string) {
	if s.o.Invalidation == nil {
		return
	}
	if err := s.o.Invalidation.Invalidate(ctx, scope); err != nil {
		s.o.Logger.ErrorContext(ctx, "other processes may serve a changed API key until their cache expires", "workspace", scope, "error", err)
	}
}
