package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/validate"
)

// auditJSON is one entry of the workspace's audit log.
type auditJSON struct {
	ID        palisade.AuditID  `json:"id"`
	Seq       int64             `json:"seq"`
	Time      time.Time         `json:"time"`
	Actor     string            `json:"actor"`
	Action    string            `json:"action"`
	Target    string            `json:"target"`
	Outcome   string            `json:"outcome"`
	IP        string            `json:"ip"`
	RequestID string            `json:"request_id"`
	Detail    map[string]string `json:"detail"`
}

func toAuditJSON(e audit.Record) auditJSON {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	return auditJSON{ID: e.ID, Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Outcome: e.Outcome,
		IP: e.IP, RequestID: e.RequestID, Detail: d}
}

// auditFilterCharset is what an action or actor filter may contain:
// actions are dotted names, actors ids or e-mail-like names.
const auditFilterCharset validate.Charset = validate.Alphanumeric + "._-@+:"

// listAudit lists the workspace's audit log newest first, filtered by
// action, actor and since/until, in pages by sequence number.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "audit", "")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := audit.ListParams{Limit: page.Limit + 1, Action: q.Get("action"), Actor: q.Get("actor")}
	for name, v := range map[string]string{"action": p.Action, "actor": p.Actor} {
		if v != "" {
			if err := validate.Token(name, v, auditFilterCharset, 1, 128); err != nil {
				return err
			}
		}
	}
	if p.Since, err = timeParam(r, "since"); err != nil {
		return err
	}
	if p.Until, err = timeParam(r, "until"); err != nil {
		return err
	}
	if page.After != nil {
		if page.After.Seq < 1 {
			return errCursor
		}
		p.Before = page.After.Seq
	}
	list, err := a.Audit.List(r.Context(), scope(r), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, storePage(page, list, func(e audit.Record) cursor {
		return cursor{List: "audit", Seq: e.Seq}
	}, toAuditJSON))
}
