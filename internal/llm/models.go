package llm

// DefaultModels is the model allowlist when the operator names none: for a
// configured provider, its small default model; with no provider (bots
// answer in retrieval-only mode until one is configured), the current small
// and large models of every supported provider, so bots can be set up
// ahead of time. This is the one place the defaults are written.
func DefaultModels(provider string) []string {
	switch provider {
	case "openai":
		return []string{"gpt-4o-mini"}
	case "anthropic":
		return []string{"claude-3-5-haiku-latest"}
	case "gemini":
		return []string{"gemini-2.0-flash"}
	}
	return []string{
		"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1",
		"claude-3-5-haiku-latest", "claude-sonnet-4-0",
		"gemini-2.0-flash", "gemini-2.5-flash",
		"llama-3.1-8b-instant", "llama-3.3-70b-versatile",
	}
}
