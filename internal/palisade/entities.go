package palisade

import "time"

// Message roles.
const (
	MessageUser      = "user"
	MessageAssistant = "assistant"
)

// Session is a browser session; its token is never stored, only its hash.
type Session struct {
	ID         SessionID
	UserID     UserID
	MFAPending bool
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
}

// Conversation is one thread between a bot and a user or group on a channel.
type Conversation struct {
	ID            ConversationID
	WorkspaceID   WorkspaceID
	BotID         BotID
	Key           string
	Channel       string
	ExternalUser  string
	CreatedAt     time.Time
	LastMessageAt time.Time
}

// Message is one stored message. Its body is sealed in the database
// (messages.sealed_body, bound to workspace and message id) and opened by
// the store on the way out; it is never stored in clear.
type Message struct {
	ID             MessageID
	ConversationID ConversationID
	BotID          BotID
	Role           string // MessageUser or MessageAssistant
	Body           string
	InboundRef     string
	TokensIn       int64
	TokensOut      int64
	Seq            int64
	CreatedAt      time.Time
	// Sources are the passages an answer cited, sealed with the body
	// (messages.sealed_sources); none for a question.
	Sources []MessageSource
}

// MessageSource is one passage an answer cited: its document, and the
// title and excerpt as they were when the answer was given.
type MessageSource struct {
	DocumentID DocumentID `json:"document_id"`
	Title      string     `json:"title"`
	Excerpt    string     `json:"excerpt"`
}

// Document is one uploaded knowledge document; its text lives in its chunks.
type Document struct {
	ID          DocumentID
	WorkspaceID WorkspaceID
	BotID       BotID
	Title       string
	ContentType string
	SizeBytes   int64
	Chunks      int
	CreatedAt   time.Time
}

// Passage is one chunk found by a search, with its source.
type Passage struct {
	ChunkID    string
	DocumentID DocumentID
	Title      string
	Ordinal    int
	Body       string
	// Score orders results, higher is better; only comparable within one
	// search.
	Score float64
}

type Invitation struct {
	ID          InvitationID
	WorkspaceID WorkspaceID
	Email       string
	Role        Role
	InvitedBy   UserID
	CreatedAt   time.Time
	ExpiresAt   time.Time
	AcceptedAt  *time.Time
}

// Channel is a bot's connection to a messaging platform. Its credentials
// (bot token, app secret...) and webhook secret are sealed columns, read
// only through ChannelCredentials and ChannelSecret.
type Channel struct {
	ID          ChannelID
	WorkspaceID WorkspaceID
	BotID       BotID
	Kind        string // "telegram", "whatsapp", "slack", "discord", "widget"
	Name        string
	ExternalID  string
	Config      string // non-secret settings (JSON)
	Status      string
	// HasCredentials and HasSecret say whether the sealed values are set,
	// without opening them.
	HasCredentials bool
	HasSecret      bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}
