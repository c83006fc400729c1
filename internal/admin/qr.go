package admin

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// otpauthURL returns the enrolment URI as a link target once its scheme
// is checked here: html/template rightly refuses schemes it does not know
// (it renders them as #ZgotmplZ), so the one scheme an authenticator app
// opens is let through by hand and nothing else is.
func otpauthURL(uri string) (template.URL, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.User != nil || u.Fragment != "" {
		return "", false
	}
	return template.URL(uri), true
}

// qrSVG draws content as a QR code in SVG, one path of unit squares, so
// the page needs no script and no image request. The library computes the
// module matrix; it writes only PNG, so the SVG is drawn here from that
// matrix (which includes the quiet zone).
func qrSVG(content, title string) (template.HTML, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("admin: drawing a QR code: %w", err)
	}
	bits := q.Bitmap()
	n := len(bits)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges">`,
		n, n, n*6, n*6, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	// Only numbers and the escaped title were written.
	return template.HTML(b.String()), nil
}
