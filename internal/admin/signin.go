package admin

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Pages before sign-in, all public: log-in and its second-factor step,
// log-out, sign-up, the first owner's set-up, accepting an invitation,
// password reset and e-mail verification. Their forms carry the
// pre-session form token.

type loginView struct {
	Signup bool
	Email  string
}

func (loginView) template() string { return "login" }

type mfaView struct{}

func (mfaView) template() string { return "mfa" }

// newAccountForm is the sign-up and set-up form as the user typed it
// (never the password), so a refused form comes back filled in.
type newAccountForm struct{ Email, Name, Workspace string }

type signupView struct{ newAccountForm }

func (signupView) template() string { return "signup" }

// setupView is the set-up form, or with Spent only the news that the
// link can no longer be used.
type setupView struct {
	newAccountForm
	Spent bool
}

func (setupView) template() string { return "setup" }

type inviteView struct {
	Email     string
	Role      palisade.Role
	Workspace string
}

func (inviteView) template() string { return "invite" }

type forgotView struct{}

func (forgotView) template() string { return "forgot" }

type resetView struct{}

func (resetView) template() string { return "reset" }

type verifyView struct{}

func (verifyView) template() string { return "verify" }

// messageView is a page that only says something (in the page's Notice)
// and links to the log-in page.
type messageView struct{}

func (messageView) template() string { return "message" }

// pathToken is the {token} parameter, already checked by the guard.
func pathToken(r *http.Request) secret.Secret { return secret.New(r.PathValue("token")) }

func (u *UI) home(w http.ResponseWriter, r *http.Request, q *req) error {
	if q.cur != nil {
		return redirect(w, r, "/account")
	}
	return redirect(w, r, "/login")
}

// message renders a page that only says notice.
func (u *UI) message(w http.ResponseWriter, q *req, title, notice string) error {
	p := newPage(q, title, messageView{})
	p.Notice = notice
	return u.render(w, http.StatusOK, p)
}

// ---- log-in ----

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, q *req) error {
	// Shown to signed-in users too: signing in as someone else replaces
	// the session.
	return u.render(w, http.StatusOK, newPage(q, "Sign in", loginView{Signup: u.o.Account.SignupOpen()}))
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, q *req) error {
	p := newPage(q, "Sign in", loginView{Signup: u.o.Account.SignupOpen(), Email: r.PostFormValue("email")})
	is, err := u.o.Account.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"), q.token, q.client)
	if err != nil {
		return u.formError(w, p, err)
	}
	u.setSession(w, is)
	if is.Session.MFAPending {
		return redirect(w, r, "/login/mfa")
	}
	return redirect(w, r, "/account")
}

func (u *UI) mfaPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if q.pending == nil {
		return redirect(w, r, "/login")
	}
	return u.render(w, http.StatusOK, newPage(q, "Two-factor authentication", mfaView{}))
}

func (u *UI) mfa(w http.ResponseWriter, r *http.Request, q *req) error {
	if q.pending == nil {
		return account.ErrNoSession
	}
	is, err := u.o.Account.CompleteMFA(r.Context(), *q.pending, r.PostFormValue("code"), q.client)
	if err != nil {
		return u.formError(w, newPage(q, "Two-factor authentication", mfaView{}), err)
	}
	u.setSession(w, is)
	return redirect(w, r, "/account")
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.Logout(r.Context(), *q.cur, q.client); err != nil {
		return err
	}
	clearSession(w)
	return redirect(w, r, "/login")
}

// ---- sign-up, set-up, invitations ----

func newAccount(r *http.Request) account.NewAccount {
	return account.NewAccount{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Password: r.PostFormValue("password"),
		WorkspaceName: r.PostFormValue("workspace")}
}

func newAccountFormFrom(r *http.Request) newAccountForm {
	return newAccountForm{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Workspace: r.PostFormValue("workspace")}
}

func (u *UI) signupPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if !u.o.Account.SignupOpen() {
		return palisade.Errorf(palisade.CodeNotFound, "sign-up is closed on this server")
	}
	return u.render(w, http.StatusOK, newPage(q, "Create an account", signupView{}))
}

