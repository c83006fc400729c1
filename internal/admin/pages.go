package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// pathToken is the {token} parameter, already checked by the guard.
func pathToken(r *http.Request) secret.Secret { return secret.New(r.PathValue("token")) }

func (u *UI) home(w http.ResponseWriter, r *http.Request, q *req) error {
	if q.cur != nil {
		return redirect(w, r, "/account")
	}
	return redirect(w, r, "/login")
}

// ---- log-in ----

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, q *req) error {
	// Shown to signed-in users too: signing in as someone else replaces
	// the session.
	return u.render(w, r, http.StatusOK, "login", u.newPage(q, "Sign in", map[string]any{"Signup": u.o.Account.SignupOpen()}))
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, q *req) error {
	p := u.newPage(q, "Sign in", map[string]any{"Signup": u.o.Account.SignupOpen(), "Email": r.PostFormValue("email")})
	is, err := u.o.Account.Login(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"), q.token, q.client)
	if err != nil {
		return u.formError(w, r, "login", p, err)
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
	return u.render(w, r, http.StatusOK, "mfa", u.newPage(q, "Two-factor authentication", nil))
}

func (u *UI) mfa(w http.ResponseWriter, r *http.Request, q *req) error {
	if q.pending == nil {
		return account.ErrNoSession
	}
	is, err := u.o.Account.CompleteMFA(r.Context(), *q.pending, r.PostFormValue("code"), q.client)
	if err != nil {
		return u.formError(w, r, "mfa", u.newPage(q, "Two-factor authentication", nil), err)
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

func formValues(r *http.Request) map[string]any {
	return map[string]any{"Email": r.PostFormValue("email"), "Name": r.PostFormValue("name"), "Workspace": r.PostFormValue("workspace")}
}

func (u *UI) signupPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if !u.o.Account.SignupOpen() {
		return palisade.Errorf(palisade.CodeNotFound, "sign-up is closed on this server")
	}
	return u.render(w, r, http.StatusOK, "signup", u.newPage(q, "Create an account", nil))
}

func (u *UI) signup(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.Signup(r.Context(), newAccount(r), q.client); err != nil {
		return u.formError(w, r, "signup", u.newPage(q, "Create an account", formValues(r)), err)
	}
	p := u.newPage(q, "Check your email", nil)
	p.Notice = "If the address can be used, your account is ready: sign in, and open the link we sent to verify your email."
	return u.render(w, r, http.StatusOK, "message", p)
}

func (u *UI) setupPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "setup", u.newPage(q, "Create the first owner", nil))
}

func (u *UI) setup(w http.ResponseWriter, r *http.Request, q *req) error {
	is, err := u.o.Account.SetupOwner(r.Context(), pathToken(r), newAccount(r), q.client)
	if err != nil {
		return u.formError(w, r, "setup", u.newPage(q, "Create the first owner", formValues(r)), err)
	}
	u.setSession(w, is)
	return redirect(w, r, "/account")
}

func (u *UI) invitePage(w http.ResponseWriter, r *http.Request, q *req) error {
	inv, ws, err := u.o.Account.Invitation(r.Context(), pathToken(r))
	if err != nil {
		return err
	}
	p := u.newPage(q, "Invitation", map[string]any{"Email": inv.Email, "Role": inv.Role, "Workspace": ws.Name})
	if q.cur != nil {
		p.User = &q.cur.User
	}
	return u.render(w, r, http.StatusOK, "invite", p)
}

func (u *UI) invite(w http.ResponseWriter, r *http.Request, q *req) error {
	ctx := r.Context()
	inv, ws, err := u.o.Account.Invitation(ctx, pathToken(r))
	if err != nil {
		return err
	}
	p := u.newPage(q, "Invitation", map[string]any{"Email": inv.Email, "Role": inv.Role, "Workspace": ws.Name})
	if q.cur != nil {
		// The invitation page is public, so its form token is the
		// pre-session one; the session cookie identifies who accepts.
		p.User = &q.cur.User
		m, err := u.o.Account.AcceptInvitation(ctx, pathToken(r), *q.cur, q.client)
		if err != nil {
			return u.formError(w, r, "invite", p, err)
		}
		return redirect(w, r, "/w/"+string(m.WorkspaceID))
	}
	is, err := u.o.Account.AcceptInvitationNewAccount(ctx, pathToken(r), r.PostFormValue("name"), r.PostFormValue("password"), q.client)
	if err != nil {
		return u.formError(w, r, "invite", p, err)
	}
	u.setSession(w, is)
	return redirect(w, r, "/w/"+string(inv.WorkspaceID))
}

// ---- password reset and e-mail verification ----

func (u *UI) forgotPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "forgot", u.newPage(q, "Reset your password", nil))
}

