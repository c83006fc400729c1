package llm

import "slices"

// Provider kinds an operator can configure. Groq speaks OpenAI's API at its
// own address; the others each have their own adapter.
const (
	KindOpenAI    = "openai"
	KindAnthropic = "anthropic"
	KindGemini    = "gemini"
	KindGroq      = "groq"
)

// RetrievalOnly is the one model offered when no provider is configured:
// it names the mode bots then answer in (their best passages and sources,
// no language model), so a bot form never offers a model nothing serves.
const RetrievalOnly = "retrieval-only"

// Kinds lists the provider kinds, in the order settings and messages name
// them.
func Kinds() []string { return []string{KindOpenAI, KindAnthropic, KindGemini, KindGroq} }

// catalogue is every model Palisade knows, with the kind of provider that
// serves it; the first model of each kind is its default. This is the one
// place the catalogue is written.
var catalogue = []struct{ model, kind string }{
	{"gpt-4o-mini", KindOpenAI}, {"gpt-4o", KindOpenAI}, {"gpt-4.1-mini", KindOpenAI}, {"gpt-4.1", KindOpenAI},
	{"claude-3-5-haiku-latest", KindAnthropic}, {"claude-sonnet-4-0", KindAnthropic},
	{"gemini-2.0-flash", KindGemini}, {"gemini-2.5-flash", KindGemini},
	{"llama-3.1-8b-instant", KindGroq}, {"llama-3.3-70b-versatile", KindGroq},
}

// KindOf is the kind of provider serving a model of the catalogue; false
// for a model the catalogue does not know.
func KindOf(model string) (string, bool) {
	for _, e := range catalogue {
		if e.model == model {
			return e.kind, true
		}
	}
	return "", false
}

// CatalogueModels lists the catalogue's models of the given kinds, all of
// them when none is given, in catalogue order.
func CatalogueModels(kinds ...string) []string {
	var out []string
	for _, e := range catalogue {
		if len(kinds) == 0 || slices.Contains(kinds, e.kind) {
			out = append(out, e.model)
		}
	}
	return out
}

// DefaultModels is the model allowlist when the operator names none: for a
// configured provider, its small default model; with no provider, the whole
// catalogue (for callers that need some list, such as tests and a process
// calling a separate gateway it cannot ask).
func DefaultModels(provider string) []string {
	for _, e := range catalogue {
		if e.kind == provider {
			return []string{e.model}
		}
	}
	return CatalogueModels()
}
