package knowledge

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// Limits of a document and of retrieval.
const (
	MaxTitle        = 200     // characters
	MaxContentBytes = 1 << 20 // a document's content given as text
	// DefaultMaxFileBytes is the largest uploaded or fetched file unless
	// the operator sets another limit.
	DefaultMaxFileBytes = docparse.DefaultMaxInputBytes
	MaxTextBytes        = docparse.DefaultMaxTextBytes // a document's text once extracted
	MaxChunks           = 2000                         // chunks of one document
	DefaultTopK         = 3
	MaxTopK             = 10
	ExcerptSize         = 400 // characters
	maxQueryTerms       = 32
)

// Store is what the package needs of the store.
type Store interface {
	CreateDocument(ctx context.Context, scope palisade.Scope, p store.CreateDocumentParams) (palisade.Document, error)
	ListDocuments(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	SearchChunks(ctx context.Context, scope palisade.Scope, bot palisade.BotID, terms []string, limit int) ([]palisade.Passage, error)
}

// Service adds documents to a bot's knowledge and retrieves passages.
type Service struct {
	Store Store
	Now   func() time.Time
	// ChunkSize and ChunkOverlap default to DefaultChunkSize and
	// DefaultChunkOverlap.
	ChunkSize, ChunkOverlap int
	// MaxFileBytes is the largest file accepted; DefaultMaxFileBytes when
	// zero.
	MaxFileBytes int64
	// Extract turns a document of a bot into text. Nil reads it in this
	// process with docparse.Extract; the server sets it to hand the bytes
	// to the bot's confined worker, so that no uploaded document is parsed
	// where the database and the keys are. Every document goes through it,
	// whatever its type.
	Extract func(ctx context.Context, bot palisade.BotID, mediaType string, body []byte) (docparse.Document, error)
	// FetchOptions are the egress options of fetching a document from a
	// URL (FetchURL); the policy is built per fetch from the bot's domains.
	FetchOptions egress.Options
}

// NewDocument is an uploaded document: text given as Content, or a file
// given as File. Title may be empty for a file that names its own.
type NewDocument struct {
	Title       string
	Content     string
	ContentType string
	File        []byte
	// FallbackTitle is the title when neither Title nor the document
	// names one: a file's name.
	FallbackTitle string
}

// maxFileBytes is the file size limit in force.
func (s *Service) maxFileBytes() int64 {
	if s.MaxFileBytes > 0 {
		return s.MaxFileBytes
	}
	return DefaultMaxFileBytes
}

// Limits are the limits a document is extracted within.
func (s *Service) Limits() docparse.Limits {
	return docparse.Limits{MaxInputBytes: s.maxFileBytes(), MaxTextBytes: MaxTextBytes}
}

// Validate checks a document before anything is done with it.
func (d NewDocument) Validate() error {
	if d.Title != "" {
		if err := validate.Name("title", d.Title, MaxTitle); err != nil {
			return err
		}
	}
	if d.File != nil {
		return validate.OneOf("content_type", d.ContentType, FileTypes()...)
	}
	if err := validate.Name("title", d.Title, MaxTitle); err != nil {
		return err
	}
	if err := validate.OneOf("content_type", d.ContentType, ContentTypes()...); err != nil {
		return err
	}
	if len(d.Content) > MaxContentBytes {
		return palisade.FieldError("content", "content must be at most %d bytes", MaxContentBytes)
	}
	// HTML is checked after it is reduced to text: markup may carry
	// characters (in attributes, scripts) that never reach the index.
	if d.ContentType != TypeHTML {
		if err := validate.Text("content", d.Content, MaxContentBytes); err != nil {
			return err
		}
	}
	return nil
}

// Add validates, extracts, chunks and indexes a document of a bot.
func (s *Service) Add(ctx context.Context, scope palisade.Scope, bot palisade.BotID, d NewDocument) (palisade.Document, error) {
	if err := d.Validate(); err != nil {
		return palisade.Document{}, err
	}
	body := d.File
	if body == nil {
		body = []byte(d.Content)
	}
	if int64(len(body)) > s.maxFileBytes() {
		return palisade.Document{}, palisade.Errorf(palisade.CodeTooLarge, "the document must be at most %d bytes", s.maxFileBytes())
	}
	extract := s.Extract
	if extract == nil {
		extract = func(ctx context.Context, _ palisade.BotID, mediaType string, body []byte) (docparse.Document, error) {
			return docparse.Extract(ctx, mediaType, body, s.Limits())
		}
	}
	parsed, err := extract(ctx, bot, d.ContentType, body)
	if err != nil {
		var pe *palisade.Error
		if errors.As(err, &pe) {
			return palisade.Document{}, err
		}
		return palisade.Document{}, palisade.WrapError(err, palisade.CodeInvalid, "content could not be read as "+d.ContentType)
	}
	title := d.Title
	if title == "" {
		title = parsed.Title
	}
	if title == "" {
		title = cleanFallbackTitle(d.FallbackTitle)
	}
	if title == "" {
		return palisade.Document{}, palisade.FieldError("title", "title must not be empty: the document names no title of its own")
	}
	if err := validate.Name("title", title, MaxTitle); err != nil {
		return palisade.Document{}, err
	}
	text := parsed.Text
	if err := validate.Text("content", text, MaxTextBytes); err != nil {
		return palisade.Document{}, err
	}
	size, overlap := s.ChunkSize, s.ChunkOverlap
	if size <= 0 {
		size, overlap = DefaultChunkSize, DefaultChunkOverlap
	}
	chunks := Chunk(text, size, overlap)
	if len(chunks) == 0 {
		return palisade.Document{}, palisade.FieldError("content", "content has no text")
	}
	if len(chunks) > MaxChunks {
		return palisade.Document{}, palisade.FieldError("content", "content is too long to index")
	}
	doc, err := s.Store.CreateDocument(ctx, scope, store.CreateDocumentParams{BotID: bot, Title: title, ContentType: d.ContentType,
		SizeBytes: int64(len(body)), Chunks: chunks, Now: s.Now()})
	if err != nil {
		return palisade.Document{}, fmt.Errorf("storing document: %w", err)
	}
	return doc, nil
}

// cleanFallbackTitle makes a file name a title: its extension dropped, at
// most MaxTitle characters, one line.
func cleanFallbackTitle(name string) string {
	name = strings.TrimSuffix(name, path.Ext(name))
	name = strings.Join(strings.Fields(strings.ToValidUTF8(name, "")), " ")
	if r := []rune(name); len(r) > MaxTitle {
		name = strings.TrimSpace(string(r[:MaxTitle]))
	}
	return name
}

// Source is a retrieved passage as cited: the document's title and an
// excerpt of the passage around the words of the question.
type Source struct {
	DocumentID palisade.DocumentID
	Title      string
	Excerpt    string
	// Passage is the whole chunk, for a model to read.
	Passage string
}

// Retrieve returns the top k passages of the bot for the question, best
// first; none when nothing matches.
func (s *Service) Retrieve(ctx context.Context, scope palisade.Scope, bot palisade.BotID, question string, k int) ([]Source, error) {
	if k <= 0 {
		k = DefaultTopK
	}
	k = min(k, MaxTopK)
	terms := Terms(question)
	passages, err := s.Store.SearchChunks(ctx, scope, bot, terms, k)
	if err != nil {
		return nil, fmt.Errorf("searching knowledge: %w", err)
	}
	out := make([]Source, 0, len(passages))
	for _, p := range passages {
		out = append(out, Source{DocumentID: p.DocumentID, Title: p.Title, Excerpt: Excerpt(p.Body, terms, ExcerptSize), Passage: p.Body})
	}
	return out, nil
}

// isStopWord reports words too common to say what a question is about;
// left in, an any-word search would match every passage containing "the".
func isStopWord(w string) bool {
	switch w {
	case "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do", "does", "for",
		"from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not",
		"of", "on", "or", "our", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
		"this", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will",
		"with", "would", "you", "your", "yours", "about", "any", "all", "also", "am", "been", "being", "both",
		"each", "few", "more", "most", "other", "some", "such", "too", "very", "should", "shall", "may", "might",
		"must", "just", "only", "own", "same", "here", "out", "up", "down", "off", "over", "under", "again",
		"once":
		return true
	}
	return false
}

// Terms extracts the search words of a question: runs of letters and
// digits, lower-cased, without stop words and one-letter words, each once,
// at most 32. Nothing else of the question reaches the index.
func Terms(q string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = strings.ToLower(w)
		if utf8.RuneCountInString(w) < 2 || utf8.RuneCountInString(w) > 64 || isStopWord(w) || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == maxQueryTerms {
			break
		}
	}
	return out
}

