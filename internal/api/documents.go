package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
)

// documentInput is the JSON body of POST /api/v1/bots/{botId}/documents:
// text with its content type, or the URL of a page to fetch.
type documentInput struct {
	Title       string `json:"title"`
	Content     string `json:"content,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	URL         string `json:"url,omitempty"`
}

// DocumentsRoute is the upload route, the one route whose body may be
// larger than the API's body limit.
const DocumentsRoute = "POST /api/v1/bots/{botId}/documents"

// uploadOverhead is room for a multipart body's boundaries and headers
// around a file of the largest size.
const uploadOverhead = 64 << 10

// UploadBodyLimits returns the body limits, by route pattern, that the
// edge must allow for uploads of files of at most maxFile bytes.
func UploadBodyLimits(maxFile int64) map[string]int64 {
	return map[string]int64{DocumentsRoute: maxFile + uploadOverhead}
}

func (a *API) documentMaxBytes() int64 {
	if a.DocumentMaxBytes > 0 {
		return a.DocumentMaxBytes
	}
	return knowledge.DefaultMaxFileBytes
}

// errFileTooLarge is the answer to a file over the limit, however it came.
func (a *API) errFileTooLarge() error {
	return palisade.Errorf(palisade.CodeTooLarge, "the document must be at most %d bytes", a.documentMaxBytes())
}

func fileType(contentType, filename string) string { return knowledge.FileType(contentType, filename) }

func titleFromFilename(name string) string { return knowledge.TitleFromFilename(name) }

// readFile reads at most the file limit, refusing a larger file rather
// than cutting it.
func (a *API) readFile(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, a.documentMaxBytes()+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, a.errFileTooLarge()
		}
		return nil, palisade.WrapError(err, palisade.CodeInvalid, "the document could not be read")
	}
	if int64(len(b)) > a.documentMaxBytes() {
		return nil, a.errFileTooLarge()
	}
	return b, nil
}

// documentFromRequest reads the document a request sends: JSON (text or
// a URL), a multipart form with a file part, or the file itself as the
// body with its media type.
func (a *API) documentFromRequest(r *http.Request) (knowledge.NewDocument, string, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return knowledge.NewDocument{}, "", palisade.FieldError("Content-Type",
			"Content-Type must be application/json, multipart/form-data or one of %s", strings.Join(knowledge.FileTypes(), ", "))
	}
	switch {
	case mt == "application/json":
		var in documentInput
		if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
			return knowledge.NewDocument{}, "", err
		}
		if in.URL != "" {
			if in.Content != "" || in.ContentType != "" {
				return knowledge.NewDocument{}, "", palisade.FieldError("url", "send either url or content, not both")
			}
			return knowledge.NewDocument{Title: in.Title}, in.URL, nil
		}
		return knowledge.NewDocument{Title: in.Title, Content: in.Content, ContentType: in.ContentType}, "", nil
	case mt == "multipart/form-data":
		return a.multipartDocument(r, params["boundary"])
	case fileType(mt, "") != "":
		body, err := a.readFile(r.Body)
		if err != nil {
			return knowledge.NewDocument{}, "", err
		}
		title := r.URL.Query().Get("title")
		if title == "" {
			if _, p, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
				title = titleFromFilename(p["filename"])
			}
		}
		if title == "" {
			title = titleFromFilename(r.URL.Query().Get("filename"))
		}
		return knowledge.NewDocument{Title: title, ContentType: mt, File: nonNil(body)}, "", nil
	}
	return knowledge.NewDocument{}, "", palisade.FieldError("Content-Type",
		"Content-Type must be application/json, multipart/form-data or one of %s", strings.Join(knowledge.FileTypes(), ", "))
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// maxFormField bounds a multipart form's text fields.
const maxFormField = 4 << 10

// multipartDocument reads a form with a "file" part and an optional
// "title", straight from the body: nothing is written to disk.
func (a *API) multipartDocument(r *http.Request, boundary string) (knowledge.NewDocument, string, error) {
	if boundary == "" {
		return knowledge.NewDocument{}, "", palisade.Errorf(palisade.CodeInvalid, "the multipart body has no boundary")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return knowledge.NewDocument{}, "", palisade.WrapError(err, palisade.CodeInvalid, "the multipart body could not be read")
	}
	var d knowledge.NewDocument
	var filename, partType string
	gotFile := false
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return knowledge.NewDocument{}, "", a.errFileTooLarge()
			}
			return knowledge.NewDocument{}, "", palisade.WrapError(err, palisade.CodeInvalid, "the multipart body could not be read")
		}
		if parts >= 8 {
			return knowledge.NewDocument{}, "", palisade.Errorf(palisade.CodeInvalid, "the multipart body has too many parts")
		}
		switch p.FormName() {
		case "file":
			if gotFile {
				return knowledge.NewDocument{}, "", palisade.FieldError("file", "send one file per request")
			}
			gotFile = true
			filename, partType = p.FileName(), p.Header.Get("Content-Type")
			if d.File, err = a.readFile(p); err != nil {
				return knowledge.NewDocument{}, "", err
			}
			d.File = nonNil(d.File)
		case "title", "content_type":
			v, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
			if err != nil || len(v) > maxFormField {
				return knowledge.NewDocument{}, "", palisade.FieldError(p.FormName(), "%s is too long", p.FormName())
			}
			if p.FormName() == "title" {
				d.Title = strings.TrimSpace(string(v))
			} else {
				partType = strings.TrimSpace(string(v))
			}
		default:
			// Unknown fields are drained, not kept.
			if _, err := io.Copy(io.Discard, io.LimitReader(p, a.documentMaxBytes()+1)); err != nil {
				return knowledge.NewDocument{}, "", palisade.WrapError(err, palisade.CodeInvalid, "the multipart body could not be read")
			}
		}
	}
	if !gotFile {
		return knowledge.NewDocument{}, "", palisade.FieldError("file", "the form has no file part")
	}
	d.ContentType = fileType(partType, filename)
	if d.ContentType == "" {
		return knowledge.NewDocument{}, "", palisade.FieldError("file", "the file must be one of %s (by its Content-Type or its name's extension)",
			strings.Join(knowledge.FileTypes(), ", "))
	}
	if d.Title == "" {
		d.Title = titleFromFilename(filename)
	}
	return d, "", nil
}

// documentJSON is a document as the API shows it; its text is not echoed.
type documentJSON struct {
	ID          palisade.DocumentID `json:"id"`
	BotID       palisade.BotID      `json:"bot_id"`
	Title       string              `json:"title"`
	ContentType string              `json:"content_type"`
	SizeBytes   int64               `json:"size_bytes"`
	Chunks      int                 `json:"chunks"`
	CreatedAt   time.Time           `json:"created_at"`
}

func toDocumentJSON(d palisade.Document) documentJSON {
	return documentJSON{ID: d.ID, BotID: d.BotID, Title: d.Title, ContentType: d.ContentType, SizeBytes: d.SizeBytes,
		Chunks: d.Chunks, CreatedAt: d.CreatedAt}
}

func (a *API) createDocument(w http.ResponseWriter, r *http.Request) error {
	in, url, err := a.documentFromRequest(r)
	if err != nil {
		return err
	}
	var d palisade.Document
	if url != "" {
		d, err = a.Bots.AddDocumentFromURL(r.Context(), caller(r), botID(r), in.Title, url)
	} else {
		d, err = a.Bots.AddDocument(r.Context(), caller(r), botID(r), in)
	}
	if err != nil {
		return err
	}
	return writeCreated(w, r, string(d.ID), toDocumentJSON(d))
}

func (a *API) listDocuments(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "documents", palisade.PrefixDocument)
	if err != nil {
		return err
	}
	docs, err := a.Bots.Documents(r.Context(), scope(r), botID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageOf("documents", page, docs,
		func(d palisade.Document) keyed { return keyed{d.CreatedAt, string(d.ID)} }, toDocumentJSON))
}

func documentID(r *http.Request) palisade.DocumentID {
	return palisade.DocumentID(r.PathValue("documentId"))
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Bots.Document(r.Context(), scope(r), botID(r), documentID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDocumentJSON(d))
}

func (a *API) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	if err := a.Bots.DeleteDocument(r.Context(), caller(r), botID(r), documentID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
