package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Idempotency keys. A creating POST sent with an Idempotency-Key header is
// answered once: the same key again from the same API key, with the same
// request, replays the stored answer (with Idempotent-Replayed: true)
// instead of creating again; with a different request it is a 409; while
// the first is still being answered, a 409 too. Records are per workspace
// and per API key, sealed (an answer may carry a key shown once), and
// expire after idempotency.TTL. Answers of 5xx and refusals are not
// stored: the same request may be tried again.
const (
	maxIdempotencyKey    = 255
	maxIdempotentAnswer  = 1 << 20
	idempotencyHeader    = "Idempotency-Key"
	idempotentReplayed   = "Idempotent-Replayed"
	idempotencyRecordSep = "\n"
	// idempotencyHeaderSep parts the stored Content-Type from the stored
	// Location, which neither contains (a record without it holds only the
	// Content-Type).
	idempotencyHeaderSep = "\t"
)

var (
	errIdempotencyKey      = palisade.FieldError(idempotencyHeader, "Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	errIdempotencyMismatch = palisade.Errorf(palisade.CodeConflict, "this Idempotency-Key was used for a different request")
	errIdempotencyBusy     = palisade.Errorf(palisade.CodeConflict, "a request with this Idempotency-Key is still being answered; try again shortly")
)

func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent runs next under the request's Idempotency-Key, if it has one.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, p Principal, maxBody int64, next httpx.HandlerFunc) error {
	key := r.Header.Get(idempotencyHeader)
	if key == "" || a.Idempotency == nil {
		return next(w, r)
	}
	if !validIdempotencyKey(key) {
		return errIdempotencyKey
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "the request body could not be read")
	}
	if int64(len(body)) > maxBody {
		return palisade.Errorf(palisade.CodeTooLarge, "the request body is too large")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	hash := h.Sum(nil)

	rec, claimed, err := a.Idempotency.Claim(r.Context(), p.Scope, string(p.KeyID), key, hash)
	if err != nil {
		return err
	}
	if !claimed {
		switch {
		case !bytes.Equal(rec.RequestHash, hash):
			return errIdempotencyMismatch
		case rec.Status == 0:
			return errIdempotencyBusy
		}
		head, stored, _ := strings.Cut(string(rec.Response), idempotencyRecordSep)
		ct, location, _ := strings.Cut(head, idempotencyHeaderSep)
		w.Header().Set("Content-Type", ct)
		if location != "" {
			w.Header().Set("Location", location)
		}
		w.Header().Set(idempotentReplayed, "true")
		w.WriteHeader(rec.Status)
		_, err := io.WriteString(w, stored)
		return err
	}
	rw := &recorder{ResponseWriter: w}
	err = next(rw, r)
	// The record is settled even when the client has gone away meanwhile.
	ctx := context.WithoutCancel(r.Context())
	if err != nil || rw.status == 0 || rw.status >= 400 || rw.overflow {
		if rerr := a.Idempotency.Release(ctx, p.Scope, string(p.KeyID), key); rerr != nil {
			httpx.Logger(ctx).ErrorContext(ctx, "could not release an idempotency key; it holds until it expires", "err", rerr)
		}
		return err
	}
	head := rw.contentType
	if rw.location != "" {
		head += idempotencyHeaderSep + rw.location
	}
	stored := head + idempotencyRecordSep + rw.body.String()
	if cerr := a.Idempotency.Complete(ctx, p.Scope, string(p.KeyID), key, rw.status, []byte(stored)); cerr != nil {
		httpx.Logger(ctx).ErrorContext(ctx, "could not store an idempotent answer; it holds as in progress until it expires", "err", cerr)
	}
	return nil
}

// recorder passes an answer through to the client and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status      int
	contentType string
	location    string
	body        bytes.Buffer
	overflow    bool
}

func (rw *recorder) WriteHeader(status int) {
	if rw.status == 0 {
		rw.status, rw.contentType, rw.location = status, rw.Header().Get("Content-Type"), rw.Header().Get("Location")
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.body.Len()+len(b) > maxIdempotentAnswer {
		rw.overflow = true
	} else {
		rw.body.Write(b)
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *recorder) Flush() { _ = http.NewResponseController(rw.ResponseWriter).Flush() }

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
