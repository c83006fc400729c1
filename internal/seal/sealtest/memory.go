// Package sealtest helps test code that uses seal: MemoryKeyStore, an
// in-memory seal.KeyStore, and TestKeyStore, the conformance suite every
// KeyStore implementation (SQLite, PostgreSQL, memory) must pass.
//
// It must never be used outside tests: a key store in memory loses every key,
// and with them every sealed value, when the process ends.
package sealtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
)

// MemoryKeyStore is a seal.KeyStore in memory. It copies every slice in and
// out, as a database would. The zero value is ready to use.
type MemoryKeyStore struct {
	mu        sync.Mutex
	keks      map[uint32]seal.WrappedKEK
	dataKeys  map[palisade.WorkspaceID]map[uint32]seal.WrappedDataKey
	destroyed map[palisade.WorkspaceID]bool
}

var _ seal.KeyStore = (*MemoryKeyStore)(nil)

// NewMemoryKeyStore returns an empty store.
func NewMemoryKeyStore() *MemoryKeyStore { return &MemoryKeyStore{} }

func (m *MemoryKeyStore) init() {
	if m.keks == nil {
		m.keks = make(map[uint32]seal.WrappedKEK)
		m.dataKeys = make(map[palisade.WorkspaceID]map[uint32]seal.WrappedDataKey)
		m.destroyed = make(map[palisade.WorkspaceID]bool)
	}
}

func (m *MemoryKeyStore) ListKEKs(ctx context.Context) ([]seal.WrappedKEK, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	out := make([]seal.WrappedKEK, 0, len(m.keks))
	for _, k := range m.keks {
		k.Wrapped = slices.Clone(k.Wrapped)
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b seal.WrappedKEK) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

func (m *MemoryKeyStore) InsertKEK(ctx context.Context, k seal.WrappedKEK) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.keks[k.Version]; ok {
		return seal.ErrKeyExists
	}
	k.Current = false
	k.Wrapped = slices.Clone(k.Wrapped)
	m.keks[k.Version] = k
	return nil
}

func (m *MemoryKeyStore) SetCurrentKEK(ctx context.Context, version uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.keks[version]; !ok {
		return seal.ErrKeyNotFound
	}
	for v, k := range m.keks {
		k.Current = v == version
		m.keks[v] = k
	}
	return nil
}

func (m *MemoryKeyStore) DeleteKEK(ctx context.Context, version uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	k, ok := m.keks[version]
	if !ok {
		return seal.ErrKeyNotFound
	}
	if k.Current {
		return seal.ErrKeyInUse
	}
	delete(m.keks, version)
	return nil
}

func (m *MemoryKeyStore) DataKeys(ctx context.Context, ws palisade.WorkspaceID) ([]seal.WrappedDataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if m.destroyed[ws] {
		return nil, seal.ErrKeyDestroyed
	}
	return sortedCopies(m.dataKeys[ws]), nil
}

func (m *MemoryKeyStore) InsertDataKey(ctx context.Context, k seal.WrappedDataKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if m.destroyed[k.Workspace] {
		return seal.ErrKeyDestroyed
	}
	if kek, ok := m.keks[k.KEKVersion]; !ok || !kek.Current {
		return seal.ErrKEKNotCurrent
	}
	versions := m.dataKeys[k.Workspace]
	if versions == nil {
		versions = make(map[uint32]seal.WrappedDataKey)
		m.dataKeys[k.Workspace] = versions
	}
	if _, ok := versions[k.Version]; ok {
		return seal.ErrKeyExists
	}
	k.Wrapped = slices.Clone(k.Wrapped)
	versions[k.Version] = k
	return nil
}

func (m *MemoryKeyStore) RewrapDataKey(ctx context.Context, k seal.WrappedDataKey, fromKEK uint32) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	old, ok := m.dataKeys[k.Workspace][k.Version]
	if !ok || old.KEKVersion != fromKEK {
		return false, nil
	}
	old.KEKVersion = k.KEKVersion
	old.Wrapped = slices.Clone(k.Wrapped)
	m.dataKeys[k.Workspace][k.Version] = old
	return true, nil
}

func (m *MemoryKeyStore) DeleteDataKey(ctx context.Context, ws palisade.WorkspaceID, version uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if _, ok := m.dataKeys[ws][version]; !ok {
		return seal.ErrKeyNotFound
	}
	delete(m.dataKeys[ws], version)
	return nil
}

func (m *MemoryKeyStore) DestroyDataKeys(ctx context.Context, ws palisade.WorkspaceID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	delete(m.dataKeys, ws)
	m.destroyed[ws] = true
	return nil
}

func (m *MemoryKeyStore) ListDataKeys(ctx context.Context) ([]seal.WrappedDataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	var out []seal.WrappedDataKey
	for _, versions := range m.dataKeys {
		out = append(out, sortedCopies(versions)...)
	}
	slices.SortFunc(out, func(a, b seal.WrappedDataKey) int {
		return cmp.Or(cmp.Compare(a.Workspace, b.Workspace), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

func sortedCopies(versions map[uint32]seal.WrappedDataKey) []seal.WrappedDataKey {
	out := make([]seal.WrappedDataKey, 0, len(versions))
	for _, k := range versions {
		k.Wrapped = slices.Clone(k.Wrapped)
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b seal.WrappedDataKey) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// NewKeyring returns a keyring with a random master key over a fresh
// in-memory key store, for tests that need sealing to work.
func NewKeyring(tb testing.TB) *seal.Keyring {
	tb.Helper()
	raw := make([]byte, seal.KeySize)
	if _, err := rand.Read(raw); err != nil {
		tb.Fatal(err)
	}
	mk, err := seal.NewMasterKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := seal.NewKeyring(context.Background(), mk, NewMemoryKeyStore(), seal.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
