package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
	// KindEdited: the entry's content no longer matches its hash, which
	// was left as it was (or replaced by one made under another key).
	KindEdited Kind = "edited"
	// KindDeleted: an entry is missing (a gap in seq), or the entry's
	// prev_hash is not the hash of the one before it (that one was removed
	// or replaced wholesale, hash recomputed).
	KindDeleted Kind = "deleted"
	// KindReordered: the entry is intact but sits at another seq than the
	// one it was sealed at (entries swapped, or renumbered to hide a gap).
	KindReordered Kind = "reordered"
	// KindRewritten: the entry was changed and its hash recomputed without
	// the key (plain SHA-256, or relabelled as a legacy entry where the
	// chain is keyed), or a checkpoint names another hash at its seq.
	KindRewritten Kind = "rewritten"
	// KindForged: from this entry on nothing carries the keyed hash, past
	// the last checkpoint: entries appended without the key.
	KindForged Kind = "forged"
	// KindTruncated: the chain ends before the seq a signed checkpoint (or
	// the record of a workspace's deletion) says it reached.
	KindTruncated Kind = "truncated"
	// KindBackdated: the entry's time is not after the one before it,
	// which the store never writes.
	KindBackdated Kind = "backdated"
	// KindVanished: a workspace's chain is gone, with its workspace, and
	// the platform chain holds no record of its deletion.
	KindVanished Kind = "vanished"
	// KindUntrusted: a checkpoint, or the whole checkpoint file, does not
	// verify under this master key: it is reported and not used.
	KindUntrusted Kind = "untrusted"
	// KindUnanchored: there is no checkpoint file although the chain holds
	// keyed entries, so a truncated tail could not be ruled out.
	KindUnanchored Kind = "unanchored"
)

// Problem is the first bad entry of a chain, or what is wrong with its
// checkpoint.
type Problem struct {
	Chain Chain
	// Seq is where the chain first goes wrong: the entry found bad, or for
	// a gap or a truncated tail the first missing seq; for a checkpoint,
	// the seq it claims.
	Seq int64
	// ID is the entry at Seq; empty when that entry is missing.
	ID     palisade.AuditID
	Kind   Kind
	Reason string
	// Expected and Found are what the verifier looked for and what it
	// found, when that is a value it can show. A hash the verifier
	// computes with the chain key is never shown: printed for an edited
	// entry, it would let whoever edited it write in the right one.
	Expected, Found string
}

func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s audit chain: ", p.Chain)
	switch p.Kind {
	case KindUntrusted, KindUnanchored:
		fmt.Fprintf(&b, "checkpoint %s", p.Kind)
		if p.Seq > 0 {
			fmt.Fprintf(&b, " at seq %d", p.Seq)
		}
	default:
		fmt.Fprintf(&b, "entry seq %d", p.Seq)
		if p.ID != "" {
			fmt.Fprintf(&b, " (%s)", p.ID)
		}
		fmt.Fprintf(&b, " %s", p.Kind)
	}
	fmt.Fprintf(&b, ": %s", p.Reason)
	if p.Expected != "" || p.Found != "" {
		fmt.Fprintf(&b, " [expected %s; found %s]", p.Expected, p.Found)
	}
	return b.String()
}

// Deletion is the platform chain's record of a deleted workspace.
type Deletion struct {
	// PlatformSeq is the workspace.deleted entry in the platform chain.
	PlatformSeq int64
	// FinalSeq and FinalHash are where the workspace's chain ended (seq 0
	// and no hash for a chain with no entry).
	FinalSeq  int64
	FinalHash []byte
}

