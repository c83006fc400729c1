// Package knowledge turns uploaded documents into searchable passages and
// finds the best ones for a question: it sanitises HTML to plain text,
// splits text into bounded, paragraph-aware chunks with a small overlap,
// stores them through the store's full-text index (FTS5 on SQLite, tsvector
// on PostgreSQL), and retrieves the top passages of one bot with their
// document title and an excerpt to cite.
//
// It must never render or execute document content (HTML is reduced to
// text, scripts and styles dropped), never pass a question to the index as
// query syntax (only plain words reach it), and never search beyond the one
// bot of the one workspace it is asked about.
package knowledge
