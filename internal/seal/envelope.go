package seal

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

const (
	// FormatV1 is the first byte of an envelope: AES-256-GCM under a
	// workspace data key, random 96-bit nonce. A later algorithm gets a new
	// format byte; Reseal moves old envelopes to the newest format.
	FormatV1 byte = 1

	// NonceSize is the GCM nonce size, drawn at random for every seal.
	NonceSize = 12
	// TagSize is the GCM authentication tag size.
	TagSize = 16

	headerLen = 1 + 4 // format, data key version
	// Overhead is how many bytes an envelope adds to its plaintext.
	Overhead = headerLen + NonceSize + TagSize
)

// Field names the place a sealed value lives. All three parts are bound into
// the envelope, so the value opens only in the same place. It is the
// domain's palisade.SealedField, so that the store's Sealer interface can
// name it and *Keyring satisfies that interface as it is.
type Field = palisade.SealedField

func checkField(f Field) error {
	if f.Table == "" || f.Column == "" || f.RowID == "" {
		return errors.New("seal: a field needs a table, a column and a row id")
	}
	return nil
}

// checkWorkspace accepts exactly what palisade.ValidID accepts for a
// workspace id ("ws_" and 26 characters of lower-case base32), without its
// regexp, which would be a third of the cost of sealing a short value.
func checkWorkspace(ws palisade.WorkspaceID) error {
	const prefix = string(palisade.PrefixWorkspace) + "_"
	s := string(ws)
	ok := len(s) == len(prefix)+26 && s[:len(prefix)] == prefix
	for i := len(prefix); ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= '2' && c <= '7'
	}
	if !ok {
		return errors.New("seal: malformed workspace id")
	}
	return nil
}

// Seal encrypts plaintext for one field of one workspace under the
// workspace's current data key, creating the workspace's first data key on
// its first seal. Every call draws a fresh random nonce, so sealing the same
// plaintext twice gives different envelopes.
func (k *Keyring) Seal(ctx context.Context, ws palisade.WorkspaceID, f Field, plaintext []byte) (_ []byte, err error) {
	defer func() { k.observe("seal", err) }()
	if err := checkWorkspace(ws); err != nil {
		return nil, err
	}
	if err := checkField(f); err != nil {
		return nil, err
	}
	v, aead, err := k.currentDataKey(ctx, ws)
	if err != nil {
		return nil, err
	}
	var h [headerLen]byte
	h[0] = FormatV1
	binary.BigEndian.PutUint32(h[1:], v)
	return sealEnvelope(aead, h[:], plaintext, fieldAAD(FormatV1, ws, f, v)), nil
}

// sealEnvelope returns header followed by a fresh random nonce, the
// ciphertext and the tag: the one AES-256-GCM envelope of this package, for
// the fields of workspaces and the secrets of users alike. aead comes from
// newAEAD, which draws the nonce.
func sealEnvelope(aead cipher.AEAD, header, plaintext, aad []byte) []byte {
	out := make([]byte, len(header), len(header)+aead.Overhead()+len(plaintext))
	copy(out, header)
	return aead.Seal(out, nil, plaintext, aad)
}

