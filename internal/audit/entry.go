package audit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/redact"
)

// Action names what happened. Every security-relevant action of the
// platform records one of these; a new one is added here, not spelled out
// at the call site.
type Action string

const (
	ActionLoginSuccess       Action = "login.success"
	ActionLoginFailure       Action = "login.failure"
	ActionLoginMFAPending    Action = "login.password_ok_mfa_pending"
	ActionLoginMFA           Action = "login.mfa"
	ActionLogout             Action = "logout"
	ActionSignup             Action = "signup"
	ActionSetupOwner         Action = "workspace.setup_owner"
	ActionEmailVerified      Action = "email.verified"
	ActionMFAEnabled         Action = "mfa.enabled"
	ActionMFADisabled        Action = "mfa.disabled"
	ActionMFARequired        Action = "mfa.required_changed"
	ActionRecoveryCodeUsed   Action = "mfa.recovery_code_used"
	ActionRecoveryCodesReset Action = "mfa.recovery_codes_reset"
	ActionPasswordChanged    Action = "password.changed"
	ActionPasswordReset      Action = "password.reset"
	ActionPasswordResetAsked Action = "password.reset_requested"
	ActionSessionRevoked     Action = "session.revoked"
	ActionInvitationCreated  Action = "invitation.created"
	ActionInvitationAccepted Action = "invitation.accepted"
	ActionInvitationRevoked  Action = "invitation.revoked"
	ActionMemberRoleChanged  Action = "member.role_changed"
	ActionMemberRemoved      Action = "member.removed"
	ActionAPIKeyCreated      Action = "apikey.created"
	ActionAPIKeyRevoked      Action = "apikey.revoked"
	ActionBotCreated         Action = "bot.created"
	ActionBotChanged         Action = "bot.changed"
	ActionBotDeleted         Action = "bot.deleted"
	ActionBotTokenRotated    Action = "bot.gateway_token_rotated"
	ActionDocumentAdded      Action = "document.added"
	ActionDocumentDeleted    Action = "document.deleted"
	ActionChannelChanged     Action = "channel.changed"
	ActionChannelConnected   Action = "channel.connected"
	ActionChannelRemoved     Action = "channel.disconnected"
	ActionWebhookRejected    Action = "webhook.rejected"
	ActionSecretChanged      Action = "secret.changed"
	ActionKeyRotated         Action = "key.rotated"
	ActionExportCreated      Action = "export.created"
	ActionWorkspaceCreated   Action = "workspace.created"
	ActionWorkspaceChanged   Action = "workspace.changed"
	ActionWorkspaceDeleted   Action = "workspace.deleted"
	ActionAccountDeleted     Action = "account.deleted"
	ActionEgressDenied       Action = "egress.denied"
	ActionPolicyDenied       Action = "policy.denied"
	ActionBackupCreated      Action = "backup.created"
	ActionBackupRestored     Action = "backup.restored"
)

// Operator actions on a workspace or an account, from the CLI.
const (
	ActionWorkspaceSuspended Action = "workspace.suspended"
	ActionWorkspaceResumed   Action = "workspace.resumed"
	// ActionPasswordResetIssued records a reset link the operator made
	// for a user (never the link).
	ActionPasswordResetIssued Action = "password.reset_issued"
	// ActionMFAReset records the operator removing a user's second
	// factor.
	ActionMFAReset Action = "mfa.reset"
)

// ActionConversationDeleted records a conversation deleted with its
// messages.
const ActionConversationDeleted Action = "conversation.deleted"

// actionPattern keeps actions to dotted lower-case names, so a caller can
// never smuggle free text (or a secret) in through the action.
var actionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// Outcome says whether the action succeeded.
type Outcome string

const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeDenied  Outcome = "denied"
)

// Actors that are not a user or an API key (those are named by their id).
const (
	ActorCLI       = "cli"
	ActorSystem    = "system"
	ActorAnonymous = "anonymous"
)

