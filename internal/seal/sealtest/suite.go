package sealtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
)

// TestKeyStore is the conformance suite of seal.KeyStore. An implementation's
// test calls it with a constructor that returns a new, empty store for each
// subtest:
//
//	func TestKeyStore(t *testing.T) {
//		sealtest.TestKeyStore(t, func(t *testing.T) seal.KeyStore { return newStore(t) })
//	}
func TestKeyStore(t *testing.T, newStore func(t *testing.T) seal.KeyStore) {
	t.Helper()
	// Whole seconds, so that every database's time precision keeps them.
	created := time.Unix(1_700_000_000, 0).UTC()
	ctx := context.Background()

	t.Run("KEKs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if list, err := s.ListKEKs(ctx); err != nil || len(list) != 0 {
			t.Fatalf("empty store: ListKEKs = %v, %v", list, err)
		}
		k1 := seal.WrappedKEK{Version: 1, Wrapped: []byte("wrapped-1"), Current: true, CreatedAt: created}
		k2 := seal.WrappedKEK{Version: 2, Wrapped: []byte("wrapped-2"), CreatedAt: created.Add(time.Hour)}
		for _, k := range []seal.WrappedKEK{k2, k1} {
			if err := s.InsertKEK(ctx, k); err != nil {
				t.Fatalf("InsertKEK(v%d): %v", k.Version, err)
			}
		}
		if err := s.InsertKEK(ctx, k1); !errors.Is(err, seal.ErrKeyExists) {
			t.Errorf("duplicate InsertKEK: %v, want ErrKeyExists", err)
		}
		list := mustKEKs(t, s)
		if len(list) != 2 || list[0].Version != 1 || list[1].Version != 2 {
			t.Fatalf("ListKEKs not in version order: %+v", list)
		}
		if list[0].Current || list[1].Current {
			t.Errorf("InsertKEK must not make a KEK current: %+v", list)
		}
		if !bytes.Equal(list[1].Wrapped, k2.Wrapped) || !list[1].CreatedAt.Equal(k2.CreatedAt) {
			t.Errorf("KEK v2 did not round-trip: %+v", list[1])
		}
		for _, v := range []uint32{2, 1} {
			if err := s.SetCurrentKEK(ctx, v); err != nil {
				t.Fatalf("SetCurrentKEK(%d): %v", v, err)
			}
			for _, k := range mustKEKs(t, s) {
				if k.Current != (k.Version == v) {
					t.Fatalf("after SetCurrentKEK(%d): v%d current=%v", v, k.Version, k.Current)
				}
			}
		}
		if err := s.SetCurrentKEK(ctx, 9); !errors.Is(err, seal.ErrKeyNotFound) {
			t.Errorf("SetCurrentKEK(missing): %v, want ErrKeyNotFound", err)
		}
		if err := s.DeleteKEK(ctx, 2); err != nil {
			t.Fatalf("DeleteKEK: %v", err)
		}
		if err := s.DeleteKEK(ctx, 2); !errors.Is(err, seal.ErrKeyNotFound) {
			t.Errorf("DeleteKEK twice: %v, want ErrKeyNotFound", err)
		}
		if err := s.DeleteKEK(ctx, 1); !errors.Is(err, seal.ErrKeyInUse) {
			t.Errorf("DeleteKEK(current): %v, want ErrKeyInUse", err)
		}
		if list := mustKEKs(t, s); len(list) != 1 || list[0].Version != 1 || !list[0].Current {
			t.Errorf("after delete: %+v", list)
		}
	})

	t.Run("ReturnedSlicesAreCopies", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ws := palisade.NewWorkspaceID()
		in := []byte("wrapped")
		mustNil(t, s.InsertKEK(ctx, seal.WrappedKEK{Version: 1, Wrapped: in, CreatedAt: created}))
		mustNil(t, s.SetCurrentKEK(ctx, 1))
		mustNil(t, s.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: 1, KEKVersion: 1, Wrapped: in, CreatedAt: created}))
		in[0] = 'X'
		mustKEKs(t, s)[0].Wrapped[1] = 'X'
		dks, err := s.DataKeys(ctx, ws)
		mustNil(t, err)
		dks[0].Wrapped[1] = 'X'
		all, err := s.ListDataKeys(ctx)
		mustNil(t, err)
		all[0].Wrapped[2] = 'X'
		if got := mustKEKs(t, s)[0].Wrapped; string(got) != "wrapped" {
			t.Errorf("KEK changed through a slice: %q", got)
		}
		if dks, _ := s.DataKeys(ctx, ws); string(dks[0].Wrapped) != "wrapped" {
			t.Errorf("data key changed through a slice: %q", dks[0].Wrapped)
		}
	})

	t.Run("DataKeys", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
		if a > b {
			a, b = b, a
		}
		if list, err := s.DataKeys(ctx, a); err != nil || len(list) != 0 {
			t.Fatalf("no keys yet: DataKeys = %v, %v", list, err)
		}
		keys := []seal.WrappedDataKey{
			{Workspace: a, Version: 2, KEKVersion: 1, Wrapped: []byte("a2"), CreatedAt: created.Add(time.Minute)},
			{Workspace: a, Version: 1, KEKVersion: 1, Wrapped: []byte("a1"), CreatedAt: created},
			{Workspace: b, Version: 1, KEKVersion: 2, Wrapped: []byte("b1"), CreatedAt: created},
		}
		for _, k := range keys {
			// Each under the KEK current when it is inserted.
			currentKEK(t, s, k.KEKVersion, created)
			mustNil(t, s.InsertDataKey(ctx, k))
		}
		if err := s.InsertDataKey(ctx, keys[2]); !errors.Is(err, seal.ErrKeyExists) {
			t.Errorf("duplicate InsertDataKey: %v, want ErrKeyExists", err)
		}
		got, err := s.DataKeys(ctx, a)
		mustNil(t, err)
		if len(got) != 2 || got[0].Version != 1 || got[1].Version != 2 {
			t.Fatalf("DataKeys(a) = %+v, want v1, v2", got)
		}
		if got[1].Workspace != a || got[1].KEKVersion != 1 || string(got[1].Wrapped) != "a2" || !got[1].CreatedAt.Equal(keys[0].CreatedAt) {
			t.Errorf("data key did not round-trip: %+v", got[1])
		}
		if got, _ := s.DataKeys(ctx, b); len(got) != 1 || string(got[0].Wrapped) != "b1" {
			t.Errorf("DataKeys(b) = %+v: workspaces must not mix", got)
		}

		// Rewrap only from the KEK named.
		re := seal.WrappedDataKey{Workspace: a, Version: 1, KEKVersion: 3, Wrapped: []byte("a1-under-3")}
		if ok, err := s.RewrapDataKey(ctx, re, 2); err != nil || ok {
			t.Errorf("RewrapDataKey from the wrong KEK = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.RewrapDataKey(ctx, re, 1); err != nil || !ok {
			t.Errorf("RewrapDataKey = %v, %v; want true, nil", ok, err)
		}
		if ok, err := s.RewrapDataKey(ctx, re, 1); err != nil || ok {
			t.Errorf("RewrapDataKey again = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.RewrapDataKey(ctx, seal.WrappedDataKey{Workspace: b, Version: 7, KEKVersion: 3}, 2); err != nil || ok {
			t.Errorf("RewrapDataKey of a missing key = %v, %v; want false, nil", ok, err)
		}
		got, _ = s.DataKeys(ctx, a)
		if got[0].KEKVersion != 3 || string(got[0].Wrapped) != "a1-under-3" || !got[0].CreatedAt.Equal(created) {
			t.Errorf("after rewrap: %+v", got[0])
		}

		all, err := s.ListDataKeys(ctx)
		mustNil(t, err)
		if len(all) != 3 || all[0].Workspace != a || all[0].Version != 1 || all[1].Version != 2 || all[2].Workspace != b {
			t.Errorf("ListDataKeys not ordered by workspace and version: %+v", all)
		}

		mustNil(t, s.DeleteDataKey(ctx, a, 1))
		if err := s.DeleteDataKey(ctx, a, 1); !errors.Is(err, seal.ErrKeyNotFound) {
			t.Errorf("DeleteDataKey twice: %v, want ErrKeyNotFound", err)
		}
		if got, _ := s.DataKeys(ctx, a); len(got) != 1 || got[0].Version != 2 {
			t.Errorf("after delete: %+v", got)
		}
	})

	t.Run("DestroyDataKeys", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b, never := palisade.NewWorkspaceID(), palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
		currentKEK(t, s, 1, created)
		for _, ws := range []palisade.WorkspaceID{a, b} {
			for v := uint32(1); v <= 2; v++ {
				mustNil(t, s.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: v, KEKVersion: 1, Wrapped: []byte("k"), CreatedAt: created}))
			}
		}
		mustNil(t, s.DestroyDataKeys(ctx, a))
		mustNil(t, s.DestroyDataKeys(ctx, a))
		mustNil(t, s.DestroyDataKeys(ctx, never))
		for _, ws := range []palisade.WorkspaceID{a, never} {
			if got, err := s.DataKeys(ctx, ws); !errors.Is(err, seal.ErrKeyDestroyed) {
				t.Errorf("DataKeys after destroy = %v, %v; want ErrKeyDestroyed", got, err)
			}
			err := s.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: 9, KEKVersion: 1, Wrapped: []byte("k"), CreatedAt: created})
			if !errors.Is(err, seal.ErrKeyDestroyed) {
				t.Errorf("InsertDataKey after destroy: %v, want ErrKeyDestroyed", err)
			}
		}
		if ok, err := s.RewrapDataKey(ctx, seal.WrappedDataKey{Workspace: a, Version: 1, KEKVersion: 2}, 1); ok || err != nil {
			t.Errorf("RewrapDataKey after destroy = %v, %v; want false, nil", ok, err)
		}
		all, err := s.ListDataKeys(ctx)
		mustNil(t, err)
		if len(all) != 2 || all[0].Workspace != b || all[1].Workspace != b {
			t.Errorf("ListDataKeys after destroying a: %+v", all)
		}
		if got, err := s.DataKeys(ctx, b); err != nil || len(got) != 2 {
			t.Errorf("another workspace lost keys: %v, %v", got, err)
		}
	})

	t.Run("DataKeyOnlyUnderTheCurrentKEK", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ws := palisade.NewWorkspaceID()
		dk := func(version, kek uint32) seal.WrappedDataKey {
			return seal.WrappedDataKey{Workspace: ws, Version: version, KEKVersion: kek, Wrapped: []byte("k"), CreatedAt: created}
		}
		if err := s.InsertDataKey(ctx, dk(1, 1)); !errors.Is(err, seal.ErrKEKNotCurrent) {
			t.Errorf("InsertDataKey with no KEK at all: %v, want ErrKEKNotCurrent", err)
		}
		currentKEK(t, s, 1, created)
		mustNil(t, s.InsertDataKey(ctx, dk(1, 1)))
		// A KEK that exists but is not current yet: a key wrapped by it
		// is refused too.
		mustNil(t, s.InsertKEK(ctx, seal.WrappedKEK{Version: 2, Wrapped: []byte("w2"), CreatedAt: created}))
		if err := s.InsertDataKey(ctx, dk(2, 2)); !errors.Is(err, seal.ErrKEKNotCurrent) {
			t.Errorf("InsertDataKey under a KEK not yet current: %v, want ErrKEKNotCurrent", err)
		}
		// After a rotation, the KEK that was current a moment ago is
		// refused: the rotation's rewrap pass may already be over.
		mustNil(t, s.SetCurrentKEK(ctx, 2))
		if err := s.InsertDataKey(ctx, dk(2, 1)); !errors.Is(err, seal.ErrKEKNotCurrent) {
			t.Errorf("InsertDataKey under the previous KEK: %v, want ErrKEKNotCurrent", err)
		}
		mustNil(t, s.InsertDataKey(ctx, dk(2, 2)))
		if got, err := s.DataKeys(ctx, ws); err != nil || len(got) != 2 || got[1].KEKVersion != 2 {
			t.Errorf("DataKeys = %+v, %v", got, err)
		}
	})

	t.Run("ConcurrentInsertsAgree", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ws := palisade.NewWorkspaceID()
		currentKEK(t, s, 1, created)
		const n = 8
		var wg sync.WaitGroup
		kekErrs := make([]error, n)
		dkErrs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				kekErrs[i] = s.InsertKEK(ctx, seal.WrappedKEK{Version: 2, Wrapped: []byte{byte(i)}, CreatedAt: created})
			})
			wg.Go(func() {
				dkErrs[i] = s.InsertDataKey(ctx, seal.WrappedDataKey{Workspace: ws, Version: 1, KEKVersion: 1, Wrapped: []byte{byte(i)}, CreatedAt: created})
			})
		}
		wg.Wait()
		for name, errs := range map[string][]error{"InsertKEK": kekErrs, "InsertDataKey": dkErrs} {
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, seal.ErrKeyExists):
					t.Errorf("%s: %v", name, err)
				}
			}
			if wins != 1 {
				t.Errorf("%s: %d concurrent inserts of one version succeeded, want 1", name, wins)
			}
		}
	})
}

// currentKEK makes the KEK of version current, inserting it first if the
// store does not have it.
func currentKEK(t *testing.T, s seal.KeyStore, version uint32, created time.Time) {
	t.Helper()
	err := s.InsertKEK(context.Background(), seal.WrappedKEK{Version: version, Wrapped: []byte("wrapped"), CreatedAt: created})
	if err != nil && !errors.Is(err, seal.ErrKeyExists) {
		t.Fatalf("InsertKEK(v%d): %v", version, err)
	}
	mustNil(t, s.SetCurrentKEK(context.Background(), version))
}

func mustKEKs(t *testing.T, s seal.KeyStore) []seal.WrappedKEK {
	t.Helper()
	list, err := s.ListKEKs(context.Background())
	if err != nil {
		t.Fatalf("ListKEKs: %v", err)
	}
	return list
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