// openEnvelope opens what follows the header (its first headerSize bytes)
// of an envelope made by sealEnvelope. Every failure is ErrOpen, alike: the
// reason would help only someone probing.
func openEnvelope(aead cipher.AEAD, envelope []byte, headerSize int, aad []byte) ([]byte, error) {
	if len(envelope) < headerSize+NonceSize+TagSize {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, nil, envelope[headerSize:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Open decrypts an envelope sealed for exactly this workspace and field.
// Errors: ErrKeyDestroyed after DestroyWorkspace; ErrOpen for anything
// malformed, tampered with, sealed elsewhere, or under a retired data key
// version (then also ErrKeyNotFound).
func (k *Keyring) Open(ctx context.Context, ws palisade.WorkspaceID, f Field, envelope []byte) (_ []byte, err error) {
	defer func() { k.observe("open", err) }()
	if err := checkWorkspace(ws); err != nil {
		return nil, err
	}
	if err := checkField(f); err != nil {
		return nil, err
	}
	format, v, err := EnvelopeInfo(envelope)
	if err != nil {
		return nil, err
	}
	aead, err := k.dataKey(ctx, ws, v)
	if err != nil {
		return nil, err
	}
	return openEnvelope(aead, envelope, headerLen, fieldAAD(format, ws, f, v))
}

// OpenSecret opens an envelope holding a secret (a bot token, a provider
// key) straight into a secret.Secret.
func (k *Keyring) OpenSecret(ctx context.Context, ws palisade.WorkspaceID, f Field, envelope []byte) (secret.Secret, error) {
	pt, err := k.Open(ctx, ws, f, envelope)
	if err != nil {
		return secret.Secret{}, err
	}
	s := secret.New(string(pt))
	clear(pt)
	return s, nil
}

// EnvelopeInfo reads an envelope's header without opening it: its format
// and the version of the data key that sealed it.
func EnvelopeInfo(envelope []byte) (format byte, dataKeyVersion uint32, err error) {
	if len(envelope) < Overhead {
		return 0, 0, fmt.Errorf("%w: envelope of %d bytes is too short", ErrOpen, len(envelope))
	}
	if envelope[0] != FormatV1 {
		return 0, 0, fmt.Errorf("%w: unknown envelope format %d", ErrOpen, envelope[0])
	}
	v := binary.BigEndian.Uint32(envelope[1:headerLen])
	if v == 0 {
		return 0, 0, fmt.Errorf("%w: data key version 0", ErrOpen)
	}
	return envelope[0], v, nil
}

// NeedsReseal reports whether an envelope of the workspace is sealed under
// an older data key version or format than the current ones: what
// `palisade keys reencrypt` asks of every sealed field.
func (k *Keyring) NeedsReseal(ctx context.Context, ws palisade.WorkspaceID, envelope []byte) (bool, error) {
	format, v, err := EnvelopeInfo(envelope)
	if err != nil {
		return false, err
	}
	cur, err := k.currentVersion(ctx, ws)
	if err != nil {
		return false, err
	}
	return format != FormatV1 || v < cur, nil
}

// currentVersion is the workspace's current data key version, without
// making one.
func (k *Keyring) currentVersion(ctx context.Context, ws palisade.WorkspaceID) (uint32, error) {
	if err := checkWorkspace(ws); err != nil {
		return 0, err
	}
	if v, ok := k.cache.current(ws); ok {
		return v, nil
	}
	list, err := k.dataKeys(ctx, ws)
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, fmt.Errorf("%w: %s has no data key", ErrKeyNotFound, ws)
	}
	return list[len(list)-1].Version, nil
}

// Reseal opens an envelope and seals it again under the workspace's current
// data key. An envelope that is already current is returned as it is, so
// running a reseal pass twice costs no writes the second time (compare the
// result with the input).
func (k *Keyring) Reseal(ctx context.Context, ws palisade.WorkspaceID, f Field, envelope []byte) ([]byte, error) {
	needs, err := k.NeedsReseal(ctx, ws, envelope)
	if err != nil {
		return nil, err
	}
	if !needs {
		// Still check it opens here: a reseal pass must not bless an
		// envelope copied from elsewhere.
		pt, err := k.Open(ctx, ws, f, envelope)
		if err != nil {
			return nil, err
		}
		clear(pt)
		return envelope, nil
	}
	pt, err := k.Open(ctx, ws, f, envelope)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return k.Seal(ctx, ws, f, pt)
}

// The associated data of each level is a domain label and the values it
// binds, each prefixed with its length, so no two distinct tuples encode
// alike and no level's AAD can stand in for another's.

func kekAAD(version uint32) []byte {
	b := make([]byte, 0, 64)
	b = appendString(b, "palisade/seal/kek")
	return appendUint32(b, version)
}

func dataKeyAAD(ws palisade.WorkspaceID, version, kekVersion uint32) []byte {
	b := make([]byte, 0, 96)
	b = appendString(b, "palisade/seal/data-key")
	b = appendString(b, string(ws))
	b = appendUint32(b, version)
	return appendUint32(b, kekVersion)
}

func fieldAAD(format byte, ws palisade.WorkspaceID, f Field, version uint32) []byte {
	b := make([]byte, 0, 64+len(ws)+len(f.Table)+len(f.Column)+len(f.RowID))
	b = appendString(b, "palisade/seal/field")
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, format)
	b = appendString(b, string(ws))
	b = appendString(b, f.Table)
	b = appendString(b, f.Column)
	b = appendString(b, f.RowID)
	return appendUint32(b, version)
}

// appendString appends a length-prefixed part.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendUint32 appends a number as a length-prefixed 4-byte part.
func appendUint32(b []byte, v uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, v)
}
