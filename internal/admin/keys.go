package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The API keys page: the workspace's keys with who made each, creating a
// key (its plaintext shown once, in that response only) and revoking one.

type keysView struct {
	Keys   []keyRow
	Scopes []auth.Scope
	// Created is the plaintext of the key just created, shown once.
	Created string
}

func (keysView) template() string { return "keys" }

type keyRow struct {
	account.APIKey
	// Masked is all of the key that is ever shown again: its public
	// lookup prefix.
	Masked string
	Status string // active, revoked or expired
	// Creator is who made the key: a user's address, or the operator.
	Creator string
}

// operatorCreator names the maker of keys created with `palisade apikey`.
const operatorCreator = "operator (CLI)"

func (u *UI) keysPageOf(r *http.Request, q *req, created string) (page[keysView], error) {
	keys, err := u.o.Account.APIKeys(r.Context(), *q.actor)
	if err != nil {
		return page[keysView]{}, err
	}
	now := u.o.Account.Now()
	rows := make([]keyRow, len(keys))
	for i, k := range keys {
		st := "active"
		switch {
		case k.RevokedAt != nil:
			st = "revoked"
		case !k.Usable(now):
			st = "expired"
		}
		creator := k.CreatorEmail
		switch {
		case k.CreatedBy == "":
			creator = operatorCreator
		case creator == "":
			// A user who no longer exists: their id is all there is.
			creator = string(k.CreatedBy)
		}
		rows[i] = keyRow{APIKey: k, Masked: "pal_" + k.Prefix + "…", Status: st, Creator: creator}
	}
	return newPage(q, "API keys", keysView{Keys: rows, Scopes: auth.AllScopes(), Created: created}), nil
}

func (u *UI) keysPage(w http.ResponseWriter, r *http.Request, q *req) error {
	p, err := u.keysPageOf(r, q, "")
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) createKey(w http.ResponseWriter, r *http.Request, q *req) error {
	days := 0
	if v := strings.TrimSpace(r.PostFormValue("days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return palisade.FieldError("days", "expiry must be a whole number of days")
		}
		days = n
	}
	_ = r.ParseForm()
	nk, err := u.o.Account.CreateAPIKey(r.Context(), *q.actor, r.PostFormValue("name"), r.PostForm["scope"], days, q.client)
	if err != nil {
		p, perr := u.keysPageOf(r, q, "")
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	// Shown once, in this response only (which is no-store).
	p, err := u.keysPageOf(r, q, nk.Plaintext.Reveal())
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) revokeKey(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.RevokeAPIKey(r.Context(), *q.actor, palisade.APIKeyID(r.PathValue("keyId")), q.client); err != nil {
		return err
	}
	return redirect(w, r, doneURL("/w/"+string(q.ws.ID)+"/keys", "key-revoked"))
}
