package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Checkpoints anchor each chain's head outside the database: a file of
// signed heads (chain, seq, hash, time), each signed with the
// master-derived Ed25519 checkpoint key. Database write access alone can
// neither change the file nor sign a head, so a chain cut back below its
// checkpoint (a truncated tail), or rewritten up to it, is found by
// `palisade audit verify` even when what is left is a valid chain.
//
// The file is JSON, mode 0600, replaced whole (a temporary file in the
// same directory, synced, then renamed over it), so a reader sees the old
// file or the new one, never a mix. Writers hold an advisory lock on
// "<file>.lock" while they read, merge and replace it, so that processes
// sharing one file (PostgreSQL, several processes on one host) merge their
// heads; and a head only ever moves forward: a writer never replaces a
// chain's head with one of a lower seq, nor an entry it cannot verify.

// CheckpointFileName is the checkpoint file's name in the data directory,
// its default place.
const CheckpointFileName = "audit-checkpoints.json"

// DefaultCheckpointInterval is how long a new head may wait before it is
// written: appends are batched, not written one by one.
const DefaultCheckpointInterval = 5 * time.Second

// checkpointFormat names the file format; checkpointSigTag starts every
// signed message, so a signature over anything else never verifies here.
const (
	checkpointFormat = "palisade.audit.checkpoints.v1"
	checkpointSigTag = "palisade.audit.checkpoint.v1"
)

// Head is the head of one chain: its last entry's seq, hash and time.
type Head struct {
	Chain Chain
	Seq   int64
	Hash  []byte
	Time  time.Time
}

// Checkpoint is a head as signed in the checkpoint file.
type Checkpoint struct {
	Head
	SignedAt time.Time
}

// chainKey names a chain in the file: "platform" or the workspace id
// (which always starts "ws_", so the two cannot collide).
func chainKey(c Chain) string {
	if c.IsPlatform() {
		return "platform"
	}
	return string(c.Workspace)
}

func chainFromKey(k string) (Chain, bool) {
	if k == "platform" {
		return PlatformChain(), true
	}
	if !palisade.ValidID(palisade.PrefixWorkspace, k) {
		return Chain{}, false
	}
	return WorkspaceChain(palisade.WorkspaceID(k)), true
}

// checkpointMessage is what a checkpoint's signature covers: every field,
// length-prefixed like the chain's canonical encoding, times in Unix
// microseconds.
func checkpointMessage(c Checkpoint) []byte {
	var b []byte
	str := func(s []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str([]byte(checkpointSigTag))
	str([]byte(c.Chain.Workspace))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	str(c.Hash)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UTC().UnixMicro()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.SignedAt.UTC().UnixMicro()))
	return b
}

// The file as stored.
type checkpointFile struct {
	Format string `json:"format"`
	// PublicKey is the Ed25519 key the heads are signed with (base64), so
	// that the file can be checked without the master key; the verifier
	// trusts its own derived key, never this field.
	PublicKey string                      `json:"public_key"`
	Chains    map[string]checkpointRecord `json:"chains"`
}

type checkpointRecord struct {
	Seq      int64  `json:"seq"`
	Hash     string `json:"hash"`      // hex
	Time     string `json:"time"`      // RFC 3339, UTC, microseconds
	SignedAt string `json:"signed_at"` // RFC 3339, UTC, microseconds
	Sig      string `json:"sig"`       // base64 Ed25519
}

const checkpointTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

func (k *Keys) signCheckpoint(c Checkpoint) checkpointRecord {
	return checkpointRecord{
		Seq:      c.Seq,
		Hash:     hex.EncodeToString(c.Hash),
		Time:     c.Time.UTC().Format(checkpointTimeLayout),
		SignedAt: c.SignedAt.UTC().Format(checkpointTimeLayout),
		Sig:      base64.StdEncoding.EncodeToString(k.sign(checkpointMessage(c))),
	}
}

