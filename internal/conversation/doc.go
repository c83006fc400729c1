// Package conversation handles one inbound message end to end: it validates
// the message, finds or opens the conversation of its key
// (agent:{botId}:{channel}:dm:{userId}, or :group:{chatId}), reads the
// recent history within a budget, retrieves the bot's best passages, asks a
// Generator for the answer — or, with none configured, answers in
// retrieval-only mode with the passages and their sources, labelled as such
// — and stores the user's message and the reply.
//
// It must never merge user or retrieved text into the system prompt (they
// travel as delimited data), never store a partial reply after a failed
// generation, never read or write a conversation of another bot or
// workspace, and never store a body in clear: the store seals every message body.
// A bot's pii_mode decides whether personal data is replaced by
// placeholders before the model sees it (before_llm) or before anything is
// stored (before_storage); the service never logs message text.
package conversation
