package store

import (
	"context"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Exports reads a whole workspace out, table by table and page by page, for
// the workspace export (package export). Secrets never leave it: sealed
// credentials, keys, token hashes and cached responses arrive as
// ExportRedacted; only message bodies, which are the workspace's own
// content rather than a secret, arrive opened.
type Exports interface {
	// ExportWorkspace calls sink.Table once for every table holding rows
	// of the workspace (the workspace's own row first, then every table
	// with a workspace_id column, found in the database's catalog so that
	// a table added later is not missed), then sink.Row for each of its
	// rows in primary key order. Rows are read a page at a time, each page
	// in a transaction of its own, so nothing but one page is ever held in
	// memory and no long transaction blocks the database.
	ExportWorkspace(ctx context.Context, scope palisade.Scope, sink ExportSink) error
}

// ExportSink receives an export as it is read.
type ExportSink interface {
	// Table starts a table; the columns name each value Row then gets.
	Table(name string, columns []string) error
	// Row is one row: nil, string, int64, float64, bool, time.Time or
	// ExportRedacted values ([]byte columns arrive hex-encoded).
	Row(values []any) error
}

// ExportRedacted stands for a secret column's value that is set; an unset
// one is nil.
type ExportRedacted struct{}

// MarshalText writes the placeholder an export shows instead of a secret.
func (ExportRedacted) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
