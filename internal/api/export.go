package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Exports writes a workspace's export (*export.Service).
type Exports interface {
	Start(ctx context.Context, c palisade.Caller) error
	Workspace(ctx context.Context, c palisade.Caller, w io.Writer) error
}

var _ Exports = (*export.Service)(nil)

// exportDocJSON describes the export document for the OpenAPI document;
// the handler streams it rather than building one.
type exportDocJSON struct {
	Format     string                      `json:"format"`
	Version    int                         `json:"version"`
	ExportedAt time.Time                   `json:"exported_at"`
	Workspace  exportWorkspaceJSON         `json:"workspace"`
	Members    []exportMemberJSON          `json:"members"`
	Tables     map[string][]map[string]any `json:"tables"`
	Complete   bool                        `json:"complete"`
}

type exportWorkspaceJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type exportMemberJSON struct {
	UserID string    `json:"user_id"`
	Email  string    `json:"email"`
	Name   string    `json:"name"`
	Role   string    `json:"role"`
	Since  time.Time `json:"since"`
}

// exportWorkspace streams the key's workspace as one JSON document; the
// export is rate-limited and recorded in the audit log before it starts.
func (a *API) exportWorkspace(w http.ResponseWriter, r *http.Request) error {
	if a.Export == nil {
		return palisade.ErrNotFound
	}
	c := caller(r)
	if err := a.Export.Start(r.Context(), c); err != nil {
		return err
	}
	return httpx.Download(w, r, export.Filename(c.Scope.Workspace(), time.Now()), func(out io.Writer) error {
		return a.Export.Workspace(r.Context(), c, out)
	})
}
