package account

import (
	"context"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// KeyRequest is a new API key asked for by another key.
type KeyRequest struct {
	Name   string
	Scopes []string
	// ExpiresAt is when the new key stops working; nil takes the
	// creating key's own expiry (none when it has none).
	ExpiresAt *time.Time
}

// maxKeyLifetime bounds how far ahead any key may expire.
const maxKeyLifetime = 3650 * 24 * time.Hour

// KeysFor lists the key's workspace's API keys, oldest first, without
// their hashes. The router has checked PermKeysRead.
func (s *Service) KeysFor(ctx context.Context, p KeyPrincipal) ([]APIKey, error) {
	list, err := s.o.Store.ListAPIKeys(ctx, p.Scope)
	if err != nil {
		return nil, err
	}
	out := make([]APIKey, len(list))
	for i, x := range list {
		x.Hash = nil
		out[i] = APIKey{APIKey: x.APIKey, CreatorEmail: x.CreatorEmail}
	}
	return out, nil
}

// CreateKeyFor creates an API key on behalf of another key, never wider
// than it: every scope must be one the creating key holds, the expiry no
// later than its own, and the new key belongs to the creating key's
// creator, so it dies with their membership and acts with at most their
// role, exactly like the key that made it. A key the operator made (no
// creator) makes keys that belong to the workspace.
func (s *Service) CreateKeyFor(ctx context.Context, p KeyPrincipal, in KeyRequest, c Client) (NewKey, error) {
	name := strings.TrimSpace(in.Name)
	if err := validate.Name("name", name, 100); err != nil {
		return NewKey{}, err
	}
	parsed, err := auth.ParseScopeList(in.Scopes)
	if err != nil {
		return NewKey{}, err
	}
	for _, sc := range parsed {
		if !auth.ScopeWithin(sc, p.Scopes) {
			return NewKey{}, palisade.Errorf(palisade.CodeForbidden, "a key can grant only scopes it holds itself; it does not hold %q", sc)
		}
	}
	now := s.o.Now()
	exp := in.ExpiresAt
	if exp == nil {
		exp = p.ExpiresAt
	}
	if exp != nil {
		switch {
		case !exp.After(now):
			return NewKey{}, palisade.FieldError("expires_at", "the expiry must be in the future")
		case exp.After(now.Add(maxKeyLifetime)):
			return NewKey{}, palisade.FieldError("expires_at", "the expiry must be within 3650 days")
		case p.ExpiresAt != nil && exp.After(*p.ExpiresAt):
			return NewKey{}, palisade.Errorf(palisade.CodeForbidden, "a key cannot create a key that outlives it; expire it at %s or earlier",
				p.ExpiresAt.UTC().Format(time.RFC3339))
		}
		e := exp.UTC()
		exp = &e
	}
	plain, prefix, hash := auth.NewAPIKey()
	sp := store.CreateAPIKeyParams{Name: name, Prefix: prefix, Hash: hash, CreatedBy: p.CreatedBy, Now: now, ExpiresAt: exp}
	for _, sc := range parsed {
		sp.Scopes = append(sp.Scopes, string(sc))
	}
	k, err := s.o.Store.CreateAPIKey(ctx, p.Scope, sp)
	s.record(ctx, c, p.Scope, audit.Entry{Actor: string(p.KeyID), Action: audit.ActionAPIKeyCreated, Target: string(k.ID), Outcome: outcome(err)})
	if err != nil {
		return NewKey{}, err
	}
	k.Hash = nil
	return NewKey{Key: k, Plaintext: plain}, nil
}

// RevokeKeyFor revokes one of the workspace's keys on behalf of a key.
func (s *Service) RevokeKeyFor(ctx context.Context, p KeyPrincipal, id palisade.APIKeyID, c Client) error {
	err := s.o.Store.RevokeAPIKey(ctx, p.Scope, id, s.o.Now())
	s.invalidate(ctx, string(p.Scope.Workspace()))
	s.record(ctx, c, p.Scope, audit.Entry{Actor: string(p.KeyID), Action: audit.ActionAPIKeyRevoked, Target: string(id), Outcome: outcome(err)})
	return err
}
