package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Options tune a Keyring. The zero value is ready to use.
type Options struct {
	// CacheSize bounds how many unwrapped data keys are held in memory.
	// Default 1024.
	CacheSize int
	// CacheTTL is how long an unwrapped data key, and a workspace's current
	// data key version, are used without asking the store again. It bounds
	// how long another process may keep sealing under a data key version
	// after RotateDataKey, or opening after DestroyWorkspace. Default 1
	// minute.
	CacheTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observe, when set, is told of every Seal (op "seal") and Open (op
	// "open") of a field, with its error (nil on success), for metrics.
	// A burst of failed opens is the sign of tampered or misplaced data.
	Observe func(op string, err error)
}

// Keyring seals and opens fields, and manages the keys behind them. It is
// safe for concurrent use; one per process, shared.
type Keyring struct {
	store KeyStore
	// wrap is the master key's AEAD for KEKs, under a key derived from the
	// master key for this one purpose.
	wrap  cipher.AEAD
	now   func() time.Time
	cache *keyCache
	// observe is Options.Observe, or a no-op.
	observe func(op string, err error)

	mu      sync.Mutex // guards keks and current
	keks    map[uint32]cipher.AEAD
	current uint32
}

// NewKeyring opens the key hierarchy in store with the master key: it
// checks that the master key opens every stored KEK, and creates the first
// KEK when the store has none — but refuses (ErrKEKsMissing) when the store
// has no KEK and yet holds data keys.
func NewKeyring(ctx context.Context, master MasterKey, store KeyStore, opts Options) (*Keyring, error) {
	if master.IsZero() {
		return nil, errors.New("seal: no master key")
	}
	if store == nil {
		return nil, errors.New("seal: no key store")
	}
	wk, err := hkdf.Key(sha256.New, master.key()[:], nil, "palisade seal v1: key-encryption key wrapping", KeySize)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the wrapping key: %w", err)
	}
	wrap, err := newAEAD(wk)
	clear(wk)
	if err != nil {
		return nil, err
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1024
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keyring{
		store: store,
		wrap:  wrap,
		now:   opts.Now,
		cache: newKeyCache(opts.CacheSize, opts.CacheTTL, opts.Now),
		keks:  make(map[uint32]cipher.AEAD),

		observe: opts.Observe,
	}
	if k.observe == nil {
		k.observe = func(string, error) {}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshKEKsLocked(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// newAEAD returns AES-256-GCM that draws a fresh random 96-bit nonce from
// crypto/rand for every Seal and carries it in front of the ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key of %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return a, nil
}

func randomKey() []byte {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// refreshKEKsLocked loads the KEKs from the store, unwraps the ones not yet
// known, and settles which is current, creating KEK v1 in an empty store.
func (k *Keyring) refreshKEKsLocked(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		list, err := k.store.ListKEKs(ctx)
		if err != nil {
			return fmt.Errorf("seal: listing KEKs: %w", err)
		}
		if len(list) == 0 {
			if attempt > 2 {
				return errors.New("seal: KEK v1 was created but is not listed")
			}
			// No KEK is normal only in a new key store. With data keys
			// present, the KEKs were deleted: a fresh KEK v1 would open
			// none of them, and every new data key would then silently
			// live beside a store of dead ones.
			dks, err := k.store.ListDataKeys(ctx)
			if err != nil {
				return fmt.Errorf("seal: listing data keys: %w", err)
			}
			if len(dks) > 0 {
				return fmt.Errorf("%w (%d data keys)", ErrKEKsMissing, len(dks))
			}
			if err := k.insertKEKLocked(ctx, 1); err != nil && !errors.Is(err, ErrKeyExists) {
				return err
			}
			continue // ErrKeyExists: another process made v1 first
		}
		seen := make(map[uint32]bool, len(list))
		var current uint32
		for _, w := range list {
			seen[w.Version] = true
			if w.Current {
				current = w.Version
			}
			if _, ok := k.keks[w.Version]; ok {
				continue
			}
			raw, err := k.wrap.Open(nil, nil, w.Wrapped, kekAAD(w.Version))
			if err != nil {
				return fmt.Errorf("%w (KEK v%d)", ErrWrongMasterKey, w.Version)
			}
			a, err := newAEAD(raw)
			clear(raw)
			if err != nil {
				return err
			}
			k.keks[w.Version] = a
		}
		for v := range k.keks {
			if !seen[v] {
				delete(k.keks, v) // retired elsewhere
			}
		}
		if current == 0 {
			// Start-up or rotation stopped between insert and set-current:
			// the newest KEK is the one meant to be current.
			current = list[len(list)-1].Version
			if err := k.store.SetCurrentKEK(ctx, current); err != nil {
				return fmt.Errorf("seal: making KEK v%d current: %w", current, err)
			}
		}
		k.current = current
		return nil
	}
}

// insertKEKLocked makes a new KEK of the given version and makes it
// current.
func (k *Keyring) insertKEKLocked(ctx context.Context, version uint32) error {
	raw := randomKey()
	defer clear(raw)
	w := WrappedKEK{
		Version:   version,
		Wrapped:   k.wrap.Seal(nil, nil, raw, kekAAD(version)),
		CreatedAt: k.now().UTC(),
	}
	if err := k.store.InsertKEK(ctx, w); err != nil {
		return fmt.Errorf("seal: storing KEK v%d: %w", version, err)
	}
	if err := k.store.SetCurrentKEK(ctx, version); err != nil {
		return fmt.Errorf("seal: making KEK v%d current: %w", version, err)
	}
	a, err := newAEAD(raw)
	if err != nil {
		return err
	}
	k.keks[version] = a
	k.current = version
	return nil
}

// currentKEK returns the current KEK, read fresh from the store: it is
// needed only to wrap a new data key or rewrap old ones, and another
// process may have rotated since.
func (k *Keyring) currentKEK(ctx context.Context) (uint32, cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshKEKsLocked(ctx); err != nil {
		return 0, nil, err
	}
	return k.current, k.keks[k.current], nil
}

// kek returns the KEK of a version, loading KEKs made by other processes.
func (k *Keyring) kek(ctx context.Context, version uint32) (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.keks[version]; ok {
		return a, nil
	}
	if err := k.refreshKEKsLocked(ctx); err != nil {
		return nil, err
	}
	if a, ok := k.keks[version]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("%w: KEK v%d", ErrKeyNotFound, version)
}

// KEKInfo describes one KEK for `palisade keys` to show.
type KEKInfo struct {
	Version   uint32
	Current   bool
	CreatedAt time.Time
	// DataKeys is how many data keys it wraps.
	DataKeys int
}

// KEKs lists the KEKs and how many data keys each wraps.
func (k *Keyring) KEKs(ctx context.Context) ([]KEKInfo, error) {
	list, err := k.store.ListKEKs(ctx)
	if err != nil {
		return nil, fmt.Errorf("seal: listing KEKs: %w", err)
	}
	dks, err := k.store.ListDataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("seal: listing data keys: %w", err)
	}
	count := make(map[uint32]int)
	for _, d := range dks {
		count[d.KEKVersion]++
	}
	out := make([]KEKInfo, len(list))
	for i, w := range list {
		out[i] = KEKInfo{Version: w.Version, Current: w.Current, CreatedAt: w.CreatedAt, DataKeys: count[w.Version]}
	}
	return out, nil
}

// RotateKEK adds a new KEK, makes it current and rewraps every data key
// under it (`palisade keys rotate`). Fields need no resealing: their data
// keys do not change. If rewrapping stops half-way, old data still opens
// and RewrapDataKeys finishes the job.
func (k *Keyring) RotateKEK(ctx context.Context) (uint32, error) {
	k.mu.Lock()
	err := k.refreshKEKsLocked(ctx)
	var next uint32
	if err == nil {
		for v := range k.keks {
			next = max(next, v)
		}
		next++
		err = k.insertKEKLocked(ctx, next)
	}
	k.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if _, err := k.RewrapDataKeys(ctx); err != nil {
		return next, fmt.Errorf("seal: KEK v%d is current, but rewrapping stopped (run it again): %w", next, err)
	}
	return next, nil
}

// RewrapDataKeys rewraps every data key that is not under the current KEK,
// and returns how many it rewrapped. It is idempotent and safe to run while
// the server runs.
func (k *Keyring) RewrapDataKeys(ctx context.Context) (int, error) {
	cur, curKEK, err := k.currentKEK(ctx)
	if err != nil {
		return 0, err
	}
	all, err := k.store.ListDataKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("seal: listing data keys: %w", err)
	}
	n := 0
	for _, d := range all {
		if d.KEKVersion == cur {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		raw, err := k.unwrapRaw(ctx, d)
		if err != nil {
			return n, err
		}
		re := d
		re.KEKVersion = cur
		re.Wrapped = curKEK.Seal(nil, nil, raw, dataKeyAAD(d.Workspace, d.Version, cur))
		clear(raw)
		ok, err := k.store.RewrapDataKey(ctx, re, d.KEKVersion)
		if err != nil {
			return n, fmt.Errorf("seal: rewrapping data key v%d of %s: %w", d.Version, d.Workspace, err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// RetireKEK deletes a KEK that is neither current nor wraps any data key.
func (k *Keyring) RetireKEK(ctx context.Context, version uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refreshKEKsLocked(ctx); err != nil {
		return err
	}
	if _, ok := k.keks[version]; !ok {
		return fmt.Errorf("%w: KEK v%d", ErrKeyNotFound, version)
	}
	if version == k.current {
		return fmt.Errorf("%w: KEK v%d is current; rotate first", ErrKeyInUse, version)
	}
	all, err := k.store.ListDataKeys(ctx)
	if err != nil {
		return fmt.Errorf("seal: listing data keys: %w", err)
	}
	n := 0
	for _, d := range all {
		if d.KEKVersion == version {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%w: KEK v%d still wraps %d data keys; rewrap them first", ErrKeyInUse, version, n)
	}
	if err := k.store.DeleteKEK(ctx, version); err != nil {
		return fmt.Errorf("seal: deleting KEK v%d: %w", version, err)
	}
	delete(k.keks, version)
	return nil
}

// unwrapRaw returns a data key's bytes; the caller clears them.
func (k *Keyring) unwrapRaw(ctx context.Context, d WrappedDataKey) ([]byte, error) {
	kek, err := k.kek(ctx, d.KEKVersion)
	if err != nil {
		return nil, fmt.Errorf("seal: data key v%d of %s: %w", d.Version, d.Workspace, err)
	}
	raw, err := kek.Open(nil, nil, d.Wrapped, dataKeyAAD(d.Workspace, d.Version, d.KEKVersion))
	if err != nil {
		return nil, fmt.Errorf("%w: data key v%d of %s does not unwrap under KEK v%d", ErrOpen, d.Version, d.Workspace, d.KEKVersion)
	}
	return raw, nil
}

func (k *Keyring) unwrap(ctx context.Context, d WrappedDataKey) (cipher.AEAD, error) {
	raw, err := k.unwrapRaw(ctx, d)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return newAEAD(raw)
}

// dataKeys reads a workspace's data keys from the store and refreshes the
// cache's notion of its current version.
func (k *Keyring) dataKeys(ctx context.Context, ws palisade.WorkspaceID) ([]WrappedDataKey, error) {
	list, err := k.store.DataKeys(ctx, ws)
	if errors.Is(err, ErrKeyDestroyed) {
		k.cache.dropWorkspace(ws)
		return nil, ErrKeyDestroyed
	}
	if err != nil {
		return nil, fmt.Errorf("seal: reading data keys of %s: %w", ws, err)
	}
	if len(list) > 0 {
		k.cache.putCurrent(ws, list[len(list)-1].Version)
	}
	return list, nil
}

// dataKey returns one version of a workspace's data key.
func (k *Keyring) dataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) (cipher.AEAD, error) {
	if a, ok := k.cache.get(ws, version); ok {
		return a, nil
	}
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(d WrappedDataKey) bool { return d.Version == version })
	if i < 0 {
		return nil, fmt.Errorf("%w: %w: data key v%d of %s", ErrOpen, ErrKeyNotFound, version, ws)
	}
	a, err := k.unwrap(ctx, list[i])
	if err != nil {
		return nil, err
	}
	k.cache.put(ws, version, a)
	return a, nil
}

// currentDataKey returns the workspace's newest data key, making v1 on the
// workspace's first seal.
func (k *Keyring) currentDataKey(ctx context.Context, ws palisade.WorkspaceID) (uint32, cipher.AEAD, error) {
	if v, ok := k.cache.current(ws); ok {
		if a, ok := k.cache.get(ws, v); ok {
			return v, a, nil
		}
	}
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return 0, nil, err
	}
	if len(list) == 0 {
		return k.newDataKey(ctx, ws, 1)
	}
	d := list[len(list)-1]
	if a, ok := k.cache.get(ws, d.Version); ok {
		return d.Version, a, nil
	}
	a, err := k.unwrap(ctx, d)
	if err != nil {
		return 0, nil, err
	}
	k.cache.put(ws, d.Version, a)
	return d.Version, a, nil
}

// newKeyAttempts bounds how often newDataKey wraps again because a KEK
// rotation made the KEK it used stale in the meantime.
const newKeyAttempts = 3

// newDataKey stores a new data key version wrapped by the current KEK. If
// another process stored that version first, the workspace's newest key is
// used instead. The store accepts the key only under the KEK current in its
// own transaction; when a rotation got in between, the key is wrapped again
// under the new one.
func (k *Keyring) newDataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) (uint32, cipher.AEAD, error) {
	raw := randomKey()
	defer clear(raw)
	var err error
	for range newKeyAttempts {
		var kv uint32
		var kek cipher.AEAD
		if kv, kek, err = k.currentKEK(ctx); err != nil {
			return 0, nil, err
		}
		d := WrappedDataKey{
			Workspace:  ws,
			Version:    version,
			KEKVersion: kv,
			Wrapped:    kek.Seal(nil, nil, raw, dataKeyAAD(ws, version, kv)),
			CreatedAt:  k.now().UTC(),
		}
		if err = k.store.InsertDataKey(ctx, d); !errors.Is(err, ErrKEKNotCurrent) {
			break
		}
	}
	switch {
	case errors.Is(err, ErrKeyExists):
		list, err := k.dataKeys(ctx, ws)
		if err != nil {
			return 0, nil, err
		}
		if len(list) == 0 {
			return 0, nil, fmt.Errorf("seal: data key v%d of %s exists but is not listed", version, ws)
		}
		latest := list[len(list)-1].Version
		a, err := k.dataKey(ctx, ws, latest)
		return latest, a, err
	case errors.Is(err, ErrKeyDestroyed):
		k.cache.dropWorkspace(ws)
		return 0, nil, ErrKeyDestroyed
	case err != nil:
		return 0, nil, fmt.Errorf("seal: storing data key v%d of %s: %w", version, ws, err)
	}
	a, err := newAEAD(raw)
	if err != nil {
		return 0, nil, err
	}
	k.cache.put(ws, version, a)
	k.cache.putCurrent(ws, version)
	return version, a, nil
}

// RotateDataKey makes a new current data key version for the workspace;
// fields sealed from then on use it, older ones keep opening under theirs.
// For `palisade keys reencrypt`: rotate, Reseal every field of the
// workspace, then RetireDataKeys. Other processes may keep sealing under
// the previous version for up to Options.CacheTTL, so start the reseal pass
// that long after rotating (or run a second pass) before retiring.
func (k *Keyring) RotateDataKey(ctx context.Context, ws palisade.WorkspaceID) (uint32, error) {
	if err := checkWorkspace(ws); err != nil {
		return 0, err
	}
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return 0, err
	}
	next := uint32(1)
	if len(list) > 0 {
		next = list[len(list)-1].Version + 1
	}
	v, _, err := k.newDataKey(ctx, ws, next)
	return v, err
}

// DataKeyVersions returns the workspace's data key versions, oldest first;
// the last is current. More than one means a reseal pass is pending: an
// interrupted `keys reencrypt` resumes by resealing without rotating again.
func (k *Keyring) DataKeyVersions(ctx context.Context, ws palisade.WorkspaceID) ([]uint32, error) {
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(list))
	for i, d := range list {
		out[i] = d.Version
	}
	return out, nil
}

// RetireDataKeys deletes every data key version of the workspace but the
// current one, and returns how many it deleted. Call it only after every
// field of the workspace was resealed: anything still sealed under a
// retired version no longer opens.
func (k *Keyring) RetireDataKeys(ctx context.Context, ws palisade.WorkspaceID) (int, error) {
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range list[:max(len(list)-1, 0)] {
		if err := k.store.DeleteDataKey(ctx, ws, d.Version); err != nil && !errors.Is(err, ErrKeyNotFound) {
			return n, fmt.Errorf("seal: deleting data key v%d of %s: %w", d.Version, ws, err)
		}
		k.cache.drop(ws, d.Version)
		n++
	}
	return n, nil
}

// DestroyWorkspace deletes every data key of the workspace
// (crypto-shredding). Everything sealed for it, in the live database and in
// any backup, fails to open from then on with ErrKeyDestroyed, and no new
// key is made for it. Call it before deleting the workspace's rows.
func (k *Keyring) DestroyWorkspace(ctx context.Context, ws palisade.WorkspaceID) error {
	if err := checkWorkspace(ws); err != nil {
		return err
	}
	k.cache.dropWorkspace(ws)
	if err := k.store.DestroyDataKeys(ctx, ws); err != nil {
		return fmt.Errorf("seal: destroying data keys of %s: %w", ws, err)
	}
	// Again: a Seal running concurrently may have cached a key meanwhile.
	k.cache.dropWorkspace(ws)
	return nil
}
