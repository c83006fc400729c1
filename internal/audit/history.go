package audit

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Lister is the part of the store a History reads through.
type Lister interface {
	ListAudit(ctx context.Context, scope palisade.Scope, p store.ListAuditParams) ([]store.AuditEntry, error)
}

// Record is one entry of a workspace's chain as History lists it: what
// happened, without the chain's hashes. Every field is text as stored,
// which an outsider may have chosen (a target, a detail value): display
// it escaped.
type Record struct {
	Seq       int64 // 1, 2, 3... within the chain; pages continue before it
	ID        palisade.AuditID
	Time      time.Time
	Actor     string
	Action    string
	Target    string
	Outcome   string
	IP        string
	RequestID string
	// Detail is the entry's detail decoded; nil when it has none or the
	// stored text does not decode.
	Detail map[string]string
}

// ListParams pages a newest-first listing.
type ListParams struct {
	// Before, when positive, lists only entries with a smaller Seq: the
	// page after an entry already shown.
	Before int64
	// Limit caps the page; values outside 1..store.MaxAuditPage mean
	// store.MaxAuditPage.
	Limit int
	// Action, Actor, Since and Until filter the entries (see
	// store.ListAuditParams); zero values filter nothing.
	Action, Actor string
	Since, Until  time.Time
}

// History is the read side of the audit log: it lists a workspace's
// entries for display, newest first. It checks nothing about the chain;
// VerifyChain does that.
type History struct {
	s Lister
}

// NewHistory returns a History over s.
func NewHistory(s Lister) *History { return &History{s: s} }

// List returns a page of the scope's workspace chain, newest first.
func (h *History) List(ctx context.Context, scope palisade.Scope, p ListParams) ([]Record, error) {
	entries, err := h.s.ListAudit(ctx, scope, store.ListAuditParams{BeforeSeq: p.Before, Limit: p.Limit,
		Action: p.Action, Actor: p.Actor, Since: p.Since, Until: p.Until})
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(entries))
	for i, e := range entries {
		out[i] = Record{Seq: e.Seq, ID: e.ID, Time: e.CreatedAt, Actor: e.Actor, Action: e.Action, Target: e.Target,
			Outcome: e.Outcome, IP: e.IP, RequestID: e.RequestID}
		if d, err := DecodeDetail(e.Detail); err == nil {
			out[i].Detail = d
		}
	}
	return out, nil
}
