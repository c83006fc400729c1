package admin

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The members page: the workspace's members with their roles, pending
// invitations, and (for members:write) inviting, changing roles and
// removing. Which roles an actor may grant is the account service's rule.

type membersView struct {
	Members     []memberRow
	Invitations []palisade.Invitation
	Roles       []palisade.Role
}

func (membersView) template() string { return "members" }

type memberRow struct {
	account.Member
	Self bool
}

func (u *UI) membersURL(q *req) string { return "/w/" + string(q.ws.ID) + "/members" }

func (u *UI) membersPageOf(r *http.Request, q *req) (page[membersView], error) {
	ctx := r.Context()
	ms, err := u.o.Account.Members(ctx, *q.actor)
	if err != nil {
		return page[membersView]{}, err
	}
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = memberRow{Member: m, Self: m.UserID == q.cur.User.ID}
	}
	invs, err := u.o.Account.Invitations(ctx, *q.actor)
	if err != nil {
		return page[membersView]{}, err
	}
	return newPage(q, "Members", membersView{Members: rows, Invitations: invs, Roles: palisade.Roles}), nil
}

func (u *UI) membersPage(w http.ResponseWriter, r *http.Request, q *req) error {
	p, err := u.membersPageOf(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) membersError(w http.ResponseWriter, r *http.Request, q *req, err error) error {
	p, perr := u.membersPageOf(r, q)
	if perr != nil {
		return perr
	}
	return u.formError(w, p, err)
}

func (u *UI) inviteMember(w http.ResponseWriter, r *http.Request, q *req) error {
	_, err := u.o.Account.Invite(r.Context(), *q.actor, r.PostFormValue("email"), palisade.Role(r.PostFormValue("role")), q.client)
	if err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, doneURL(u.membersURL(q), "invited"))
}

func (u *UI) changeRole(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.MembershipID(r.PathValue("memberId"))
	if _, err := u.o.Account.ChangeRole(r.Context(), *q.actor, id, palisade.Role(r.PostFormValue("role")), q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, doneURL(u.membersURL(q), "role"))
}

func (u *UI) removeMember(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.MembershipID(r.PathValue("memberId"))
	if err := u.o.Account.RemoveMember(r.Context(), *q.actor, id, q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, doneURL(u.membersURL(q), "removed"))
}

func (u *UI) revokeInvitation(w http.ResponseWriter, r *http.Request, q *req) error {
	id := palisade.InvitationID(r.PathValue("invitationId"))
	if err := u.o.Account.RevokeInvitation(r.Context(), *q.actor, id, q.client); err != nil {
		return u.membersError(w, r, q, err)
	}
	return redirect(w, r, doneURL(u.membersURL(q), "invite-revoked"))
}
