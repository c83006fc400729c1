package sealtest_test

import (
	"testing"

	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
)

func TestMemoryKeyStore(t *testing.T) {
	t.Parallel()
	sealtest.TestKeyStore(t, func(*testing.T) seal.KeyStore { return sealtest.NewMemoryKeyStore() })
}

func TestZeroMemoryKeyStore(t *testing.T) {
	t.Parallel()
	sealtest.TestKeyStore(t, func(*testing.T) seal.KeyStore { return new(sealtest.MemoryKeyStore) })
}
