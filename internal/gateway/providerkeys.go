package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// ProviderKeyID identifies a workspace's provider key.
type ProviderKeyID = store.ProviderKeyID

// ProviderKinds are the providers a workspace may bring a key for: every
// kind an operator can configure.
func ProviderKinds() []string { return slices.Sorted(slices.Values(llm.Kinds())) }

// ProviderKeyStore is what ProviderKeys reads and writes.
type ProviderKeyStore interface {
	CreateProviderKey(ctx context.Context, scope palisade.Scope, p store.CreateProviderKeyParams) (store.ProviderKey, error)
	GetProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID) (store.ProviderKey, error)
	ListProviderKeys(ctx context.Context, scope palisade.Scope) ([]store.ProviderKey, error)
	UpdateProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID, key secret.Secret) error
	DeleteProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID) error
}

// ProviderKeys manages the provider keys a workspace brings: one per
// provider, sealed in the store, written and deleted but never read back
// whole: a listing shows only the last four characters.
type ProviderKeys struct {
	Store  ProviderKeyStore
	Audit  audit.Recorder // nil records nothing
	Logger *slog.Logger
	Now    func() time.Time
}

// MaskedProviderKey is a provider key as a listing shows it.
type MaskedProviderKey struct {
	ID        store.ProviderKeyID
	Provider  string
	Last4     string
	CreatedAt time.Time
}

// keyCharset is what a provider's API key is made of: every supported
// provider's keys are printable ASCII without spaces.
const keyCharset validate.Charset = validate.Alphanumeric + "-_.~+/=:"

// Set stores the workspace's key for provider, replacing the one it had.
func (k *ProviderKeys) Set(ctx context.Context, c palisade.Caller, provider string, key secret.Secret) (MaskedProviderKey, error) {
	if !slices.Contains(ProviderKinds(), provider) {
		return MaskedProviderKey{}, palisade.FieldError("provider", "provider must be one of %s", strings.Join(ProviderKinds(), ", "))
	}
	if err := validate.Token("key", key.Reveal(), keyCharset, 8, 512); err != nil {
		return MaskedProviderKey{}, palisade.FieldError("key", "the key must be 8 to 512 printable characters without spaces")
	}
	list, err := k.Store.ListProviderKeys(ctx, c.Scope)
	if err != nil {
		return MaskedProviderKey{}, err
	}
	out := MaskedProviderKey{Provider: provider, Last4: last4(key)}
	for _, x := range list {
		if x.Provider == provider {
			if err := k.Store.UpdateProviderKey(ctx, c.Scope, x.ID, key); err != nil {
				return MaskedProviderKey{}, err
			}
			out.ID, out.CreatedAt = x.ID, x.CreatedAt
			k.record(ctx, c, out.ID)
			return out, nil
		}
	}
	created, err := k.Store.CreateProviderKey(ctx, c.Scope, store.CreateProviderKeyParams{Provider: provider, Key: key, Now: k.Now()})
	if err != nil {
		return MaskedProviderKey{}, err
	}
	out.ID, out.CreatedAt = created.ID, created.CreatedAt
	k.record(ctx, c, out.ID)
	return out, nil
}

// List lists the workspace's keys, masked.
func (k *ProviderKeys) List(ctx context.Context, scope palisade.Scope) ([]MaskedProviderKey, error) {
	list, err := k.Store.ListProviderKeys(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := make([]MaskedProviderKey, 0, len(list))
	for _, x := range list {
		full, err := k.Store.GetProviderKey(ctx, scope, x.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, MaskedProviderKey{ID: x.ID, Provider: x.Provider, Last4: last4(full.Key), CreatedAt: x.CreatedAt})
	}
	return out, nil
}

// Delete removes one of the workspace's keys: its bots fall back to the
// operator's key.
func (k *ProviderKeys) Delete(ctx context.Context, c palisade.Caller, id store.ProviderKeyID) error {
	if err := k.Store.DeleteProviderKey(ctx, c.Scope, id); err != nil {
		return err
	}
	k.record(ctx, c, id)
	return nil
}

func (k *ProviderKeys) record(ctx context.Context, c palisade.Caller, id store.ProviderKeyID) {
	audit.Best(ctx, k.Audit, k.Logger, c.Scope, audit.Entry{Actor: c.Actor, Action: audit.ActionSecretChanged, Target: string(id),
		Outcome: audit.OutcomeSuccess, ClientIP: c.ClientIP, RequestID: c.RequestID})
}

// last4 is the end of a key a listing may show; nothing of a key too
// short to spare four characters.
func last4(key secret.Secret) string {
	v := key.Reveal()
	if len(v) < 16 {
		return ""
	}
	return v[len(v)-4:]
}
