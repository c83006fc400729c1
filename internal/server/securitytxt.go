package server

import (
	"net/http"
	"strings"
	"time"
)

// SecurityTxt is the operator's vulnerability-disclosure contact, served as
// RFC 9116's /.well-known/security.txt.
type SecurityTxt struct {
	// Contacts are mailto:, https: or tel: URIs, most preferred first.
	Contacts []string
	// Canonical is the file's own https URL, when the deployment has one.
	Canonical string
	// Now is the clock the expiry is computed from (time.Now if nil).
	Now func() time.Time
}

// securityTxtLifetime is how far ahead Expires lies. RFC 9116 asks for
// less than a year; the file is written per request, so it never goes
// stale while the server runs.
const securityTxtLifetime = 180 * 24 * time.Hour

func (st SecurityTxt) serve(w http.ResponseWriter, _ *http.Request) {
	now := time.Now
	if st.Now != nil {
		now = st.Now
	}
	var b strings.Builder
	for _, c := range st.Contacts {
		b.WriteString("Contact: " + c + "\n")
	}
	b.WriteString("Expires: " + now().UTC().Add(securityTxtLifetime).Truncate(time.Hour).Format(time.RFC3339) + "\n")
	if st.Canonical != "" {
		b.WriteString("Canonical: " + st.Canonical + "\n")
	}
	b.WriteString("Preferred-Languages: en\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A day is plenty: the contact changes rarely, the expiry is far off.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(b.String()))
}
