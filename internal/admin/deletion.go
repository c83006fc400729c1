package admin

import (
	"net/http"
)

// Deleting for good: a workspace by its owner, who types its name, and
// one's own account, with the password.

type workspaceDeleteView struct{}

func (workspaceDeleteView) template() string { return "workspacedelete" }

type accountDeleteView struct {
	// Sole lists the workspaces deleted with the account: those the user
	// is the only member of.
	Sole []string
}

func (accountDeleteView) template() string { return "accountdelete" }

func (u *UI) deleteWorkspacePage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, http.StatusOK, newPage(q, "Delete workspace: "+q.ws.Name, workspaceDeleteView{}))
}

func (u *UI) deleteWorkspace(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.DeleteWorkspace(r.Context(), *q.actor, r.PostFormValue("confirm"), q.client); err != nil {
		return u.formError(w, newPage(q, "Delete workspace: "+q.ws.Name, workspaceDeleteView{}), err)
	}
	return redirect(w, r, doneURL("/account", "ws-deleted"))
}

func (u *UI) deleteAccountPageOf(r *http.Request, q *req) (page[accountDeleteView], error) {
	sole, err := u.o.Account.SoleWorkspaces(r.Context(), *q.cur)
	if err != nil {
		return page[accountDeleteView]{}, err
	}
	return newPage(q, "Delete your account", accountDeleteView{Sole: sole}), nil
}

func (u *UI) deleteAccountPage(w http.ResponseWriter, r *http.Request, q *req) error {
	p, err := u.deleteAccountPageOf(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) deleteAccount(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.DeleteAccount(r.Context(), *q.cur, r.PostFormValue("password"), q.client); err != nil {
		p, perr := u.deleteAccountPageOf(r, q)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	clearSession(w)
	return redirect(w, r, "/login")
}
