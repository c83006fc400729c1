package knowledge

import "github.com/palisadehq/palisade/internal/docparse"

// Content types a document may have.
const (
	TypePlain    = docparse.TypePlain
	TypeMarkdown = docparse.TypeMarkdown
	TypeHTML     = docparse.TypeHTML
	TypePDF      = docparse.TypePDF
	TypeDOCX     = docparse.TypeDOCX
)

// ContentTypes lists the content types a document may be given as text
// (a JSON string, a form's text area).
func ContentTypes() []string { return []string{TypePlain, TypeMarkdown, TypeHTML} }

// FileTypes lists the media types a document may be uploaded as a file.
func FileTypes() []string { return docparse.Types() }

func normalise(s string) string { return docparse.Normalise(s) }