// Result is the outcome of verifying one chain.
type Result struct {
	Chain   Chain
	Entries int64 // entries checked (up to the problem, if any)
	Head    []byte
	// HeadTime is the time of the last entry checked.
	HeadTime time.Time
	// Legacy is how many of the entries checked are of the unkeyed legacy
	// form (HashLegacy): always the first ones, seq 1 to Legacy.
	Legacy int64
	// Checkpoint is the trusted checkpoint the chain was checked against;
	// nil when the file holds none for it.
	Checkpoint *Checkpoint
	// Deleted is set for the chain of a workspace that is gone, with the
	// platform chain's record of its deletion.
	Deleted *Deletion
	// Problem is the first bad entry; nil when the chain is intact.
	Problem *Problem
	// CheckpointProblem is what is wrong with the chain's checkpoint (or
	// the file), reported apart from the chain's own entries.
	CheckpointProblem *Problem
	// Restores are the platform chain's records of restores from a
	// backup, oldest first: each cut every chain back to the backup and
	// started the checkpoints afresh (ResetCheckpoints).
	Restores []Restore
}

// Restore is the platform chain's record of a restore from a backup.
type Restore struct {
	PlatformSeq int64
	At          time.Time
	// BackupTime is when the restored backup was made, as recorded.
	BackupTime string
}

// DetailBackupTime is the detail key of a backup.restored entry naming
// when the backup was made.
const DetailBackupTime = "backup_created_at"

// OK reports whether the chain and its checkpoint verified.
func (r Result) OK() bool { return r.Problem == nil && r.CheckpointProblem == nil }

// Problems are the result's problems, the chain's first.
func (r Result) Problems() []*Problem {
	var out []*Problem
	for _, p := range []*Problem{r.Problem, r.CheckpointProblem} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Reader is the part of the store the verifier reads.
type Reader interface {
	ReadAuditChain(ctx context.Context, scope palisade.Scope, afterSeq int64, limit int) ([]store.AuditEntry, error)
	ReadPlatformAuditChain(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error)
}

// VerifyOptions say what a chain is checked against.
type VerifyOptions struct {
	// Keys are the master key's audit keys (NewKeys). Required: without
	// them no keyed entry verifies.
	Keys *Keys
	// Checkpoints is the checkpoint file as read (ReadCheckpoints); nil
	// checks the chains against their hashes alone.
	Checkpoints *CheckpointSet
}

// pageSize is how many entries one read returns while verifying.
const pageSize = 500

// VerifyChain walks one chain in seq order and reports its first bad entry,
// and a truncated tail against the chain's checkpoint. The error is for a
// chain that could not be read, which is never reported as verified.
func VerifyChain(ctx context.Context, r Reader, c Chain, opts VerifyOptions) (Result, error) {
	return verifyChain(ctx, r, c, opts, nil)
}

func verifyChain(ctx context.Context, r Reader, c Chain, opts VerifyOptions, onVerified func(store.AuditEntry)) (Result, error) {
	if opts.Keys == nil {
		return Result{Chain: c}, errors.New("verifying the audit log needs the master key's audit keys")
	}
	w := &walker{chain: c, keys: opts.Keys, last: Genesis(), onVerified: onVerified}
	var cpProblem *Problem
	if set := opts.Checkpoints; set != nil {
		if cp, ok := set.Trusted[c]; ok {
			w.cp = &cp
		}
		if u, ok := set.Untrusted[c]; ok {
			cpProblem = untrusted(c, u, opts.Keys)
		}
	}
	var after int64
	laterKeyed := false
	done := false
	for !done {
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
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			after = e.Seq
			if w.suspect != nil {
				// Looking past a bad entry only to tell an edit in place
				// (later entries still carry the keyed hash) from a forged
				// tail (none does).
				if e.HashVersion == HashKeyed && w.keys.validKeyed(e) {
					laterKeyed, done = true, true
					break
				}
				continue
			}
			if p := w.check(e); p != nil {
				res := w.result()
				res.Problem, res.CheckpointProblem = p, cpProblem
				return res, nil
			}
		}
	}
	res := w.result()
	res.CheckpointProblem = cpProblem
	if w.suspect != nil {
		res.Problem = w.classify(laterKeyed)
		return res, nil
	}
	if w.cp != nil && w.lastSeq < w.cp.Seq {
		res.Problem = &Problem{Chain: c, Seq: w.lastSeq + 1, Kind: KindTruncated,
			Reason:   fmt.Sprintf("the checkpoint signed %s names seq %d, the database's chain ends at seq %d", stamp(w.cp.SignedAt), w.cp.Seq, w.lastSeq),
			Expected: fmt.Sprintf("seq %d with hash %s", w.cp.Seq, short(w.cp.Hash)),
			Found:    fmt.Sprintf("last seq %d", w.lastSeq)}
	}
	if res.CheckpointProblem == nil && opts.Checkpoints != nil && res.Entries > res.Legacy {
		if set := opts.Checkpoints; set.Missing {
			res.CheckpointProblem = &Problem{Chain: c, Kind: KindUnanchored,
				Reason:   fmt.Sprintf("there is no checkpoint file at %s, so a truncated tail cannot be ruled out (point --audit-checkpoint-file at the file the servers write)", set.Path),
				Expected: "a signed head of this chain", Found: "no file"}
		}
	}
	return res, nil
}

