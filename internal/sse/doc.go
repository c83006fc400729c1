// Package sse reads and writes server-sent events, the WHATWG event-stream
// format. The Reader parses streams from peers we do not control (the LLM
// providers) and from our own gateway role, with a cap on every line and
// every event; the Writer sends named events whose data is one line of JSON,
// for the API's streamed chat and the gateway role's answers.
//
// The Reader must never buffer more than its caps, depend on how the bytes
// happen to be split into reads, or reconnect: a broken stream is an error
// for its caller. The Writer must never commit a response before its first
// event (so a handler can still answer a refusal with an ordinary error
// response), write a field that could break the framing, or send anything
// but what its caller handed it — an error event's contents are for httpx
// to decide, not this package.
package sse