// Entry is what a caller records. The workspace comes from the scope passed
// to Record; seq, id, time and hashes are assigned when the entry is
// appended. There is no time to give: the store sets it, so that nobody who
// can record an entry can also date it.
type Entry struct {
	// Actor is who acted: a user id, an API key id, or ActorCLI,
	// ActorSystem, ActorAnonymous.
	Actor  string
	Action Action
	// Target is what was acted on, usually an id (for a failed log-in, the
	// e-mail address tried).
	Target  string
	Outcome Outcome
	// ClientIP is the client address as the edge determined it; the zero
	// value records none.
	ClientIP  netip.Addr
	RequestID string
	// Detail is a few plain facts (a role, a scope list, a reason). Keys
	// are lower-case names; a key that names a secret (password, token,
	// secret, api_key, ...) has its value replaced by a marker, and every
	// value goes through the redactor, so a secret cannot enter the log.
	Detail map[string]string
}

// Limits on what one entry may carry.
const (
	MaxActorLen       = 128
	MaxTargetLen      = 256
	MaxRequestIDLen   = 64
	MaxDetailKeys     = 16
	MaxDetailValueLen = 256
	maxActionLen      = 64
)

var (
	detailKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// normalized is an Entry checked, cleaned and redacted, ready to store.
type normalized struct {
	actor, action, target, outcome, ip, requestID, detail string
}

// normalize checks what only a programming mistake gets wrong (action,
// outcome, detail keys: an error) and cleans what may come from outside
// (actor, target, request id, detail values: made safe, never refused, so
// that an attacker cannot keep an event out of the log by sending odd
// input).
func normalize(e Entry, red *redact.Redactor) (normalized, error) {
	var n normalized
	if len(e.Action) > maxActionLen || !actionPattern.MatchString(string(e.Action)) {
		return n, fmt.Errorf("audit: invalid action %q", e.Action)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied:
	default:
		return n, fmt.Errorf("audit: invalid outcome %q for %s", e.Outcome, e.Action)
	}
	if len(e.Detail) > MaxDetailKeys {
		return n, fmt.Errorf("audit: %d detail keys for %s, at most %d", len(e.Detail), e.Action, MaxDetailKeys)
	}
	detail := make(map[string]string, len(e.Detail))
	for k, v := range e.Detail {
		if !detailKeyPattern.MatchString(k) {
			return n, fmt.Errorf("audit: invalid detail key %q for %s", k, e.Action)
		}
		if red.SensitiveKey(k) {
			// The key says the value is a secret: keep the fact, never the value.
			detail[k] = redact.Marker
			continue
		}
		detail[k] = clean(red, v, MaxDetailValueLen)
	}
	n.action = string(e.Action)
	n.outcome = string(e.Outcome)
	n.actor = clean(red, e.Actor, MaxActorLen)
	if n.actor == "" {
		n.actor = ActorAnonymous
	}
	n.target = clean(red, e.Target, MaxTargetLen)
	if e.ClientIP.IsValid() {
		n.ip = e.ClientIP.Unmap().String()
	}
	if requestIDPattern.MatchString(e.RequestID) {
		n.requestID = e.RequestID
	}
	if len(detail) > 0 {
		// encoding/json writes map keys sorted, so equal details encode
		// alike; the stored text is hashed byte for byte either way.
		b, err := json.Marshal(detail)
		if err != nil {
			return n, fmt.Errorf("audit: encoding detail: %w", err)
		}
		n.detail = string(b)
	}
	return n, nil
}

// clean makes outside text safe to store and show: valid UTF-8, no control
// or bidirectional-override characters, at most max bytes, and redacted.
func clean(red *redact.Redactor, s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '\uFFFD'
		}
		return r
	}, s)
	// Redact before truncating: cut first, a secret's tail could fall off
	// and leave a prefix the patterns no longer recognise.
	s = red.String(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}

// DecodeDetail parses a stored detail back into its map, for display.
func DecodeDetail(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decoding audit detail: %w", err)
	}
	return m, nil
}