// openRecord checks a record's signature and returns the checkpoint, or
// why it is not to be trusted.
func (k *Keys) openRecord(c Chain, r checkpointRecord) (Checkpoint, error) {
	cp := Checkpoint{Head: Head{Chain: c, Seq: r.Seq}}
	var err error
	if cp.Hash, err = hex.DecodeString(r.Hash); err != nil || len(cp.Hash) != HashLen {
		return cp, errors.New("its hash is not 32 bytes of hex")
	}
	if cp.Time, err = time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return cp, errors.New("its time does not parse")
	}
	if cp.SignedAt, err = time.Parse(time.RFC3339Nano, r.SignedAt); err != nil {
		return cp, errors.New("its signing time does not parse")
	}
	sig, err := base64.StdEncoding.DecodeString(r.Sig)
	if err != nil || !k.verify(checkpointMessage(cp), sig) {
		return cp, errors.New("its signature does not verify under this master key's checkpoint key")
	}
	if cp.Seq < 1 {
		return cp, errors.New("its seq is not positive")
	}
	return cp, nil
}

// CheckpointSet is a checkpoint file as read and checked.
type CheckpointSet struct {
	Path string
	// Missing: there is no file at Path.
	Missing bool
	// Unreadable says why the whole file is not trusted (not JSON, another
	// format, signed by another key); empty when it is.
	Unreadable string
	// Trusted are the heads whose signatures verify.
	Trusted map[Chain]Checkpoint
	// Untrusted says, per chain, why its head is not trusted.
	Untrusted map[Chain]UntrustedCheckpoint
}

// UntrustedCheckpoint is a head in the file that is not trusted: a bad
// signature, or a field that does not parse.
type UntrustedCheckpoint struct {
	Seq    int64 // what it claims
	Reason string
}

// ReadCheckpoints reads and checks the checkpoint file at path. A missing
// or damaged file is described in the set, not returned as an error: the
// verifier reports it and goes on. The error is for a file that exists
// but cannot be read at all.
func ReadCheckpoints(path string, keys *Keys) (*CheckpointSet, error) {
	set, _, err := readCheckpointFile(path, keys)
	return set, err
}

func readCheckpointFile(path string, keys *Keys) (*CheckpointSet, *checkpointFile, error) {
	set := &CheckpointSet{Path: path, Trusted: map[Chain]Checkpoint{}, Untrusted: map[Chain]UntrustedCheckpoint{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		set.Missing = true
		return set, nil, nil
	}
	if err != nil {
		return set, nil, fmt.Errorf("reading the audit checkpoint file: %w", err)
	}
	var f checkpointFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		set.Unreadable = "it is not a checkpoint file (" + err.Error() + ")"
		return set, nil, nil
	}
	if f.Format != checkpointFormat {
		set.Unreadable = fmt.Sprintf("its format is %q, not %q", f.Format, checkpointFormat)
		return set, nil, nil
	}
	if want := base64.StdEncoding.EncodeToString(keys.PublicKey()); f.PublicKey != want {
		set.Unreadable = fmt.Sprintf("it names checkpoint key %q, not this master key's %q (written under another master key, or forged)", f.PublicKey, want)
		return set, nil, nil
	}
	for k, r := range f.Chains {
		c, ok := chainFromKey(k)
		if !ok {
			set.Unreadable = fmt.Sprintf("it names a chain %q that is neither the platform nor a workspace", k)
			return set, nil, nil
		}
		cp, err := keys.openRecord(c, r)
		if err != nil {
			set.Untrusted[c] = UntrustedCheckpoint{Seq: r.Seq, Reason: err.Error()}
			continue
		}
		set.Trusted[c] = cp
	}
	return set, &f, nil
}

