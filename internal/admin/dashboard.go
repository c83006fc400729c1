package admin

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
)

// The workspace's dashboard: message volume, refusals and model token use
// per day, drawn here as SVG bar charts, so the page needs no script and
// no image requests, with the numbers in a table beside each chart for
// anyone who cannot see it.

// Activity reads a workspace's traffic per day
// (*conversation.Dashboard).
type Activity interface {
	Days(ctx context.Context, scope palisade.Scope, days int) ([]conversation.DayActivity, error)
}

var _ Activity = (*conversation.Dashboard)(nil)

type dashboardView struct {
	Days   []conversation.DayActivity
	Span   int
	Spans  []int
	Charts []chart
	// Totals over the span.
	Questions, Answers, Refusals, TokensIn, TokensOut int64
}

func (dashboardView) template() string { return "dashboard" }

// chart is one drawn chart and the numbers behind it.
type chart struct {
	ID, Title, Caption string
	SVG                template.HTML
	Series             []string
	Rows               []chartRow
}

type chartRow struct {
	Day    string
	Values []int64
}

// chartColour is a series' fill: dark enough on white for the non-text
// contrast of WCAG 2.1 (3:1), and told apart by more than hue alone in
// the table beside the chart.
func chartColour(series int) string {
	if series == 0 {
		return "#1f4fd1"
	}
	return "#b45309"
}

func (u *UI) dashboardPage(w http.ResponseWriter, r *http.Request, q *req) error {
	if u.o.Activity == nil {
		return palisade.ErrNotFound
	}
	span := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 7 && n != 30 && n != 90) {
			return palisade.FieldError("days", "days must be 7, 30 or 90")
		}
		span = n
	}
	days, err := u.o.Activity.Days(r.Context(), q.actor.Scope, span)
	if err != nil {
		return err
	}
	v := dashboardView{Days: days, Span: span, Spans: []int{7, 30, 90}}
	pick := func(f func(conversation.DayActivity) [2]int64) [][2]int64 {
		out := make([][2]int64, len(days))
		for i, d := range days {
			out[i] = f(d)
		}
		return out
	}
	for _, d := range days {
		v.Questions += d.Questions
		v.Answers += d.Answers
		v.Refusals += d.Refusals + d.RateLimited
		v.TokensIn += d.TokensIn
		v.TokensOut += d.TokensOut
	}
	v.Charts = []chart{
		newChart("messages", "Messages per day", "Questions asked and answers given, on every channel.", days,
			[]string{"Questions", "Answers"}, pick(func(d conversation.DayActivity) [2]int64 { return [2]int64{d.Questions, d.Answers} })),
		newChart("refusals", "Refusals per day", "Requests a rate limit refused (API keys, widget sessions, webhooks and these pages; written every few seconds), "+
			"and webhook deliveries that failed verification or outbound requests and actions the egress and policy rules denied.", days,
			[]string{"Rate limited", "Rejected or denied"}, pick(func(d conversation.DayActivity) [2]int64 { return [2]int64{d.RateLimited, d.Refusals} })),
		newChart("tokens", "Model tokens per day", "Tokens sent to and received from language models. Retrieval-only answers use none.", days,
			[]string{"Input", "Output"}, pick(func(d conversation.DayActivity) [2]int64 { return [2]int64{d.TokensIn, d.TokensOut} })),
	}
	return u.render(w, http.StatusOK, newPage(q, "Dashboard", v))
}

// newChart draws stacked daily bars of up to two series.
func newChart(id, title, caption string, days []conversation.DayActivity, series []string, values [][2]int64) chart {
	c := chart{ID: id, Title: title, Caption: caption, Series: series}
	var top int64
	for i, d := range days {
		row := chartRow{Day: d.Day}
		var sum int64
		for s := range series {
			row.Values = append(row.Values, values[i][s])
			sum += values[i][s]
		}
		top = max(top, sum)
		c.Rows = append(c.Rows, row)
	}
	c.SVG = barsSVG(title, days, len(series), values, niceTop(top))
	return c
}

// niceTop rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// axis label is a round number.
func niceTop(v int64) int64 {
	if v <= 0 {
		return 1
	}
	p := int64(1)
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// barsSVG draws the bars. Every value written is a number or escaped
// text, so the result is safe to embed.
func barsSVG(title string, days []conversation.DayActivity, nSeries int, values [][2]int64, top int64) template.HTML {
	const (
		width, height       = 720, 220
		left, right, bottom = 48, 8, 28
		topPad              = 12
	)
	plotW, plotH := float64(width-left-right), float64(height-bottom-topPad)
	n := max(len(days), 1)
	slot := plotW / float64(n)
	bar := max(slot*0.7, 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, width, height, template.HTMLEscapeString(title))
	// Axis: the baseline, the top value and the half-way line.
	base := float64(topPad) + plotH
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#586174" stroke-width="1"/>`, left, base, width-right, base)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d9dee7" stroke-width="1"/>`, left, topPad, width-right, topPad)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d9dee7" stroke-width="1"/>`, left, float64(topPad)+plotH/2, width-right, float64(topPad)+plotH/2)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#586174">%s</text>`, left-6, topPad+4, shortNumber(top))
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" text-anchor="end" fill="#586174">0</text>`, left-6, base+4)
	for i := range days {
		x := float64(left) + float64(i)*slot + (slot-bar)/2
		y := base
		for s := range nSeries {
			v := values[i][s]
			if v <= 0 {
				continue
			}
			h := plotH * float64(v) / float64(top)
			y -= h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
				x, y, bar, h, chartColour(s), template.HTMLEscapeString(days[i].Day), v)
		}
	}
	// The first and last day under the axis.
	if len(days) > 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#586174">%s</text>`, left, height-8, template.HTMLEscapeString(days[0].Day))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#586174">%s</text>`, width-right, height-8, template.HTMLEscapeString(days[len(days)-1].Day))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// shortNumber writes large axis values compactly (1200 → 1.2k).
func shortNumber(v int64) string {
	switch {
	case v >= 1_000_000:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 1_000:
		return strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}
