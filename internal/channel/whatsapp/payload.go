package whatsapp

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/palisade"
)

// notification is the part of an event notification the bot reads
// (protocols.md §2.3). Every id and timestamp is a string.
type notification struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Field string `json:"field"`
	Value value  `json:"value"`
}

type value struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Messages []message        `json:"messages"`
	Statuses []map[string]any `json:"statuses"`
}

type message struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	GroupID   string `json:"group_id"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
}

// The object every WhatsApp Business Account notification names.
const objectWABA = "whatsapp_business_account"

var errNotANotification = palisade.Errorf(palisade.CodeInvalid, "the body is not a WhatsApp Business Account notification")

// waIDPattern is a WhatsApp user id: the phone number's digits.
var waIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)

// maxKey bounds a message id used as the dedupe key (wamids are about 60
// characters).
const maxKey = 256

// ParsePayload reads a verified notification for the phone number
// phoneID: every entry, change and message of a batch. A message is
// answered when it is a text message from a person (not in a group) sent
// to phoneID, no older than MaxAge at now; anything else — status
// callbacks, other fields, other message types, other phone numbers of the
// same app — is acknowledged and dropped. The dedupe key is the message
// id (wamid), and the reply goes to the sender's wa_id. A body that is not
// a notification is a palisade.CodeInvalid error.
func ParsePayload(body []byte, phoneID string, now time.Time) ([]channel.Message, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil || n.Object != objectWABA {
		return nil, errNotANotification
	}
	var out []channel.Message
	seen := map[string]bool{}
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			if c.Field != "messages" || c.Value.Metadata.PhoneNumberID != phoneID || phoneID == "" {
				continue
			}
			for _, m := range c.Value.Messages {
				if !answerable(m, now) || seen[m.ID] {
					continue
				}
				seen[m.ID] = true
				out = append(out, channel.Message{Key: m.ID, UserID: m.From, Text: m.Text.Body, Route: channel.Route{Chat: m.From}})
			}
		}
	}
	return out, nil
}

// answerable reports whether m is a text message from a person, with an
// id fit to be a dedupe key, sent within MaxAge of now.
func answerable(m message, now time.Time) bool {
	if m.Type != "text" || m.Text == nil || strings.TrimSpace(m.Text.Body) == "" || m.GroupID != "" {
		return false
	}
	if !waIDPattern.MatchString(m.From) || m.ID == "" || len(m.ID) > maxKey || strings.IndexFunc(m.ID, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) >= 0 {
		return false
	}
	ts, err := strconv.ParseInt(m.Timestamp, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(ts, 0))
	return age <= MaxAge && age >= -MaxAge
}