// CheckpointerOptions configure a Checkpointer.
type CheckpointerOptions struct {
	// Interval is the longest a new head waits before it is written, once
	// the Checkpointer is started; zero means DefaultCheckpointInterval.
	Interval time.Duration
	// Now is the clock of the signing times; nil means time.Now.
	Now func() time.Time
	// Logger receives failures of background writes; nil discards them.
	Logger *slog.Logger
	// OnFlush, when set, is told the outcome of every write of the file
	// that had heads to write: FlushOK, FlushRefused (a chain whose
	// checkpoint is not trusted, or a head that contradicts the file: a
	// tamper signal that metrics and alerts watch) or FlushFailed (the
	// file could not be read or written).
	OnFlush func(outcome string)
}

// Outcomes of a checkpoint write, as CheckpointerOptions.OnFlush names
// them.
const (
	FlushOK      = "ok"
	FlushRefused = "refused"
	FlushFailed  = "failed"
)

// Checkpointer keeps the newest head of every chain this process has seen
// and writes them, signed, to the checkpoint file: every Interval while
// started, when Flush is called, and on Stop. It is safe for concurrent
// use.
type Checkpointer struct {
	path     string
	keys     *Keys
	now      func() time.Time
	interval time.Duration
	logger   *slog.Logger
	onFlush  func(outcome string)

	mu      sync.Mutex
	pending map[Chain]Head
	timer   *time.Timer
	started bool
	stopped bool

	// writing lets one flush of this process at a time read, merge and
	// replace the file; the file lock does the same across processes.
	writing sync.Mutex
}

