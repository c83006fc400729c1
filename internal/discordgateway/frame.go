// Package discordgateway keeps a Discord Gateway session (protocols.md
// §4.2) for each connected Discord bot, because ordinary DMs and mentions
// never arrive over HTTP. A session dials the Gateway through the egress
// policy (egress.Client.WebSocketClient), heartbeats on Hello's interval
// with a random first beat and treats a beat left unacknowledged as a
// zombie connection, identifies with the DM, guild-message and
// message-content intents, resumes after a disconnect with its session id,
// sequence number and resume URL, and handles Reconnect and Invalid
// Session. It never identifies more often than Discord allows: at most one
// IDENTIFY per IdentifyInterval for a bot (max_concurrency 1), and none
// while GET /gateway/bot reports the session start limit spent.
//
// Each MESSAGE_CREATE the bot answers (discord.MessageFromEvent) goes to
// the channel service's Accept: its dedupe record and durable job in one
// transaction, as a webhook delivery's; the sequence number advances only
// once it is accepted, so an event lost to a failure is replayed on the
// resume. Replies leave from the job workers over REST.
//
// With several processes, exactly one owns each bot's session: the Runner
// holds a lease per channel in the database, renews it every few seconds,
// and stops a session whose lease it lost; a process that dies stops
// renewing, and another takes its sessions over once the leases expire.
//
// It must never log or return the bot token or a message's content.
package discordgateway

import (
	"encoding/json"
	"errors"
)

// Gateway opcodes (§4.2).
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

// Frame is one Gateway payload: an opcode, its data, and for dispatches
// the sequence number and event name.
type Frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

// MaxFrame bounds one Gateway message; with only message intents, no event
// comes near it.
const MaxFrame = 4 << 20

var errFrame = errors.New("discordgateway: not a Gateway payload")

// DecodeFrame decodes one Gateway payload from the wire: a JSON object
// with an opcode; a dispatch needs its event name and a positive sequence
// number.
func DecodeFrame(data []byte) (Frame, error) {
	if len(data) > MaxFrame {
		return Frame{}, errFrame
	}
	var raw struct {
		Op *int            `json:"op"`
		D  json.RawMessage `json:"d"`
		S  *int64          `json:"s"`
		T  *string         `json:"t"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Op == nil || *raw.Op < 0 || *raw.Op > 50 {
		return Frame{}, errFrame
	}
	f := Frame{Op: *raw.Op, D: raw.D, S: raw.S, T: raw.T}
	if f.Op == opDispatch && (f.T == nil || f.S == nil || *f.S <= 0) {
		return Frame{}, errFrame
	}
	return f, nil
}

// hello is op 10's data.
type hello struct {
	HeartbeatInterval int64 `json:"heartbeat_interval"`
}

// ready is the part of READY kept for resuming.
type ready struct {
	SessionID        string `json:"session_id"`
	ResumeGatewayURL string `json:"resume_gateway_url"`
	User             struct {
		ID string `json:"id"`
	} `json:"user"`
}

type identifyData struct {
	Token      string            `json:"token"`
	Intents    int               `json:"intents"`
	Properties map[string]string `json:"properties"`
}

type resumeData struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

type outFrame struct {
	Op int `json:"op"`
	D  any `json:"d"`
}