func (u *UI) forgot(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.RequestReset(r.Context(), r.PostFormValue("email"), q.client); err != nil {
		return u.formError(w, r, "forgot", u.newPage(q, "Reset your password", nil), err)
	}
	p := u.newPage(q, "Check your email", nil)
	p.Notice = "If an account uses that address, a reset link is on its way. It works once, for one hour."
	return u.render(w, r, http.StatusOK, "message", p)
}

func (u *UI) resetPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "reset", u.newPage(q, "Choose a new password", nil))
}

func (u *UI) reset(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.ResetPassword(r.Context(), pathToken(r), r.PostFormValue("password"), q.client); err != nil {
		return u.formError(w, r, "reset", u.newPage(q, "Choose a new password", nil), err)
	}
	p := u.newPage(q, "Password changed", nil)
	p.Notice = "Your password is changed and every session was signed out. Sign in with the new password."
	return u.render(w, r, http.StatusOK, "message", p)
}

func (u *UI) verifyPage(w http.ResponseWriter, r *http.Request, q *req) error {
	// Confirming takes a POST: mail scanners that prefetch links must not
	// verify an address by themselves.
	return u.render(w, r, http.StatusOK, "verify", u.newPage(q, "Verify your email", nil))
}

func (u *UI) verify(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.VerifyEmail(r.Context(), pathToken(r), q.client); err != nil {
		return err
	}
	p := u.newPage(q, "Email verified", nil)
	p.Notice = "Thank you: your email address is verified."
	return u.render(w, r, http.StatusOK, "message", p)
}

// ---- account ----

type wsLink struct {
	ID   palisade.WorkspaceID
	Name string
	Role palisade.Role
}

func (u *UI) accountData(r *http.Request, q *req) (map[string]any, error) {
	ms, err := u.o.Store.ListUserMemberships(r.Context(), q.cur.User.ID)
	if err != nil {
		return nil, err
	}
	var list []wsLink
	for _, m := range ms {
		ws, err := u.o.Store.GetWorkspace(r.Context(), palisade.ScopeFor(m.WorkspaceID))
		if err != nil {
			return nil, err
		}
		list = append(list, wsLink{ID: ws.ID, Name: ws.Name, Role: m.Role})
	}
	return map[string]any{"Workspaces": list}, nil
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, q *req) error {
	d, err := u.accountData(r, q)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "account", u.newPage(q, "Your account", d))
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request, q *req) error {
	is, err := u.o.Account.ChangePassword(r.Context(), *q.cur, r.PostFormValue("current"), r.PostFormValue("password"), q.client)
	if err != nil {
		d, derr := u.accountData(r, q)
		if derr != nil {
			return derr
		}
		return u.formError(w, r, "account", u.newPage(q, "Your account", d), err)
	}
	u.setSession(w, is)
	return redirect(w, r, "/account")
}

func (u *UI) resendVerification(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.ResendVerification(r.Context(), *q.cur, q.client); err != nil {
		return err
	}
	return redirect(w, r, "/account")
}

type sessionView struct {
	palisade.Session
	Current bool
}

func (u *UI) sessionsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	list, err := u.o.Account.Sessions(r.Context(), *q.cur)
	if err != nil {
		return err
	}
	var out []sessionView
	for _, x := range list {
		if x.MFAPending {
			continue
		}
		out = append(out, sessionView{Session: x, Current: x.ID == q.cur.Session.ID})
	}
	return u.render(w, r, http.StatusOK, "sessions", u.newPage(q, "Sessions", out))
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
	return redirect(w, r, "/account/sessions")
}