// NewCheckpointer returns a Checkpointer writing to path with keys.
func NewCheckpointer(path string, keys *Keys, opts CheckpointerOptions) *Checkpointer {
	c := &Checkpointer{path: path, keys: keys, now: opts.Now, interval: opts.Interval, logger: opts.Logger, onFlush: opts.OnFlush, pending: map[Chain]Head{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.interval <= 0 {
		c.interval = DefaultCheckpointInterval
	}
	return c
}

// Path is the checkpoint file.
func (c *Checkpointer) Path() string { return c.path }

// Note takes a chain's head to be written; one of a lower seq than a head
// already noted for the chain changes nothing.
func (c *Checkpointer) Note(h Head) {
	if h.Seq < 1 || len(h.Hash) != HashLen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[h.Chain]; ok && p.Seq >= h.Seq {
		return
	}
	h.Hash = bytes.Clone(h.Hash)
	c.pending[h.Chain] = h
	c.arm()
}

// arm schedules a background flush, once started; c.mu is held.
func (c *Checkpointer) arm() {
	if c.started && !c.stopped && c.timer == nil && len(c.pending) > 0 {
		c.timer = time.AfterFunc(c.interval, c.flushLater)
	}
}

func (c *Checkpointer) flushLater() {
	err := c.Flush()
	c.mu.Lock()
	c.timer = nil
	// Heads noted during the write, and heads that could not be written,
	// go out after another interval.
	c.arm()
	c.mu.Unlock()
	if err != nil && c.logger != nil {
		c.logger.Error("could not write audit checkpoints", "path", c.path, "err", err)
	}
}

// Start makes noted heads be written within Interval. It returns at once.
func (c *Checkpointer) Start(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	c.arm()
	return nil
}

// Stop cancels the pending background write and writes what is noted, so
// that a process shutting down leaves its last heads behind. It may be
// called more than once.
func (c *Checkpointer) Stop() {
	c.mu.Lock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	if err := c.Flush(); err != nil && c.logger != nil {
		c.logger.Error("could not write audit checkpoints on shutdown", "path", c.path, "err", err)
	}
}

// Flush writes the noted heads now. Heads are merged into the file: one
// is written only where it moves its chain forward. A chain whose head in
// the file is not trusted (bad signature) is left as it is, for the
// verifier to report, and named in the error; so is a head that differs
// from the file's at the same seq.
func (c *Checkpointer) Flush() error {
	c.writing.Lock()
	defer c.writing.Unlock()
	c.mu.Lock()
	heads := make([]Head, 0, len(c.pending))
	for _, h := range c.pending {
		heads = append(heads, h)
	}
	c.mu.Unlock()
	if len(heads) == 0 {
		return nil
	}
	refused, err := c.merge(heads)
	if c.onFlush != nil {
		switch {
		case err != nil:
			c.onFlush(FlushFailed)
		case len(refused) > 0:
			c.onFlush(FlushRefused)
		default:
			c.onFlush(FlushOK)
		}
	}
	if err != nil {
		return err
	}
	// Written, or refused for good: either way no longer pending, unless
	// a newer head was noted meanwhile.
	c.mu.Lock()
	for _, h := range heads {
		if p, ok := c.pending[h.Chain]; ok && p.Seq == h.Seq {
			delete(c.pending, h.Chain)
		}
	}
	c.mu.Unlock()
	return errors.Join(refused...)
}

// merge reads the file under its lock, applies heads that move a chain
// forward, and replaces the file when anything changed.
func (c *Checkpointer) merge(heads []Head) (refused []error, err error) {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the audit checkpoint directory: %w", err)
	}
	unlock, err := lockFile(c.path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("locking the audit checkpoint file: %w", err)
	}
	defer unlock()
	set, f, err := readCheckpointFile(c.path, c.keys)
	if err != nil {
		return nil, err
	}
	if set.Unreadable != "" {
		// Never overwrite what the verifier must see; the operator moves
		// the file aside once it is understood.
		return nil, fmt.Errorf("the audit checkpoint file %s is not trusted, and is left for `palisade audit verify` to report: %s", c.path, set.Unreadable)
	}
	if f == nil {
		f = &checkpointFile{}
	}
	f.Format = checkpointFormat
	f.PublicKey = base64.StdEncoding.EncodeToString(c.keys.PublicKey())
	if f.Chains == nil {
		f.Chains = map[string]checkpointRecord{}
	}
	sort.Slice(heads, func(i, j int) bool { return chainKey(heads[i].Chain) < chainKey(heads[j].Chain) })
	changed := false
	signedAt := c.now()
	for _, h := range heads {
		if u, ok := set.Untrusted[h.Chain]; ok {
			refused = append(refused, fmt.Errorf("%s: the checkpoint in the file (seq %d) is not trusted (%s): left in place", h.Chain, u.Seq, u.Reason))
			continue
		}
		if old, ok := set.Trusted[h.Chain]; ok {
			if old.Seq > h.Seq {
				continue // a checkpoint never moves back
			}
			if old.Seq == h.Seq {
				if !bytes.Equal(old.Hash, h.Hash) {
					refused = append(refused, fmt.Errorf("%s: seq %d has hash %x in the checkpoint file and %x now: left in place", h.Chain, h.Seq, old.Hash, h.Hash))
				}
				continue
			}
		}
		f.Chains[chainKey(h.Chain)] = c.keys.signCheckpoint(Checkpoint{Head: h, SignedAt: signedAt})
		changed = true
	}
	if !changed {
		return refused, nil
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(c.path, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("writing the audit checkpoint file: %w", err)
	}
	return refused, nil
}

// ResetCheckpoints replaces the checkpoint file with the given heads
// alone, signed at now. It is for a restore from a backup, and only that:
// the restored chains end below the heads the file held, which is exactly
// what a checkpoint exists to catch, so the restore (which records itself
// in the platform chain first, ActionBackupRestored) starts the file
// afresh from the chains as restored. Heads of chains not given are
// dropped.
func ResetCheckpoints(path string, keys *Keys, heads []Head, now time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the audit checkpoint directory: %w", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("locking the audit checkpoint file: %w", err)
	}
	defer unlock()
	f := checkpointFile{Format: checkpointFormat, PublicKey: base64.StdEncoding.EncodeToString(keys.PublicKey()), Chains: map[string]checkpointRecord{}}
	for _, h := range heads {
		if h.Seq < 1 {
			continue
		}
		f.Chains[chainKey(h.Chain)] = keys.signCheckpoint(Checkpoint{Head: h, SignedAt: now})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing the audit checkpoint file: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, mode 0600, synced and renamed over path, then the directory
// synced, so that a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
