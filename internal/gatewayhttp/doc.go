// Package gatewayhttp serves the LLM gateway to other processes and calls it
// from them: the HTTP transport between `serve --role=gateway` and the web
// and worker roles (SPEC R5). Handler exposes a gateway.Service on one
// route; Client implements gateway.Service by calling that route. The work
// itself (token checks, allowlist, caps, budgets, usage) stays in package
// gateway, on the far side.
//
// Every call carries the bot's gateway token and is also signed:
// HMAC-SHA256 under a shared key named by a key id, over the method, path,
// time, a nonce, the bot id, the token's hash and the body's hash, so a
// call signed for one bot cannot be delivered as another's. The body holds
// the turn's parts only (history, the user's message, passages): the
// system prompt, model, temperature and output cap are the stored bot's,
// and a body naming them is refused. The Handler checks the signature
// before it parses the body, accepts it for SignatureWindow either side of
// its clock, and claims each nonce in a memory every gateway process shares
// (gateway.Nonces: Redis or the database), so a captured call cannot be
// sent again, to the same process or another.
// Errors cross the wire as their code and public message only (see
// httpx.PublicError), in a JSON error response or, once a streamed answer
// has begun, in an "error" event.
//
// It must never accept an unsigned, stale, tampered or replayed call, never
// pass a call to the gateway before its signature verified, and never log,
// put into an error or send back a gateway token or a signing key. The
// Client reaches the gateway only through the client it is given, which in
// production is the one egress.Client.ForInternalService makes for the
// configured gateway URL.
package gatewayhttp
