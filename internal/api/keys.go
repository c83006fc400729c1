package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// keyJSON is an API key as the API shows it: never its hash; the key
// itself only once, in the answer that creates it.
type keyJSON struct {
	ID         palisade.APIKeyID `json:"id"`
	Name       string            `json:"name"`
	Prefix     string            `json:"prefix"`
	Scopes     []string          `json:"scopes"`
	CreatedBy  palisade.UserID   `json:"created_by"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  *time.Time        `json:"expires_at"`
	LastUsedAt *time.Time        `json:"last_used_at"`
	RevokedAt  *time.Time        `json:"revoked_at"`
	// Key is the whole key, shown once, in the creating answer only.
	Key string `json:"key,omitempty"`
}

func toKeyJSON(k palisade.APIKey) keyJSON {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: scopes, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// keyInput is the body of POST /api/v1/keys.
type keyInput struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func client(r *http.Request) account.Client {
	return account.Client{RequestID: httpx.RequestIDFrom(r.Context())}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "keys", palisade.PrefixAPIKey)
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	keys, err := a.KeyAdmin.KeysFor(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageOf("keys", page, keys,
		func(k account.APIKey) keyed { return keyed{k.CreatedAt, string(k.ID)} },
		func(k account.APIKey) keyJSON { return toKeyJSON(k.APIKey) }))
}

// createKey creates a key no wider than the calling key: its scopes, its
// expiry and its creator are bounded by the caller's (account.CreateKeyFor).
func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var in keyInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	nk, err := a.KeyAdmin.CreateKeyFor(r.Context(), p, account.KeyRequest{Name: in.Name, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt}, client(r))
	if err != nil {
		return err
	}
	out := toKeyJSON(nk.Key)
	out.Key = nk.Plaintext.Reveal()
	return writeCreated(w, r, string(out.ID), out)
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := a.KeyAdmin.RevokeKeyFor(r.Context(), p, palisade.APIKeyID(r.PathValue("keyId")), client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