func (u *UI) signup(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.Signup(r.Context(), newAccount(r), q.client); err != nil {
		return u.formError(w, newPage(q, "Create an account", signupView{newAccountFormFrom(r)}), err)
	}
	return u.message(w, q, "Check your email", "If the address can be used, your account is ready: sign in, and open the link we sent to verify your email.")
}

func (u *UI) setupPage(w http.ResponseWriter, r *http.Request, q *req) error {
	pending, err := u.o.Account.SetupPending(r.Context())
	if err != nil {
		return err
	}
	if !pending {
		return u.render(w, http.StatusGone, newPage(q, "This set-up link is spent", setupView{Spent: true}))
	}
	return u.render(w, http.StatusOK, newPage(q, "Create the first owner", setupView{}))
}

func (u *UI) setup(w http.ResponseWriter, r *http.Request, q *req) error {
	is, err := u.o.Account.SetupOwner(r.Context(), pathToken(r), newAccount(r), q.client)
	if err != nil {
		return u.formError(w, newPage(q, "Create the first owner", setupView{newAccountForm: newAccountFormFrom(r)}), err)
	}
	u.setSession(w, is)
	return redirect(w, r, doneURL("/account", "welcome"))
}

// invitation reads the path's invitation and its page.
func (u *UI) invitation(r *http.Request, q *req) (palisade.Invitation, page[inviteView], error) {
	inv, ws, err := u.o.Account.Invitation(r.Context(), pathToken(r))
	if err != nil {
		return palisade.Invitation{}, page[inviteView]{}, err
	}
	return inv, newPage(q, "Invitation", inviteView{Email: inv.Email, Role: inv.Role, Workspace: ws.Name}), nil
}

func (u *UI) invitePage(w http.ResponseWriter, r *http.Request, q *req) error {
	_, p, err := u.invitation(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) invite(w http.ResponseWriter, r *http.Request, q *req) error {
	inv, p, err := u.invitation(r, q)
	if err != nil {
		return err
	}
	if q.cur != nil {
		// The invitation page is public, so its form token is the
		// pre-session one; the session cookie identifies who accepts.
		m, err := u.o.Account.AcceptInvitation(r.Context(), pathToken(r), *q.cur, q.client)
		if err != nil {
			return u.formError(w, p, err)
		}
		return redirect(w, r, "/w/"+string(m.WorkspaceID))
	}
	is, err := u.o.Account.AcceptInvitationNewAccount(r.Context(), pathToken(r), r.PostFormValue("name"), r.PostFormValue("password"), q.client)
	if err != nil {
		return u.formError(w, p, err)
	}
	u.setSession(w, is)
	return redirect(w, r, "/w/"+string(inv.WorkspaceID))
}

// ---- password reset and e-mail verification ----

func (u *UI) forgotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, http.StatusOK, newPage(q, "Reset your password", forgotView{}))
}

func (u *UI) forgot(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.RequestReset(r.Context(), r.PostFormValue("email"), q.client); err != nil {
		return u.formError(w, newPage(q, "Reset your password", forgotView{}), err)
	}
	return u.message(w, q, "Check your email", "If an account uses that address, a reset link is on its way. It works once, for one hour.")
}

func (u *UI) resetPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, http.StatusOK, newPage(q, "Choose a new password", resetView{}))
}

func (u *UI) reset(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.ResetPassword(r.Context(), pathToken(r), r.PostFormValue("password"), q.client); err != nil {
		return u.formError(w, newPage(q, "Choose a new password", resetView{}), err)
	}
	return u.message(w, q, "Password changed", "Your password is changed and every session was signed out. Sign in with the new password.")
}

func (u *UI) verifyPage(w http.ResponseWriter, r *http.Request, q *req) error {
	// Confirming takes a POST: mail scanners that prefetch links must not
	// verify an address by themselves.
	return u.render(w, http.StatusOK, newPage(q, "Verify your email", verifyView{}))
}

func (u *UI) verify(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.VerifyEmail(r.Context(), pathToken(r), q.client); err != nil {
		return err
	}
	return u.message(w, q, "Email verified", "Thank you: your email address is verified.")
}
