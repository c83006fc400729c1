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
// The store places an entry in its chain (next seq, previous hash, time)
// inside one transaction that holds the chain head, so concurrent appends
// never fork a chain; the hash itself is computed by the caller's seal
// function (package audit owns the encoding and the key), which runs inside
// that transaction.
//
// The time of an entry is the store's, never the caller's: its clock
// (Options.Now) read in the append transaction, and never earlier than the
// previous entry of the chain (one microsecond after it when the clock has
// stepped back), so a chain's times only increase.
type AuditLog interface {
	// AppendAudit appends e to the workspace's chain and returns it as
	// stored (Seq, PrevHash, Hash and CreatedAt filled in; the CreatedAt
	// given is ignored).
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
// its chain (Seq, PrevHash and CreatedAt set, the time at the microsecond
// the database keeps). It must be a pure function of its argument.
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
	// HashVersion says how Hash was computed (package audit's HashLegacy
	// or HashKeyed); the store keeps it as given. Rows written before it
	// existed read as 1.
	HashVersion int
}

// AuditHead is the last entry of a chain: Seq 0 and no Hash for a chain
// with no entry.
type AuditHead struct {
	Seq       int64
	Hash      []byte
	CreatedAt time.Time
}

// DeleteWorkspaceParams say how DeleteWorkspace records the end of the
// workspace's audit chain, which goes with the workspace, in the platform
// chain.
type DeleteWorkspaceParams struct {
	// Record makes the platform entry from the final head of the
	// workspace's chain, read in the deleting transaction. Required.
	Record func(final AuditHead) AuditEntry
	// Seal seals that entry in the platform chain. Required.
	Seal AuditSeal
}

// ListAuditParams pages a newest-first listing.
type ListAuditParams struct {
	// BeforeSeq, when positive, lists only entries with a smaller seq (the
	// next page after an entry already shown).
	BeforeSeq int64
	// Limit caps the page; values outside 1..MaxAuditPage mean
	// MaxAuditPage.
	Limit int
	// Action and Actor, when set, list only entries with exactly that
	// action or actor; Since and Until, when set, only entries at or after
	// Since and before Until. ListPlatformAudit ignores them.
	Action, Actor string
	Since, Until  time.Time
}

// MaxAuditPage is the largest page the audit listings return.
const MaxAuditPage = 500