// WalkAll is what VerifyAll needs: the chains and the workspaces.
type WalkAll interface {
	Reader
	ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error)
}

// VerifyAll verifies the platform chain, then every workspace's chain,
// then the chains of workspaces that are gone (named by the checkpoint
// file or by the platform chain), calling progress (when not nil) after
// each. It goes on past a broken chain, so one run names the first bad
// entry of every chain.
func VerifyAll(ctx context.Context, s WalkAll, opts VerifyOptions, progress func(Result)) ([]Result, error) {
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing workspaces to verify: %w", err)
	}
	var results []Result
	emit := func(r Result) {
		results = append(results, r)
		if progress != nil {
			progress(r)
		}
	}
	rec := newPlatformRecords()
	res, err := verifyChain(ctx, s, PlatformChain(), opts, rec.note)
	if err != nil {
		return results, err
	}
	if set := opts.Checkpoints; set != nil && set.Unreadable != "" && res.CheckpointProblem == nil {
		res.CheckpointProblem = &Problem{Chain: PlatformChain(), Kind: KindUntrusted,
			Reason:   fmt.Sprintf("the checkpoint file %s is not trusted and was not used: %s", set.Path, set.Unreadable),
			Expected: "heads signed with checkpoint key " + opts.Keys.KeyID(), Found: "none that can be trusted"}
	}
	res.Restores = rec.restores
	emit(res)
	present := make(map[palisade.WorkspaceID]bool, len(ids))
	for _, id := range ids {
		present[id] = true
		res, err := verifyChain(ctx, s, WorkspaceChain(id), opts, nil)
		if err != nil {
			return results, err
		}
		emit(res)
	}
	for _, id := range goneWorkspaces(present, opts.Checkpoints, rec) {
		emit(verifyGone(id, opts.Checkpoints, rec, opts.Keys))
	}
	return results, nil
}

// platformRecords are the facts about workspaces that verified entries of
// the platform chain hold.
type platformRecords struct {
	deleted  map[palisade.WorkspaceID]Deletion
	created  map[palisade.WorkspaceID]int64
	restores []Restore
}

func newPlatformRecords() *platformRecords {
	return &platformRecords{deleted: map[palisade.WorkspaceID]Deletion{}, created: map[palisade.WorkspaceID]int64{}}
}

