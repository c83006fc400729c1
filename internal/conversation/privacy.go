package conversation

import (
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/pii"
)

// privacy applies a bot's pii_mode to the handling of one message. With
// before_llm, what leaves for the model (the message, the history, the
// retrieval query) is redacted and what is stored is the original; with
// before_storage, the message is redacted before anything else sees it,
// and the reply is redacted before it is stored, so nothing unredacted is
// stored. One Redactor serves the whole message, so a value keeps its
// placeholder across the history and the new message.
type privacy struct {
	mode palisade.PIIMode
	r    *pii.Redactor
}

func newPrivacy(mode palisade.PIIMode) privacy {
	if mode != palisade.PIIBeforeLLM && mode != palisade.PIIBeforeStorage {
		return privacy{mode: palisade.PIIOff}
	}
	return privacy{mode: mode, r: pii.NewRedactor()}
}

func (p privacy) on() bool { return p.r != nil }

// prepare redacts the history and then the message, in conversation
// order, and returns what the model may see; with the mode off, its
// arguments unchanged.
//
// With before_llm the history is stored as written, so numbering it
// afresh in order gives each value the placeholder it had in the earlier
// requests, the ones the model's earlier replies use. With before_storage
// the history is stored redacted and its values are gone: new values are
// numbered after the placeholders already in it, so none names two values.
func (p privacy) prepare(history []Turn, message string) ([]Turn, string) {
	if !p.on() {
		return history, message
	}
	if p.mode == palisade.PIIBeforeStorage {
		for _, t := range history {
			p.r.Seed(t.Content)
		}
	}
	out := make([]Turn, len(history))
	for i, t := range history {
		out[i] = Turn{Role: t.Role, Content: p.r.Redact(t.Content)}
	}
	return out, p.r.Redact(message)
}

// stored returns what may be stored of a text the model saw or wrote.
func (p privacy) stored(text string) string {
	if p.mode == palisade.PIIBeforeStorage {
		return p.r.Redact(text)
	}
	return text
}
