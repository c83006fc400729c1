package admin

import (
	"html/template"
	"net/http"

	"github.com/palisadehq/palisade/internal/secret"
)

// Two-factor authentication of the signed-in user: enrolling an
// authenticator app, turning it off, and recovery codes, which are shown
// once, in the response that made them (which is no-store).

type twoFAView struct {
	Enabled bool
	// Secret and URI are the enrolment in progress, if any.
	Secret string
	URI    string
	// Link is URI as a link target, empty unless it is an otpauth URI;
	// QR draws it.
	Link template.URL
	QR   template.HTML
}

func (twoFAView) template() string { return "twofa" }

type codesView struct {
	Codes []string
}

func (codesView) template() string { return "codes" }

func (u *UI) twoFAPageOf(r *http.Request, q *req) (page[twoFAView], error) {
	d := twoFAView{Enabled: q.cur.User.TOTPEnabled}
	if !d.Enabled {
		e, ok, err := u.o.Account.PendingTOTP(r.Context(), *q.cur)
		if err != nil {
			return page[twoFAView]{}, err
		}
		if ok {
			d.Secret, d.URI = e.Secret.Reveal(), e.URI.Reveal()
			if link, ok := otpauthURL(d.URI); ok {
				d.Link = link
				if d.QR, err = qrSVG(d.URI, "QR code of the authenticator key"); err != nil {
					return page[twoFAView]{}, err
				}
			}
		}
	}
	return newPage(q, "Two-factor authentication", d), nil
}

func (u *UI) twoFAPage(w http.ResponseWriter, r *http.Request, q *req) error {
	p, err := u.twoFAPageOf(r, q)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

func (u *UI) twoFAError(w http.ResponseWriter, r *http.Request, q *req, err error) error {
	p, perr := u.twoFAPageOf(r, q)
	if perr != nil {
		return perr
	}
	return u.formError(w, p, err)
}

func (u *UI) beginTOTP(w http.ResponseWriter, r *http.Request, q *req) error {
	if _, err := u.o.Account.BeginTOTP(r.Context(), *q.cur); err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return redirect(w, r, doneURL("/account/2fa", "2fa-started"))
}

func (u *UI) showCodes(w http.ResponseWriter, q *req, codes []secret.Secret) error {
	shown := make([]string, len(codes))
	for i, c := range codes {
		shown[i] = c.Reveal()
	}
	return u.render(w, http.StatusOK, newPage(q, "Recovery codes", codesView{Codes: shown}))
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
	return u.showCodes(w, q, codes)
}

func (u *UI) disableTOTP(w http.ResponseWriter, r *http.Request, q *req) error {
	if err := u.o.Account.DisableTOTP(r.Context(), *q.cur, r.PostFormValue("password"), r.PostFormValue("code"), q.client); err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return redirect(w, r, doneURL("/account/2fa", "2fa-off"))
}

func (u *UI) regenerateCodes(w http.ResponseWriter, r *http.Request, q *req) error {
	codes, err := u.o.Account.RegenerateRecoveryCodes(r.Context(), *q.cur, r.PostFormValue("code"), q.client)
	if err != nil {
		return u.twoFAError(w, r, q, err)
	}
	return u.showCodes(w, q, codes)
}