// note takes a verified platform entry. Only keyed entries count as
// records of a deletion: nothing wrote one before chains were keyed, and
// an unkeyed one anyone could write.
func (p *platformRecords) note(e store.AuditEntry) {
	if e.Action == string(ActionBackupRestored) && e.Outcome == string(OutcomeSuccess) && e.HashVersion == HashKeyed {
		d, _ := DecodeDetail(e.Detail)
		p.restores = append(p.restores, Restore{PlatformSeq: e.Seq, At: e.CreatedAt, BackupTime: d[DetailBackupTime]})
		return
	}
	if e.Outcome != string(OutcomeSuccess) || !palisade.ValidID(palisade.PrefixWorkspace, e.Target) {
		return
	}
	ws := palisade.WorkspaceID(e.Target)
	switch e.Action {
	case string(ActionWorkspaceCreated):
		p.created[ws] = e.Seq
	case string(ActionWorkspaceDeleted):
		if e.HashVersion != HashKeyed {
			return
		}
		d, err := DecodeDetail(e.Detail)
		if err != nil {
			return
		}
		seq, err := strconv.ParseInt(d[DetailFinalSeq], 10, 64)
		if err != nil || seq < 0 {
			return
		}
		hash, err := hex.DecodeString(d[DetailFinalHash])
		if err != nil || (seq > 0 && len(hash) != HashLen) {
			return
		}
		p.deleted[ws] = Deletion{PlatformSeq: e.Seq, FinalSeq: seq, FinalHash: hash}
	}
}

