package admin_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

// A burst of requests the management limit refuses is counted for the
// workspace in memory only: the dashboard shows none of it until the
// counts are flushed, then all of it, in the refusals chart beside the
// audited refusals and in the total.
func TestDashboardCountsRateLimitRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{limits: ratelimit.Defaults(), sealer: sealtest.NewKeyring(t)})
	ws, emails := roleUsers(t, e)
	base := "/w/" + string(ws)
	reader := e.browser()
	reader.login(emails["viewer"])
	const refused = 15
	limited := 0
	for range 20 + refused {
		switch w := reader.get(base + "/bots"); w.Code {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("read: status %d", w.Code)
		}
	}
	if limited != refused {
		t.Fatalf("%d reads refused, want %d: the default mgmt_read limit changed", limited, refused)
	}

	owner := e.browser()
	owner.login(emails["owner"])
	dash := base + "/dashboard?days=7"
	today := e.clock.Now().UTC().Format("2006-01-02")
	row := func(body string) string {
		chart := regexp.MustCompile(`(?s)<section class="chart-box" id="chart-refusals".*?</section>`).FindString(body)
		return regexp.MustCompile(`<tr><td>` + today + `</td>.*?</tr>`).FindString(chart)
	}
	body := owner.get(dash).Body.String()
	if got := row(body); got != `<tr><td>`+today+`</td><td class="num">0</td><td class="num">0</td></tr>` {
		t.Fatalf("before the flush, today's refusals row is %q", got)
	}
	if err := e.refusals.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	body = owner.get(dash).Body.String()
	if got := row(body); got != `<tr><td>`+today+`</td><td class="num">15</td><td class="num">0</td></tr>` {
		t.Fatalf("after the flush, today's refusals row is %q\n%s", got, body)
	}
	chart := regexp.MustCompile(`(?s)<section class="chart-box" id="chart-refusals".*?</section>`).FindString(body)
	if !strings.Contains(chart, "<title>"+today+": 15</title>") || !strings.Contains(chart, "Rate limited") ||
		!strings.Contains(body, "<b>15</b> refusals") {
		t.Fatalf("the refusals chart does not draw the rate-limited requests:\n%s", chart)
	}
}