// Excerpt returns at most size characters of body around the place where
// the most search terms meet (a term matches a word it begins, so "refund"
// finds "refunds"), cut at word boundaries and marked with "…" where text
// was left out. A body that fits is returned whole.
func Excerpt(body string, terms []string, size int) string {
	r := []rune(body)
	if len(r) <= size {
		return body
	}
	lower := []rune(strings.ToLower(body))
	if len(lower) != len(r) {
		lower = r // lower-casing changed lengths; match case-sensitively
	}
	// Positions of word starts that match a term.
	var hits []int
	for i := 0; i < len(lower); i++ {
		if i > 0 && (unicode.IsLetter(lower[i-1]) || unicode.IsDigit(lower[i-1])) {
			continue
		}
		for _, t := range terms {
			tr := []rune(t)
			if i+len(tr) <= len(lower) && string(lower[i:i+len(tr)]) == t {
				hits = append(hits, i)
				break
			}
		}
	}
	// The window of size characters holding the most hits, starting a
	// little before its first hit.
	start := 0
	best := 0
	for i, h := range hits {
		n := 0
		for _, h2 := range hits[i:] {
			if h2-h < size*3/4 {
				n++
			}
		}
		if n > best {
			best, start = n, max(0, h-size/4)
		}
	}
	end := min(len(r), start+size)
	if end == len(r) {
		start = max(0, end-size)
	}
	// Cut at word boundaries inside the window.
	if start > 0 {
		for i := start; i < end && i < start+40; i++ {
			if unicode.IsSpace(r[i]) {
				start = i + 1
				break
			}
		}
	}
	if end < len(r) {
		for i := end - 1; i > start && i > end-40; i-- {
			if unicode.IsSpace(r[i]) {
				end = i
				break
			}
		}
	}
	out := strings.TrimSpace(string(r[start:end]))
	if start > 0 {
		out = "…" + out
	}
	if end < len(r) {
		out += "…"
	}
	return out
}