// goneWorkspaces are the workspaces known to have had a chain (a
// checkpoint, a deletion record or a creation record) that the database no
// longer lists, in id order.
func goneWorkspaces(present map[palisade.WorkspaceID]bool, set *CheckpointSet, rec *platformRecords) []palisade.WorkspaceID {
	seen := map[palisade.WorkspaceID]bool{}
	add := func(ws palisade.WorkspaceID) {
		if ws != "" && !present[ws] {
			seen[ws] = true
		}
	}
	if set != nil {
		for c := range set.Trusted {
			add(c.Workspace)
		}
		for c := range set.Untrusted {
			add(c.Workspace)
		}
	}
	for ws := range rec.deleted {
		add(ws)
	}
	for ws := range rec.created {
		add(ws)
	}
	out := make([]palisade.WorkspaceID, 0, len(seen))
	for ws := range seen {
		out = append(out, ws)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// verifyGone checks the chain of a workspace the database no longer has:
// it must have ended where its deletion record says, at or after its
// checkpoint.
func verifyGone(ws palisade.WorkspaceID, set *CheckpointSet, rec *platformRecords, keys *Keys) Result {
	c := WorkspaceChain(ws)
	res := Result{Chain: c}
	var cp *Checkpoint
	if set != nil {
		if x, ok := set.Trusted[c]; ok {
			cp = &x
			res.Checkpoint = cp
		}
		if u, ok := set.Untrusted[c]; ok {
			res.CheckpointProblem = untrusted(c, u, keys)
		}
	}
	d, deleted := rec.deleted[ws]
	switch {
	case deleted:
		res.Deleted = &d
		if cp == nil {
			break
		}
		if cp.Seq > d.FinalSeq {
			res.Problem = &Problem{Chain: c, Seq: d.FinalSeq + 1, Kind: KindTruncated,
				Reason: fmt.Sprintf("the workspace was deleted (platform seq %d) with its chain ending at seq %d, but the checkpoint signed %s names seq %d: entries were removed before the deletion",
					d.PlatformSeq, d.FinalSeq, stamp(cp.SignedAt), cp.Seq),
				Expected: fmt.Sprintf("seq %d with hash %s", cp.Seq, short(cp.Hash)), Found: fmt.Sprintf("final seq %d", d.FinalSeq)}
		} else if cp.Seq == d.FinalSeq && !bytes.Equal(cp.Hash, d.FinalHash) {
			res.Problem = &Problem{Chain: c, Seq: cp.Seq, Kind: KindRewritten,
				Reason:   fmt.Sprintf("the workspace was deleted (platform seq %d), but its final entry is not the one checkpointed", d.PlatformSeq),
				Expected: "hash " + short(cp.Hash), Found: "hash " + short(d.FinalHash)}
		}
	case cp != nil:
		res.Problem = &Problem{Chain: c, Seq: cp.Seq, Kind: KindVanished,
			Reason: fmt.Sprintf("the checkpoint signed %s names seq %d, but the workspace and its chain are gone and the platform chain holds no %s record of them",
				stamp(cp.SignedAt), cp.Seq, ActionWorkspaceDeleted),
			Expected: fmt.Sprintf("a %s record, or the chain up to seq %d", ActionWorkspaceDeleted, cp.Seq), Found: "neither"}
	case rec.created[ws] > 0:
		res.Problem = &Problem{Chain: c, Seq: 1, Kind: KindVanished,
			Reason: fmt.Sprintf("the platform chain records the workspace's creation at seq %d, but the workspace and its chain are gone and the platform chain holds no %s record of them",
				rec.created[ws], ActionWorkspaceDeleted),
			Expected: "a " + string(ActionWorkspaceDeleted) + " record, or the workspace", Found: "neither"}
	}
	return res
}

// untrusted reports a head of the checkpoint file that is not trusted.
func untrusted(c Chain, u UntrustedCheckpoint, keys *Keys) *Problem {
	return &Problem{Chain: c, Seq: u.Seq, Kind: KindUntrusted,
		Reason:   "the checkpoint file's head for this chain is not trusted and was not used: " + u.Reason,
		Expected: "a head signed with checkpoint key " + keys.KeyID(), Found: fmt.Sprintf("a head claiming seq %d", u.Seq)}
}

// walker checks a chain one entry at a time, in seq order.
type walker struct {
	chain      Chain
	keys       *Keys
	cp         *Checkpoint
	onVerified func(store.AuditEntry)

	lastSeq  int64
	last     []byte
	lastTime time.Time
	n        int64
	legacy   int64
	keyed    bool // a keyed entry has been verified: no legacy one may follow

	// suspect is the first entry whose hash is not what the chain
	// requires; the entries after it decide how it is reported.
	suspect   *store.AuditEntry
	downgrade string
}

func (w *walker) result() Result {
	return Result{Chain: w.chain, Entries: w.n, Head: bytes.Clone(w.last), HeadTime: w.lastTime, Legacy: w.legacy, Checkpoint: w.cp}
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
		p.Expected, p.Found = fmt.Sprintf("seq %d", want), fmt.Sprintf("seq %d", e.Seq)
		return p
	}
	if e.WorkspaceID != w.chain.Workspace {
		// The store read it from this chain; a foreign workspace id means
		// the row was rewritten.
		return bad(KindEdited, "it names workspace %q inside the %s chain", e.WorkspaceID, w.chain)
	}
	var ok bool
	switch e.HashVersion {
	case HashKeyed:
		ok = w.keys.validKeyed(e)
	case HashLegacy:
		switch {
		case w.keyed:
			w.downgrade = "it is of the unkeyed legacy form, after keyed entries"
		case w.cp != nil && e.Seq > w.cp.Seq:
			w.downgrade = fmt.Sprintf("it is of the unkeyed legacy form, after the checkpoint at seq %d, which only keyed entries follow", w.cp.Seq)
		default:
			ok = len(e.Hash) == HashLen && len(e.PrevHash) == HashLen && bytes.Equal(LegacyHash(e), e.Hash)
		}
	default:
		return bad(KindEdited, "its hash version %d is none this verifier knows", e.HashVersion)
	}
	if !ok {
		if w.downgrade == "" {
			if s := w.sealedSeq(e); s != 0 {
				return bad(KindReordered, "the entry is intact but was sealed as seq %d: entries were swapped, or renumbered to hide a deletion", s)
			}
		}
		w.suspect = &e
		return nil
	}
	if !bytes.Equal(e.PrevHash, w.last) {
		var p *Problem
		if want == 1 {
			p = bad(KindDeleted, "the first entry does not start from the genesis hash: earlier entries were removed")
		} else {
			p = bad(KindDeleted, "its prev_hash is not the hash of seq %d: an entry before it was removed, or seq %d was replaced with a recomputed hash", want-1, want-1)
		}
		p.Expected, p.Found = "prev_hash "+short(w.last), "prev_hash "+short(e.PrevHash)
		return p
	}
	if e.HashVersion == HashKeyed && w.n > 0 && !e.CreatedAt.After(w.lastTime) {
		p := bad(KindBackdated, "its time is not after seq %d's, which the store never writes", w.lastSeq)
		p.Expected, p.Found = "after "+stamp(w.lastTime), stamp(e.CreatedAt)
		return p
	}
	if w.cp != nil && e.Seq == w.cp.Seq && !bytes.Equal(e.Hash, w.cp.Hash) {
		p := bad(KindRewritten, "the checkpoint signed %s names another hash at this seq: the chain was rewritten up to here", stamp(w.cp.SignedAt))
		p.Expected, p.Found = "hash "+short(w.cp.Hash), "hash "+short(e.Hash)
		return p
	}
	w.lastSeq, w.last, w.lastTime, w.n = e.Seq, e.Hash, e.CreatedAt, w.n+1
	if e.HashVersion == HashKeyed {
		w.keyed = true
	} else {
		w.legacy++
	}
	if w.onVerified != nil {
		w.onVerified(e)
	}
	return nil
}

// classify reports the suspect entry, knowing whether any entry after it
// carries the keyed hash.
func (w *walker) classify(laterKeyed bool) *Problem {
	e := *w.suspect
	p := &Problem{Chain: w.chain, Seq: e.Seq, ID: e.ID, Found: fmt.Sprintf("version %d hash %s", e.HashVersion, short(e.Hash))}
	pastCheckpoint := w.cp == nil || e.Seq > w.cp.Seq
	plain := len(e.Hash) == HashLen && len(e.PrevHash) == HashLen && (bytes.Equal(e.Hash, LegacyHash(e)) || bytes.Equal(e.Hash, otherVersionHash(e)))
	switch {
	case !laterKeyed && pastCheckpoint:
		p.Kind = KindForged
		p.Reason = "neither it nor any entry after it carries the keyed hash: entries appended without the key"
		if w.cp != nil {
			p.Reason += fmt.Sprintf(" after the checkpoint at seq %d", w.cp.Seq)
		}
		p.Expected = "HMAC-SHA256 under the chain key (not shown)"
	case plain:
		p.Kind = KindRewritten
		p.Reason = "its hash is a plain SHA-256 of its content: it was changed and rehashed without the key"
		if w.downgrade != "" {
			p.Reason = w.downgrade + "; " + p.Reason
		}
		p.Expected = "HMAC-SHA256 under the chain key (not shown)"
	case w.downgrade != "":
		p.Kind = KindRewritten
		p.Reason = w.downgrade + ", and its hash does not match its content either"
		p.Expected = "HMAC-SHA256 under the chain key (not shown)"
	default:
		p.Kind = KindEdited
		p.Reason = "its content does not match its hash (edited, or rehashed under another key)"
		p.Expected = "the hash of its content (not shown)"
	}
	return p
}

// otherVersionHash is the plain SHA-256 an entry would have under the
// canonical encoding of the other version: someone relabelling or
// rehashing without the key may use either.
func otherVersionHash(e store.AuditEntry) []byte {
	if e.HashVersion == HashKeyed {
		e.HashVersion = HashLegacy
	} else {
		e.HashVersion = HashKeyed
	}
	return LegacyHash(e)
}

// sealedSeq finds the seq near its position at which e's hash was computed,
// or 0.
func (w *walker) sealedSeq(e store.AuditEntry) int64 {
	if len(e.Hash) != HashLen || len(e.PrevHash) != HashLen {
		return 0
	}
	hash := LegacyHash
	if e.HashVersion == HashKeyed {
		hash = w.keys.Hash
	}
	at := e.Seq
	for d := int64(1); d <= reorderWindow; d++ {
		for _, s := range []int64{at - d, at + d} {
			if s < 1 {
				continue
			}
			e.Seq = s
			if bytes.Equal(hash(e), e.Hash) {
				return s
			}
		}
	}
	return 0
}

// short shows the start of a hash, enough to tell two apart.
func short(h []byte) string {
	if len(h) == 0 {
		return "(none)"
	}
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
