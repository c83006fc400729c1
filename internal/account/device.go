package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Known devices. A browser that completes a log-in gets a device token (a
// cookie next to the session's, outliving it); the store keeps only a keyed
// hash of it, bound to the user, expiring DeviceTTL after that log-in. Each
// full log-in from the device replaces its token, so a device in use stays
// known and a copied cookie dies at the owner's next log-in.
//
// A known device's failed passwords count against its own budget
// (ratelimit.ClassLoginDevice) instead of the account's, so failures from
// anywhere else cannot keep the owner out of their own browser. One account
// per browser is remembered: the last one to sign in there.

// DeviceTTL is how long a device stays known after its last full log-in.
const DeviceTTL = 30 * 24 * time.Hour

// minDeviceKey is the shortest DeviceKey New accepts.
const minDeviceKey = 32

// deviceHash is the stored form of a device token: HMAC-SHA256 under the
// service's device key, so the database alone (a backup, an injected
// read) can neither confirm a stolen cookie nor forge a row for one.
func (s *Service) deviceHash(tok secret.Secret) []byte {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("palisade known device v1\x00"))
	m.Write([]byte(tok.Reveal()))
	return m.Sum(nil)
}

// presented is the device a request's cookie names, when it names one
// that is known and unexpired.
type presented struct {
	device store.Device
	hash   []byte
	ok     bool
}

// of reports whether the presented device is one of user's.
func (p presented) of(user palisade.UserID) bool { return p.ok && p.device.UserID == user }

// device resolves the client's device token. It runs whenever a cookie is
// sent, before and whatever the account typed, so that whether the device
// is looked up never depends on whether an account exists.
func (s *Service) device(ctx context.Context, c Client) presented {
	if c.Device.IsZero() {
		return presented{}
	}
	h := s.deviceHash(c.Device)
	d, err := s.o.Store.GetDevice(ctx, h, s.o.Now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.o.Logger.ErrorContext(ctx, "reading a known device failed", "err", err)
		}
		return presented{}
	}
	return presented{device: d, hash: h, ok: true}
}

// deviceBudget is the failure budget of a known device, keyed by its
// stored hash, which names it without being the token.
func deviceBudget(p presented) limitCheck {
	return limitCheck{ratelimit.ClassLoginDevice, hex.EncodeToString(p.hash)}
}

// rememberDevice issues a fresh device token for user after a full log-in,
// replacing the one the browser presented (whoever it belonged to). A
// failure only costs the user the device's exemption, so it is logged, not
// returned.
func (s *Service) rememberDevice(ctx context.Context, user palisade.UserID, old presented) secret.Secret {
	if old.ok {
		if err := s.o.Store.DeleteDevice(ctx, old.device.UserID, old.hash); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.o.Logger.ErrorContext(ctx, "forgetting a replaced device failed", "err", err)
		}
	}
	tok := auth.NewToken() // 256 random bits in the session token's form
	now := s.o.Now()
	if err := s.o.Store.CreateDevice(ctx, store.CreateDeviceParams{UserID: user, Hash: s.deviceHash(tok), Now: now,
		ExpiresAt: now.Add(DeviceTTL)}); err != nil {
		s.o.Logger.ErrorContext(ctx, "remembering a device failed", "err", err)
		return secret.Secret{}
	}
	return tok
}

// newDeviceKey returns a random device key for a service given none: its
// devices are then known to this process only, until it restarts.
func newDeviceKey() []byte {
	k := make([]byte, minDeviceKey)
	_, _ = rand.Read(k) // crypto/rand.Read never returns an error (Go 1.24+)
	return k
}