// ---- two-factor ----

func (u *UI) twoFAData(r *http.Request, q *req) (map[string]any, error) {
	d := map[string]any{"Enabled": q.cur.User.TOTPEnabled}
	if !q.cur.User.TOTPEnabled {
		e, ok, err := u.o.Account.PendingTOTP(r.Context(), *q.cur)
		if err != nil {
			return nil, err
		}
		if ok {
			d["Secret"], d["URI"] = e.Secret.Reveal(), e.URI.Reveal()
		}
	}
	return d, nil
}

func (u *UI) twoFAPage(w http.ResponseWriter, r *http.Request, q *req) error {
	d, err := u.twoFAData(r, q)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "twofa", u.newPage(q, "Two-factor authentication", d))
}

func (u *UI) twoFAError(w http.ResponseWriter, r *http.Request, q *req, err error) error {
	d, derr := u.twoFAData(r, q)
	if derr != nil {
		return derr
	}
	return u.formError(w, r, "twofa", u.newPage(q, "Two-factor authentication", d), err)
}

func (u *UI) beginTOTP(w http.ResponseWriter, r *http.Request, q *req) error {
	if _, err := u.o.Account.BeginTOTP(r.Context(), *q.cur); err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return redirect(w, r, "/account/2fa")
}

func (u *UI) showCodes(w http.ResponseWriter, r *http.Request, q *req, codes []secret.Secret) error {
	shown := make([]string, len(codes))
	for i, c := range codes {
		shown[i] = c.Reveal()
	}
	p := u.newPage(q, "Recovery codes", map[string]any{"Codes": shown})
	return u.render(w, r, http.StatusOK, "codes", p)
}

func (u *UI) confirmTOTP(w http.ResponseWriter, r *http.Request, q *req) error {
	codes, is, err := u.o.Account.ConfirmTOTP(r.Context(), *q.cur, r.PostFormValue("code"), q.client)
	if err != nil {
		return u.twoFAError(w, r, q, err)
	}
	u.setSession(w, is)
	// The page is rendered with the new session's form token.
	q.csrf = csrfToken(is.Token)
	q.cur.User.TOTPEnabled = true
	return u.showCodes(w, r, q, codes)
}

func (u *UI) disableTOTP(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.DisableTOTP(r.Context(), *q.cur, r.PostFormValue("password"), q.client); err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return redirect(w, r, "/account/2fa")
}

func (u *UI) regenerateCodes(w http.ResponseWriter, r *http.Request, q *req) error {
	codes, err := u.o.Account.RegenerateRecoveryCodes(r.Context(), *q.cur, r.PostFormValue("code"), q.client)
	if err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return u.showCodes(w, r, q, codes)
}

// ---- workspace ----

func (u *UI) workspacePage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "workspace", u.newPage(q, q.ws.Name, nil))
}

type memberView struct {
	palisade.Membership
	Email string
	Name  string
	Self  bool
}

func (u *UI) membersData(r *http.Request, q *req) (map[string]any, error) {
	ctx := r.Context()
	ms, err := u.o.Store.ListMembers(ctx, q.actor.Scope)
	if err != nil {
		return nil, err
	}
	var out []memberView
	for _, m := range ms {
		usr, err := u.o.Store.GetUser(ctx, m.UserID)
		if err != nil {
			return nil, err
		}
		out = append(out, memberView{Membership: m, Email: usr.Email, Name: usr.Name, Self: m.UserID == q.cur.User.ID})
	}
	invs, err := u.o.Store.ListInvitations(ctx, q.actor.Scope)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Members": out, "Invitations": invs, "Roles": palisade.Roles}, nil
}

func (u *UI) membersPage(w http.ResponseWriter, r *http.Request, q *req) error {
	d, err := u.membersData(r, q)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "members", u.newPage(q, "Members", d))
}

func (u *UI) membersError(w http.ResponseWriter, r *http.Request, q *req, err error) error {
	d, derr := u.membersData(r, q)
	if derr != nil {
		return derr
	}
	return u.formError(w, r, "members", u.newPage(q, "Members", d), err)
}

