package knowledge

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// Limits of a document and of retrieval.
const (
	MaxTitle        = 200     // characters
	MaxContentBytes = 1 << 20 // a document's content as uploaded
	MaxChunks       = 2000    // chunks of one document
	DefaultTopK     = 3
	MaxTopK         = 10
	ExcerptSize     = 400 // characters
	maxQueryTerms   = 32
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
}

// NewDocument is an uploaded document.
type NewDocument struct {
	Title       string
	Content     string
	ContentType string
}

// Validate checks a document before anything is done with it.
func (d NewDocument) Validate() error {
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

// Add validates, sanitises, chunks and indexes a document of a bot.
func (s *Service) Add(ctx context.Context, scope palisade.Scope, bot palisade.BotID, d NewDocument) (palisade.Document, error) {
	if err := d.Validate(); err != nil {
		return palisade.Document{}, err
	}
	text, err := ToText(d.ContentType, d.Content)
	if err != nil {
		return palisade.Document{}, palisade.WrapError(err, palisade.CodeInvalid, "content could not be read as "+d.ContentType)
	}
	if err := validate.Text("content", text, MaxContentBytes); err != nil {
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
	doc, err := s.Store.CreateDocument(ctx, scope, store.CreateDocumentParams{BotID: bot, Title: d.Title, ContentType: d.ContentType,
		SizeBytes: int64(len(d.Content)), Chunks: chunks, Now: s.Now()})
	if err != nil {
		return palisade.Document{}, fmt.Errorf("storing document: %w", err)
	}
	return doc, nil
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
