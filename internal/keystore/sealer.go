package keystore

import (
	"context"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
)

// Sealer lets the store seal its columns with a Keyring: the table, column
// and row id become the seal.Field bound into each envelope.
type Sealer struct{ Keyring *seal.Keyring }

var _ store.Sealer = Sealer{}

func (s Sealer) Seal(ctx context.Context, ws palisade.WorkspaceID, table, column, rowID string, plaintext []byte) ([]byte, error) {
	return s.Keyring.Seal(ctx, ws, seal.Field{Table: table, Column: column, RowID: rowID}, plaintext)
}

func (s Sealer) Open(ctx context.Context, ws palisade.WorkspaceID, table, column, rowID string, sealed []byte) ([]byte, error) {
	return s.Keyring.Open(ctx, ws, seal.Field{Table: table, Column: column, RowID: rowID}, sealed)
}

func (s Sealer) Reseal(ctx context.Context, ws palisade.WorkspaceID, table, column, rowID string, sealed []byte) ([]byte, error) {
	return s.Keyring.Reseal(ctx, ws, seal.Field{Table: table, Column: column, RowID: rowID}, sealed)
}

func (s Sealer) Destroy(ctx context.Context, ws palisade.WorkspaceID) error {
	return s.Keyring.DestroyWorkspace(ctx, ws)
}