func (u *UI) membersURL(q *req) string { return "/w/" + string(q.ws.ID) + "/members" }

func (u *UI) inviteMember(w http.ResponseWriter, r *http.Request, q *req) error {
	_, err := u.o.Account.Invite(r.Context(), *q.actor, r.PostFormValue("email"), palisade.Role(r.PostFormValue("role")), q.client)
	if err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, u.membersURL(q))
}

func (u *UI) changeRole(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.MembershipID(r.PathValue("memberId"))
	if _, err := u.o.Account.ChangeRole(r.Context(), *q.actor, id, palisade.Role(r.PostFormValue("role")), q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, u.membersURL(q))
}

func (u *UI) removeMember(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.MembershipID(r.PathValue("memberId"))
	if err := u.o.Account.RemoveMember(r.Context(), *q.actor, id, q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, u.membersURL(q))
}

func (u *UI) revokeInvitation(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.InvitationID(r.PathValue("invitationId"))
	if err := u.o.Account.RevokeInvitation(r.Context(), *q.actor, id, q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, u.membersURL(q))
}

// ---- API keys ----

type keyView struct {
	palisade.APIKey
	Masked string
	Status string
}

func (u *UI) keysData(r *http.Request, q *req, created string) (map[string]any, error) {
	keys, err := u.o.Store.ListAPIKeys(r.Context(), q.actor.Scope)
	if err != nil {
		return nil, err
	}
	now := u.o.Account.Now()
	var out []keyView
	for _, k := range keys {
		st := "active"
		switch {
		case k.RevokedAt != nil:
			st = "revoked"
		case !k.Usable(now):
			st = "expired"
		}
		// Only the public lookup prefix is ever shown again.
		out = append(out, keyView{APIKey: k, Masked: "pal_" + k.Prefix + "…", Status: st})
	}
	return map[string]any{"Keys": out, "Scopes": auth.AllScopes(), "Created": created}, nil
}

func (u *UI) keysPage(w http.ResponseWriter, r *http.Request, q *req) error {
	d, err := u.keysData(r, q, "")
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "keys", u.newPage(q, "API keys", d))
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
		d, derr := u.keysData(r, q, "")
		if derr != nil {
			return derr
		}
		return u.formError(w, r, "keys", u.newPage(q, "API keys", d), err)
	}
	// Shown once, in this response only (which is no-store).
	d, err := u.keysData(r, q, nk.Plaintext.Reveal())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "keys", u.newPage(q, "API keys", d))
}

func (u *UI) revokeKey(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.RevokeAPIKey(r.Context(), *q.actor, palisade.APIKeyID(r.PathValue("keyId")), q.client); err != nil {
		return err
	}
	return redirect(w, r, "/w/"+string(q.ws.ID)+"/keys")
}

// ---- settings ----

func (u *UI) settingsData(q *req) map[string]any {
	return map[string]any{"RequireMFA": q.ws.RequireMFA, "Models": strings.Join(q.ws.AllowedModels, "\n"), "OperatorModels": u.o.Bots.OperatorModels()}
}

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	return u.render(w, r, http.StatusOK, "settings", u.newPage(q, "Security settings", u.settingsData(q)))
}

// setModels sets the workspace's own model allowlist: each model must be
// one the operator allows; empty allows them all.
func (u *UI) setModels(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Bots.SetAllowedModels(r.Context(), q.caller(), strings.Split(r.PostFormValue("models"), "\n")); err != nil {
		return u.formError(w, r, "settings", u.newPage(q, "Security settings", u.settingsData(q)), err)
	}
	return redirect(w, r, "/w/"+string(q.ws.ID)+"/settings")
}

func (u *UI) setRequireMFA(w http.ResponseWriter, r *http.Request, q *req) error {
	on := r.PostFormValue("require") == "on"
	if err := u.o.Account.SetRequireMFA(r.Context(), *q.actor, on, q.client); err != nil {
		return u.formError(w, r, "settings", u.newPage(q, "Security settings", u.settingsData(q)), err)
	}
	return redirect(w, r, "/w/"+string(q.ws.ID)+"/settings")
}
