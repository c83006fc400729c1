package knowledge

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
)

// ExtractKind is the task kind of a document's extraction in its bot's
// worker.
const ExtractKind = "extract"

// Runner runs a task in a bot's own worker; *sandbox.Pool is one.
type Runner interface {
	Run(ctx context.Context, key, kind string, payload []byte, onProgress func([]byte) error) ([]byte, error)
}

// extractHeader precedes the document's bytes in an extract task: a
// 4-byte length, this as JSON, then the body as it was uploaded.
type extractHeader struct {
	MediaType string          `json:"media_type"`
	Limits    docparse.Limits `json:"limits"`
}

type extracted struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// WorkerExtract is an Extract hook that parses each document in its bot's
// worker, within limits, so no uploaded byte is parsed where the database
// and the keys are. What the worker answers is checked as untrusted: its
// text must be valid UTF-8 within the limits.
func WorkerExtract(workers Runner, limits func() docparse.Limits) func(ctx context.Context, bot palisade.BotID, mediaType string, body []byte) (docparse.Document, error) {
	return func(ctx context.Context, bot palisade.BotID, mediaType string, body []byte) (docparse.Document, error) {
		lim := limits()
		hdr, err := json.Marshal(extractHeader{MediaType: mediaType, Limits: lim})
		if err != nil {
			return docparse.Document{}, fmt.Errorf("encoding the extraction: %w", err)
		}
		payload := make([]byte, 4, 4+len(hdr)+len(body))
		binary.BigEndian.PutUint32(payload, uint32(len(hdr)))
		payload = append(append(payload, hdr...), body...)
		out, err := workers.Run(ctx, string(bot), ExtractKind, payload, nil)
		if err != nil {
			return docparse.Document{}, err
		}
		var doc extracted
		maxText := lim.MaxTextBytes
		if maxText <= 0 {
			maxText = docparse.DefaultMaxTextBytes
		}
		if err := json.Unmarshal(out, &doc); err != nil || len(doc.Text) > maxText || len(doc.Title) > maxText ||
			!utf8.ValidString(doc.Text) || !utf8.ValidString(doc.Title) {
			return docparse.Document{}, palisade.Errorf(palisade.CodeInvalid, "the document could not be read as %s", mediaType)
		}
		return docparse.Document{Title: doc.Title, Text: doc.Text}, nil
	}
}

// ExtractHandler is the extraction on the worker's side.
func ExtractHandler(ctx context.Context, t *sandbox.Task) ([]byte, error) {
	p := t.Payload
	if len(p) < 4 || uint64(binary.BigEndian.Uint32(p)) > uint64(len(p)-4) {
		return nil, fmt.Errorf("a malformed extraction task")
	}
	n := binary.BigEndian.Uint32(p)
	var hdr extractHeader
	if err := json.Unmarshal(p[4:4+n], &hdr); err != nil {
		return nil, fmt.Errorf("reading the extraction task: %w", err)
	}
	doc, err := docparse.Extract(ctx, hdr.MediaType, p[4+n:], hdr.Limits)
	if err != nil {
		return nil, err
	}
	return json.Marshal(extracted{Title: doc.Title, Text: doc.Text})
}
