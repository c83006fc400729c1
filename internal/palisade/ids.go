package palisade

import (
	"crypto/rand"
	"encoding/base32"
	"regexp"
	"strings"
)

// IDs are a prefix naming the kind, an underscore, and 26 characters of
// lowercase base32 carrying 128 random bits. The strict pattern is checked
// before any lookup, so a malformed id never reaches a query (R1).

// Prefix names the kind of an id.
type Prefix string

const (
	PrefixWorkspace    Prefix = "ws"
	PrefixUser         Prefix = "usr"
	PrefixMembership   Prefix = "mem"
	PrefixSession      Prefix = "ses"
	PrefixInvitation   Prefix = "inv"
	PrefixAPIKey       Prefix = "key"
	PrefixBot          Prefix = "bot"
	PrefixChannel      Prefix = "ch"
	PrefixConversation Prefix = "conv"
	PrefixMessage      Prefix = "msg"
	PrefixDocument     Prefix = "doc"
	PrefixChunk        Prefix = "chk"
	PrefixAudit        Prefix = "aud"
	PrefixToken        Prefix = "tok"
	PrefixUsage        Prefix = "use"
	PrefixSecret       Prefix = "sec"
	// PrefixEventEndpoint names a workspace's outgoing webhook endpoint,
	// PrefixEvent one event sent to it (its webhook-id), and
	// PrefixEventDelivery one attempt to send it.
	PrefixEventEndpoint Prefix = "whk"
	PrefixEvent         Prefix = "evt"
	PrefixEventDelivery Prefix = "evd"
)

const idRandomLen = 26 // 128 bits in base32 without padding

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

var idPattern = regexp.MustCompile(`^([a-z]{2,4})_([a-z2-7]{26})$`)

// NewID returns a fresh random id with the given prefix.
func NewID(p Prefix) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return string(p) + "_" + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s is a well-formed id of kind p.
func ValidID(p Prefix, s string) bool {
	if len(s) != len(p)+1+idRandomLen || !strings.HasPrefix(s, string(p)+"_") {
		return false
	}
	m := idPattern.FindStringSubmatch(s)
	return m != nil && m[1] == string(p)
}

// Typed ids. Each has a constructor and a parser that enforces its pattern.

type (
	WorkspaceID    string
	UserID         string
	MembershipID   string
	SessionID      string
	InvitationID   string
	APIKeyID       string
	BotID          string
	ChannelID      string
	ConversationID string
	MessageID      string
	DocumentID     string
	AuditID        string
)

func NewWorkspaceID() WorkspaceID       { return WorkspaceID(NewID(PrefixWorkspace)) }
func NewUserID() UserID                 { return UserID(NewID(PrefixUser)) }
func NewMembershipID() MembershipID     { return MembershipID(NewID(PrefixMembership)) }
func NewSessionID() SessionID           { return SessionID(NewID(PrefixSession)) }
func NewInvitationID() InvitationID     { return InvitationID(NewID(PrefixInvitation)) }
func NewAPIKeyID() APIKeyID             { return APIKeyID(NewID(PrefixAPIKey)) }
func NewBotID() BotID                   { return BotID(NewID(PrefixBot)) }
func NewChannelID() ChannelID           { return ChannelID(NewID(PrefixChannel)) }
func NewConversationID() ConversationID { return ConversationID(NewID(PrefixConversation)) }
func NewMessageID() MessageID           { return MessageID(NewID(PrefixMessage)) }
func NewDocumentID() DocumentID         { return DocumentID(NewID(PrefixDocument)) }
func NewAuditID() AuditID               { return AuditID(NewID(PrefixAudit)) }

func parseID[T ~string](p Prefix, field, s string) (T, error) {
	if !ValidID(p, s) {
		return "", FieldError(field, "malformed %s id", field)
	}
	return T(s), nil
}

func ParseWorkspaceID(s string) (WorkspaceID, error) {
	return parseID[WorkspaceID](PrefixWorkspace, "workspace", s)
}
func ParseUserID(s string) (UserID, error) { return parseID[UserID](PrefixUser, "user", s) }
func ParseSessionID(s string) (SessionID, error) {
	return parseID[SessionID](PrefixSession, "session", s)
}
func ParseInvitationID(s string) (InvitationID, error) {
	return parseID[InvitationID](PrefixInvitation, "invitation", s)
}
func ParseAPIKeyID(s string) (APIKeyID, error) { return parseID[APIKeyID](PrefixAPIKey, "key", s) }
func ParseBotID(s string) (BotID, error)       { return parseID[BotID](PrefixBot, "bot", s) }
func ParseChannelID(s string) (ChannelID, error) {
	return parseID[ChannelID](PrefixChannel, "channel", s)
}
func ParseConversationID(s string) (ConversationID, error) {
	return parseID[ConversationID](PrefixConversation, "conversation", s)
}
func ParseMessageID(s string) (MessageID, error) {
	return parseID[MessageID](PrefixMessage, "message", s)
}
func ParseDocumentID(s string) (DocumentID, error) {
	return parseID[DocumentID](PrefixDocument, "document", s)
}

var wildcardPattern = regexp.MustCompile(`\{([A-Za-z]+)(?:\.\.\.)?\}`)

// PathWildcards returns the names of the wildcards of a route pattern
// ("/w/{workspaceId}/bots/{botId}" gives workspaceId and botId), which the
// routers check before anything else runs.
func PathWildcards(pattern string) []string {
	var out []string
	for _, m := range wildcardPattern.FindAllStringSubmatch(pattern, -1) {
		out = append(out, m[1])
	}
	return out
}

// PathParamPrefix says which id kind a route wildcard carries. Every
// wildcard of every route must be listed: the routers check it against its
// pattern before anything else runs, so a malformed id is refused with no
// query (R1), and a test fails on a wildcard missing here.
func PathParamPrefix(name string) (Prefix, bool) {
	switch name {
	case "workspaceId":
		return PrefixWorkspace, true
	case "userId":
		return PrefixUser, true
	case "memberId":
		return PrefixMembership, true
	case "sessionId":
		return PrefixSession, true
	case "invitationId":
		return PrefixInvitation, true
	case "keyId":
		return PrefixAPIKey, true
	case "botId":
		return PrefixBot, true
	case "channelId":
		return PrefixChannel, true
	case "conversationId":
		return PrefixConversation, true
	case "messageId":
		return PrefixMessage, true
	case "documentId":
		return PrefixDocument, true
	case "webhookId":
		return PrefixEventEndpoint, true
	case "providerKeyId":
		return PrefixSecret, true
	}
	return "", false
}
