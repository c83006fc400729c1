package httpx

import (
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
)

// DownloadTimeout bounds how long one download may take to write; the
// server's write time-out, meant for ordinary answers, would cut a large
// export short.
const DownloadTimeout = 30 * time.Minute

// Download answers with a JSON attachment that write produces as it goes.
// Once the first byte is out the status cannot change: if write then
// fails, the connection is aborted, so the client sees a broken download
// rather than one that looks whole, and the cause is logged.
func Download(w http.ResponseWriter, r *http.Request, filename string, write func(io.Writer) error) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
	// Not every writer can move its deadline (test recorders); the
	// server's own time-out then applies.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(DownloadTimeout))
	w.WriteHeader(http.StatusOK)
	if err := write(w); err != nil {
		Logger(r.Context()).ErrorContext(r.Context(), "download failed after it started", slog.String("error", err.Error()))
		panic(http.ErrAbortHandler)
	}
	return nil
}
