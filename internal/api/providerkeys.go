package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/secret"
)

// providerKeyJSON is a workspace's provider key as the API shows it: the
// key itself is write-only; only its last four characters are shown.
type providerKeyJSON struct {
	ID        gateway.ProviderKeyID `json:"id"`
	Provider  string                `json:"provider"`
	Last4     string                `json:"last4"`
	CreatedAt time.Time             `json:"created_at"`
}

func toProviderKeyJSON(k gateway.MaskedProviderKey) providerKeyJSON {
	return providerKeyJSON{ID: k.ID, Provider: k.Provider, Last4: k.Last4, CreatedAt: k.CreatedAt}
}

// providerKeyInput is the body of POST /api/v1/provider-keys.
type providerKeyInput struct {
	Provider string `json:"provider"`
	Key      string `json:"key"`
}

func (a *API) listProviderKeys(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "provider-keys", "sec")
	if err != nil {
		return err
	}
	list, err := a.ProviderKeys.List(r.Context(), scope(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageOf("provider-keys", page, list,
		func(k gateway.MaskedProviderKey) keyed { return keyed{k.CreatedAt, string(k.ID)} }, toProviderKeyJSON))
}

// setProviderKey stores the workspace's key for a provider, replacing the
// one it had; the workspace's bots use it from their next call.
func (a *API) setProviderKey(w http.ResponseWriter, r *http.Request) error {
	var in providerKeyInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	k, err := a.ProviderKeys.Set(r.Context(), caller(r), in.Provider, secret.New(in.Key))
	if err != nil {
		return err
	}
	out := toProviderKeyJSON(k)
	return writeCreated(w, r, string(out.ID), out)
}

func (a *API) deleteProviderKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.ProviderKeys.Delete(r.Context(), caller(r), gateway.ProviderKeyID(r.PathValue("providerKeyId"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
