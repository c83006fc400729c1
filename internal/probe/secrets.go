package probe

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Secrets are what the probe needs to act as a platform or a user: the
// secret each connected channel verifies deliveries with, so it can sign a
// genuine delivery and replay it.
type Secrets struct {
	Channels []ChannelSecret
	// Login is an account's e-mail address and password, for the check
	// that signing in issues a fresh session; zero skips it.
	Login Login
}

// Login is an account the probe may sign in as (and out again).
type Login struct {
	Email    string
	Password secret.Secret
}

// ChannelSecret is one connected channel's verification secret.
type ChannelSecret struct {
	// Kind is the platform: telegram, slack, whatsapp or discord.
	Kind string
	// Bot is the id of the bot the channel belongs to.
	Bot palisade.BotID
	// Secret signs deliveries: Telegram's secret token, Slack's signing
	// secret, WhatsApp's app secret, or the hex Ed25519 private key
	// (seed or full key) whose public key the Discord channel holds.
	Secret secret.Secret
}

// Channel returns the secret given for a platform, if any.
func (s Secrets) Channel(kind string) (ChannelSecret, bool) {
	for _, c := range s.Channels {
		if c.Kind == kind {
			return c, true
		}
	}
	return ChannelSecret{}, false
}

// ChannelKinds are the platforms the probe can sign deliveries for.
func ChannelKinds() []string { return []string{"telegram", "slack", "whatsapp", "discord"} }

// ParseSecrets reads a secrets file, YAML or JSON:
//
//	channels:
//	  - kind: telegram
//	    bot: bot_…
//	    secret: …
//	login:
//	  email: …
//	  password: …
func ParseSecrets(raw []byte) (Secrets, error) {
	var f struct {
		Channels []struct {
			Kind   string `yaml:"kind"`
			Bot    string `yaml:"bot"`
			Secret string `yaml:"secret"`
		} `yaml:"channels"`
		Login struct {
			Email    string `yaml:"email"`
			Password string `yaml:"password"`
		} `yaml:"login"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return Secrets{}, fmt.Errorf("probe: parsing the secrets file: %w", err)
	}
	var out Secrets
	for i, c := range f.Channels {
		if !slices.Contains(ChannelKinds(), c.Kind) {
			return Secrets{}, fmt.Errorf("probe: secrets file: channel %d: kind %q is none of %v", i+1, c.Kind, ChannelKinds())
		}
		if !palisade.ValidID(palisade.PrefixBot, c.Bot) {
			return Secrets{}, fmt.Errorf("probe: secrets file: channel %d (%s): bot must be a bot id", i+1, c.Kind)
		}
		if c.Secret == "" {
			return Secrets{}, fmt.Errorf("probe: secrets file: channel %d (%s): no secret", i+1, c.Kind)
		}
		if _, dup := out.Channel(c.Kind); dup {
			return Secrets{}, fmt.Errorf("probe: secrets file: two %s channels; give one per platform", c.Kind)
		}
		out.Channels = append(out.Channels, ChannelSecret{Kind: c.Kind, Bot: palisade.BotID(c.Bot), Secret: secret.New(c.Secret)})
	}
	if (f.Login.Email == "") != (f.Login.Password == "") {
		return Secrets{}, fmt.Errorf("probe: secrets file: login needs both email and password")
	}
	if f.Login.Email != "" {
		out.Login = Login{Email: f.Login.Email, Password: secret.New(f.Login.Password)}
	}
	return out, nil
}
