package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Chain names one audit chain: a workspace's, or the platform's (empty
// Workspace).
type Chain struct {
	Workspace palisade.WorkspaceID
}

// PlatformChain is the platform chain.
func PlatformChain() Chain { return Chain{} }

// WorkspaceChain is the chain of one workspace.
func WorkspaceChain(ws palisade.WorkspaceID) Chain { return Chain{Workspace: ws} }

// IsPlatform reports whether c is the platform chain.
func (c Chain) IsPlatform() bool { return c.Workspace == "" }

func (c Chain) String() string {
	if c.IsPlatform() {
		return "platform"
	}
	return "workspace " + string(c.Workspace)
}

// Kind classifies a broken chain.
type Kind string

const (
	// KindEdited: the entry's content no longer matches its hash.
	KindEdited Kind = "edited"
	// KindDeleted: an entry is missing (a gap in seq), or the entry's
	// prev_hash is not the hash of the one before it (that one was removed
	// or replaced wholesale, hash recomputed).
	KindDeleted Kind = "deleted"
	// KindReordered: the entry is intact but sits at another seq than the
	// one it was sealed at (entries swapped, or renumbered to hide a gap).
	KindReordered Kind = "reordered"
)

// Problem is the first bad entry of a chain.
type Problem struct {
	Chain Chain
	// Seq is where the chain first goes wrong: the entry found bad, or for
	// a gap the first missing seq.
	Seq int64
	// ID is the entry at Seq; empty when that entry is missing.
	ID     palisade.AuditID
	Kind   Kind
	Reason string
}

func (p *Problem) Error() string {
	id := ""
	if p.ID != "" {
		id = " (" + string(p.ID) + ")"
	}
	return fmt.Sprintf("%s audit chain: entry seq %d%s %s: %s", p.Chain, p.Seq, id, p.Kind, p.Reason)
}

// Result is the outcome of verifying one chain.
type Result struct {
	Chain   Chain
	Entries int64 // entries checked (up to the problem, if any)
	Head    []byte
	Problem *Problem // nil when the chain is intact
}

// OK reports whether the chain verified.
func (r Result) OK() bool { return r.Problem == nil }

// Reader is the part of the store the verifier reads.
type Reader interface {
	ReadAuditChain(ctx context.Context, scope palisade.Scope, afterSeq int64, limit int) ([]store.AuditEntry, error)
	ReadPlatformAuditChain(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error)
}

// pageSize is how many entries one read returns while verifying.
const pageSize = 500

// VerifyChain walks one chain in seq order and reports its first bad entry.
// The error is for a chain that could not be read, which is never reported
// as verified.
func VerifyChain(ctx context.Context, r Reader, c Chain) (Result, error) {
	w := newWalker(c)
	var after int64
	for {
		var page []store.AuditEntry
		var err error
		if c.IsPlatform() {
			page, err = r.ReadPlatformAuditChain(ctx, after, pageSize)
		} else {
			page, err = r.ReadAuditChain(ctx, palisade.ScopeFor(c.Workspace), after, pageSize)
		}
		if err != nil {
			return w.result(), fmt.Errorf("reading the %s audit chain after seq %d: %w", c, after, err)
		}
		for _, e := range page {
			if p := w.check(e); p != nil {
				res := w.result()
				res.Problem = p
				return res, nil
			}
			after = e.Seq
		}
		if len(page) == 0 {
			return w.result(), nil
		}
	}
}

// WalkAll is what VerifyAll needs: the chains and the workspaces.
type WalkAll interface {
	Reader
	ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error)
}

// VerifyAll verifies the platform chain and then every workspace's chain,
// calling progress (when not nil) after each. It goes on past a broken
// chain, so one run names the first bad entry of every chain.
func VerifyAll(ctx context.Context, s WalkAll, progress func(Result)) ([]Result, error) {
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing workspaces to verify: %w", err)
	}
	chains := make([]Chain, 0, 1+len(ids))
	chains = append(chains, PlatformChain())
	for _, id := range ids {
		chains = append(chains, WorkspaceChain(id))
	}
	results := make([]Result, 0, len(chains))
	for _, c := range chains {
		res, err := VerifyChain(ctx, s, c)
		if err != nil {
			return results, err
		}
		results = append(results, res)
		if progress != nil {
			progress(res)
		}
	}
	return results, nil
}

// walker checks a chain one entry at a time, in seq order.
type walker struct {
	chain   Chain
	lastSeq int64
	last    []byte
	n       int64
}

func newWalker(c Chain) *walker { return &walker{chain: c, last: Genesis()} }

func (w *walker) result() Result {
	return Result{Chain: w.chain, Entries: w.n, Head: bytes.Clone(w.last)}
}

// reorderWindow is how far from its position the verifier looks for the seq
// an intact but misplaced entry was sealed at. Beyond it a moved entry is
// still caught, reported as edited.
const reorderWindow = 1024

func (w *walker) check(e store.AuditEntry) *Problem {
	want := w.lastSeq + 1
	bad := func(kind Kind, format string, args ...any) *Problem {
		return &Problem{Chain: w.chain, Seq: e.Seq, ID: e.ID, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if e.Seq != want {
		p := bad(KindDeleted, "missing; the chain resumes at seq %d (%s)", e.Seq, e.ID)
		if e.Seq-want > 1 {
			p.Reason = fmt.Sprintf("missing up to seq %d; the chain resumes at seq %d (%s)", e.Seq-1, e.Seq, e.ID)
		}
		p.Seq, p.ID = want, ""
		return p
	}
	if e.WorkspaceID != w.chain.Workspace {
		// The store read it from this chain; a foreign workspace id means
		// the row was rewritten.
		return bad(KindEdited, "it names workspace %q inside the %s chain", e.WorkspaceID, w.chain)
	}
	if len(e.Hash) != HashLen || len(e.PrevHash) != HashLen || !bytes.Equal(Hash(e), e.Hash) {
		if s := sealedSeq(e); s != 0 {
			return bad(KindReordered, "the entry is intact but was sealed as seq %d: entries were swapped, or renumbered to hide a deletion", s)
		}
		return bad(KindEdited, "its content does not match its hash")
	}
	if !bytes.Equal(e.PrevHash, w.last) {
		if want == 1 {
			return bad(KindDeleted, "the first entry does not start from the genesis hash: earlier entries were removed")
		}
		return bad(KindDeleted, "its prev_hash is not the hash of seq %d: an entry before it was removed, or seq %d was replaced with a recomputed hash", want-1, want-1)
	}
	w.lastSeq, w.last, w.n = e.Seq, e.Hash, w.n+1
	return nil
}

// sealedSeq finds the seq near its position at which e's hash was computed,
// or 0.
func sealedSeq(e store.AuditEntry) int64 {
	if len(e.Hash) != HashLen || len(e.PrevHash) != HashLen {
		return 0
	}
	at := e.Seq
	for d := int64(1); d <= reorderWindow; d++ {
		for _, s := range []int64{at - d, at + d} {
			if s < 1 {
				continue
			}
			e.Seq = s
			if bytes.Equal(Hash(e), e.Hash) {
				return s
			}
		}
	}
	return 0
}
