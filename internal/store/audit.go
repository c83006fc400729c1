package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// AuditLog stores the hash-chained audit logs: one chain per workspace
// (audit_log) and one for the platform (platform_audit_log). Both are
// append-only: there is no method that updates or deletes an entry, and on
// PostgreSQL the runtime role holds only SELECT and INSERT on them.
//
// The store places an entry in its chain (next seq, previous hash) inside
// one transaction that holds the chain head, so concurrent appends never
// fork a chain; the hash itself is computed by the caller's seal function
// (package audit owns the encoding), which runs inside that transaction.
type AuditLog interface {
	// AppendAudit appends e to the workspace's chain and returns it as
	// stored (Seq, PrevHash, Hash and CreatedAt filled in).
	AppendAudit(ctx context.Context, scope palisade.Scope, e AuditEntry, seal AuditSeal) (AuditEntry, error)
	// AppendPlatformAudit appends e to the platform chain.
	AppendPlatformAudit(ctx context.Context, e AuditEntry, seal AuditSeal) (AuditEntry, error)
	// ListAudit lists a workspace's entries newest first, for the UI.
	ListAudit(ctx context.Context, scope palisade.Scope, p ListAuditParams) ([]AuditEntry, error)
	// ListPlatformAudit lists the platform chain newest first.
	ListPlatformAudit(ctx context.Context, p ListAuditParams) ([]AuditEntry, error)
	// ReadAuditChain returns up to limit entries of the workspace's chain
	// with seq > afterSeq, in seq order, for verification page by page.
	ReadAuditChain(ctx context.Context, scope palisade.Scope, afterSeq int64, limit int) ([]AuditEntry, error)
	// ReadPlatformAuditChain is ReadAuditChain for the platform chain.
	ReadPlatformAuditChain(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error)
}

// AuditSeal computes the hash of an entry once the store has placed it in
// its chain (Seq and PrevHash set, CreatedAt normalised to what the database
// keeps). It must be a pure function of its argument.
type AuditSeal func(e AuditEntry) []byte

// AuditEntry is one stored audit entry. Detail is the already-encoded
// detail (package audit's canonical JSON of a string map), stored and
// hashed byte for byte as given.
type AuditEntry struct {
	WorkspaceID palisade.WorkspaceID // empty on the platform chain
	Seq         int64                // 1, 2, 3... within the chain
	ID          palisade.AuditID
	Actor       string
	Action      string
	Target      string
	Outcome     string
	IP          string
	RequestID   string
	Detail      string
	CreatedAt   time.Time
	PrevHash    []byte
	Hash        []byte
}

// ListAuditParams pages a newest-first listing.
type ListAuditParams struct {
	// BeforeSeq, when positive, lists only entries with a smaller seq (the
	// next page after an entry already shown).
	BeforeSeq int64
	// Limit caps the page; values outside 1..MaxAuditPage mean
	// MaxAuditPage.
	Limit int
}

// MaxAuditPage is the largest page the audit listings return.
const MaxAuditPage = 500
