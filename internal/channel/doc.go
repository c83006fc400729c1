// Package channel connects bots to chat platforms (Telegram and WhatsApp
// now; Slack and Discord on the same foundation) and carries messages both
// ways. It holds:
//
//   - the Platform interface every adapter implements (telegram/ and
//     whatsapp/, and slack/, discord/ to come): checking credentials with the
//     platform, setting its webhook up and tearing it down, testing the
//     connection, verifying an inbound request over its raw bytes, parsing
//     it into a Delivery, splitting and sending a reply;
//   - the Service, the use cases of a bot's channels: connect (credentials
//     checked by the adapter, sealed at once, never returned — only masked,
//     last four characters at most), list, get, test, disconnect and rotate
//     the verification secret, each change audited; the inbound side
//     (Receive: the one lookup of the channel and its secret, verification,
//     the timestamp window, parsing, and Accept: each message's dedupe row
//     and its sealed job in one transaction); and the outbound side (Reply:
//     each part recorded before and after its one platform call, with
//     bounded retries honouring the platform's rate-limit answers);
//   - Rejections, which audits verification failures aggregated per bot,
//     channel kind, reason and minute.
//
// What a platform needs to verify inbound requests lives in the channel's
// sealed secret column, what it needs to send in its sealed credentials
// column; both are opened only where they are used.
//
// It must never return, log or audit a credential or a verification
// secret (responses carry masked values only), never parse a payload
// before it is verified, never tell an unknown bot from a wrong signature
// in what it answers, never put a message text or reply route in the queue
// unsealed, never send a reply part again that the platform accepted, and
// never speak HTTP to a client: the webhook surface and the API translate.
package channel
