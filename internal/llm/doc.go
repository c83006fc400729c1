// Package llm is the seam between Palisade and the language-model providers
// (SPEC.md R5): the Provider interface every adapter implements, the
// provider-neutral Request and Response, the typed *Error adapters return,
// and the plumbing the adapters share — streams read through the bounded
// reader of package sse, retries that honour Retry-After, per-call
// time-outs, capped bodies and key scrubbing.
//
// The adapters live in subpackages (openai, anthropic, gemini); llmtest holds
// fake servers that speak each provider's wire format.
//
// It must never hold a provider key longer than the adapter that owns it, put
// a key into an error, a log line or a URL, follow a redirect (custom auth
// headers would go with it), use http.DefaultClient, sleep on the wall clock
// where an injected function was given, or retry once a stream has started
// delivering text to the caller.
package llm
