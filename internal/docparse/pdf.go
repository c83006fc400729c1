package docparse

import "github.com/palisadehq/palisade/internal/palisade"

func pdfText(st *state, body []byte) (Document, error) {
	return Document{}, palisade.Errorf(palisade.CodeInvalid, "PDF documents are not read yet")
}
