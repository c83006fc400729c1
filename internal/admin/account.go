package admin

import (
	"io"
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The signed-in user's own pages: the account with its workspaces and
// password change, and the list of sessions.

type accountView struct {
	Workspaces []account.UserWorkspace
	// CanExport says the server offers the user's data export.
	CanExport bool
	// MailToConsole: no mail server is configured, so the verification
	// link went to the server's output.
	MailToConsole bool
}

func (accountView) template() string { return "account" }

type sessionsView struct {
	Sessions []sessionRow
}

func (sessionsView) template() string { return "sessions" }

type sessionRow struct {
	palisade.Session
	Current bool
}

func (u *UI) accountPageOf(r *http.Request, q *req) (page[accountView], error) {
	ws, err := u.o.Account.Workspaces(r.Context(), *q.cur)
	if err != nil {
		return page[accountView]{}, err
	}
	return newPage(q, "Your account", accountView{Workspaces: ws, CanExport: u.o.Export != nil,
		MailToConsole: u.o.Account.MailToConsole()}), nil
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, q *req) error {
	p, err := u.accountPageOf(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request, q *req) error {
	is, err := u.o.Account.ChangePassword(r.Context(), *q.cur, r.PostFormValue("current"), r.PostFormValue("password"), q.client)
	if err != nil {
		p, perr := u.accountPageOf(r, q)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	u.setSession(w, is)
	return redirect(w, r, doneURL("/account", "password"))
}

func (u *UI) resendVerification(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.ResendVerification(r.Context(), *q.cur, q.client); err != nil {
		return err
	}
	return redirect(w, r, doneURL("/account", u.verifyFlash()))
}

func (u *UI) sessionsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	list, err := u.o.Account.Sessions(r.Context(), *q.cur)
	if err != nil {
		return err
	}
	var rows []sessionRow
	for _, x := range list {
		if x.MFAPending {
			continue
		}
		rows = append(rows, sessionRow{Session: x, Current: x.ID == q.cur.Session.ID})
	}
	return u.render(w, http.StatusOK, newPage(q, "Sessions", sessionsView{Sessions: rows}))
}

func (u *UI) revokeSession(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.SessionID(r.PathValue("sessionId"))
	if err := u.o.Account.RevokeSession(r.Context(), *q.cur, id, q.client); err != nil {
		return err
	}
	if id == q.cur.Session.ID {
		clearSession(w)
		return redirect(w, r, "/login")
	}
	return redirect(w, r, doneURL("/account/sessions", "session-revoked"))
}

// exportAccount downloads the signed-in user's own data.
func (u *UI) exportAccount(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Export == nil {
		return palisade.ErrNotFound
	}
	id := q.cur.User.ID
	if err := u.o.Export.StartUser(r.Context(), id, palisade.Caller{Actor: string(id), ClientIP: q.client.Addr, RequestID: q.client.RequestID}); err != nil {
		p, perr := u.accountPageOf(r, q)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	return httpx.Download(w, r, "palisade-account-"+string(id)+"-"+time.Now().UTC().Format("20060102T150405Z")+".json", func(out io.Writer) error {
		return u.o.Export.User(r.Context(), id, out)
	})
}

// verifyFlash says where a new verification link went.
func (u *UI) verifyFlash() string {
	if u.o.Account.MailToConsole() {
		return "verify-printed"
	}
	return "verify-sent"
}
