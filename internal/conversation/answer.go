package conversation

import (
	"fmt"
	"strings"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/llm"
)

// RetrievalAnswer is the reply of a bot with no language model: its best
// passages, quoted, each with its source, under a heading that says plainly
// that these are retrieved passages and not a written answer.
func RetrievalAnswer(sources []knowledge.Source) string {
	if len(sources) == 0 {
		return "Retrieved passages: none. No passage in this bot's documents matches your question. " +
			"(This bot answers in retrieval-only mode: no language model is configured.)"
	}
	var b strings.Builder
	b.WriteString("Retrieved passages (retrieval-only mode: these are quoted from this bot's documents, not a written answer):\n")
	for i, s := range sources {
		fmt.Fprintf(&b, "\n[%d] \"%s\"\n    Source: %s\n", i+1, s.Excerpt, s.Title)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Prompt is a provider-neutral prompt: the bot's own system prompt, and the
// turns, the last of which carries the retrieved passages and the user's
// message as delimited data.
type Prompt struct {
	System string
	Turns  []Turn
}

// BuildPrompt lays a request out for a model exactly as the gateway does
// (gateway.BuildPrompt, which the gateway applies to the stored bot and a
// call's parts): the system prompt is the bot's plus fixed rules; user and
// retrieved text go only into the final user turn, each inside tags whose
// closing form is neutralised in the data, so a passage cannot end its own
// delimiter early.
func BuildPrompt(req Request) Prompt {
	history := make([]llm.Message, 0, len(req.History))
	for _, t := range req.History {
		history = append(history, llm.Message{Role: t.Role, Content: t.Content})
	}
	passages := make([]gateway.Passage, 0, len(req.Sources))
	for _, s := range req.Sources {
		passages = append(passages, gateway.Passage{Source: s.Title, Text: s.Passage})
	}
	system, messages := gateway.BuildPrompt(req.Bot.SystemPrompt, history, req.Message, passages)
	p := Prompt{System: system, Turns: make([]Turn, 0, len(messages))}
	for _, m := range messages {
		p.Turns = append(p.Turns, Turn{Role: m.Role, Content: m.Content})
	}
	return p
}
