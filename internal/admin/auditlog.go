package admin

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
)

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 50

type auditView struct {
	Rows []auditRow
	// Next is the entry the next (older) page continues before; 0 when
	// this page is the last.
	Next int64
	// First is whether this page starts at the newest entry.
	First bool
	// The filters as the form shows them, the actors it offers, and the
	// query that keeps them on the next page's link.
	Action, Actor, Days string
	Actors              []actorOption
	// Filter is url.Values.Encode output, so a query part as it stands.
	Filter template.URL
}

type actorOption struct{ ID, Name string }

func (auditView) template() string { return "audit" }

// auditRow is one entry as the audit page shows it. Every field is plain
// text that html/template escapes: targets and details can carry text an
// outsider chose (an e-mail address typed at log-in, a bot name).
type auditRow struct {
	Seq       int64
	Time      time.Time
	Actor     string
	ActorName string // the member's e-mail address or the API key's name, when known
	Action    string
	Target    string
	Outcome   string
	IP        string
	RequestID string
	Detail    []string
}

// auditPage shows the workspace's audit log, newest first, a page at a
// time; ?before=SEQ continues after the entry with that sequence number.
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, q *req) error {
	ctx := r.Context()
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return palisade.FieldError("before", "before must be a positive entry number")
		}
		before = n
	}
	qs := r.URL.Query()
	v := auditView{First: before == 0, Action: strings.TrimSpace(qs.Get("action")), Actor: qs.Get("actor"), Days: qs.Get("days")}
	// One more than a page tells whether there is a next page.
	lp := audit.ListParams{Before: before, Limit: auditPageSize + 1, Action: v.Action, Actor: v.Actor}
	if len(v.Action) > 64 || len(v.Actor) > 64 {
		return palisade.FieldError("action", "filters are at most 64 characters")
	}
	switch v.Days {
	case "", "all":
	case "1", "7", "30":
		n, _ := strconv.Atoi(v.Days)
		lp.Since = u.o.Account.Now().Add(-time.Duration(n) * 24 * time.Hour)
	default:
		return palisade.FieldError("days", "days must be 1, 7, 30 or all")
	}
	filter := url.Values{}
	for k, val := range map[string]string{"action": v.Action, "actor": v.Actor, "days": v.Days} {
		if val != "" {
			filter.Set(k, val)
		}
	}
	v.Filter = template.URL(filter.Encode())
	records, err := u.o.Audit.List(ctx, q.actor.Scope, lp)
	if err != nil {
		return err
	}
	next := int64(0)
	if len(records) > auditPageSize {
		records = records[:auditPageSize]
		next = records[len(records)-1].Seq
	}
	names, err := u.actorNames(r, q)
	if err != nil {
		return err
	}
	rows := make([]auditRow, 0, len(records))
	for _, e := range records {
		row := auditRow{Seq: e.Seq, Time: e.Time, Actor: e.Actor, ActorName: names[e.Actor], Action: e.Action, Target: e.Target,
			Outcome: e.Outcome, IP: e.IP, RequestID: e.RequestID}
		for k, v := range e.Detail {
			row.Detail = append(row.Detail, k+"="+v)
		}
		sort.Strings(row.Detail)
		rows = append(rows, row)
	}
	v.Rows, v.Next = rows, next
	v.Actors = []actorOption{{audit.ActorAnonymous, "anonymous (before sign-in)"}, {audit.ActorCLI, "operator (CLI)"}}
	for id, name := range names {
		v.Actors = append(v.Actors, actorOption{id, name})
	}
	sort.Slice(v.Actors[2:], func(i, j int) bool { return v.Actors[2+i].Name < v.Actors[2+j].Name })
	return u.render(w, http.StatusOK, newPage(q, "Audit log", v))
}

// actorNames maps the actors the log can name: current members' user
// ids to their addresses, and the workspace's API keys (revoked ones
// too) to their names, when the viewer may see keys. Former members stay
// ids.
func (u *UI) actorNames(r *http.Request, q *req) (map[string]string, error) {
	ms, err := u.o.Account.Members(r.Context(), *q.actor)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[string(m.UserID)] = m.Email
	}
	if canFor(q.actor.Role).KeysRead {
		keys, err := u.o.Account.APIKeys(r.Context(), *q.actor)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			out[string(k.ID)] = "API key “" + k.Name + "”"
		}
	}
	return out, nil
}
