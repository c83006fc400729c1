package seal

import (
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/secret"
)

const (
	// KeySize is the size of every key: master key, KEKs and data keys.
	KeySize = 32

	// PBKDF2Iterations is the PBKDF2-SHA256 iteration count for a new
	// passphrase salt file: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. A
	// salt file records its own count, never lower than this.
	PBKDF2Iterations = 600_000

	// maxPBKDF2Iterations bounds what a salt file may ask for, so that a
	// damaged file cannot stall start-up for hours.
	maxPBKDF2Iterations = 100_000_000

	// SaltSize is the size of a new passphrase salt.
	SaltSize = 32

	// MinPassphraseLen is the shortest passphrase accepted, in characters.
	MinPassphraseLen = 12

	// MasterKeyFile and SaltFile are the file names in the key directory.
	MasterKeyFile = "master.key"
	SaltFile      = "master.salt"
)

// Source says where a master key came from.
type Source string

const (
	SourceEnv        Source = "env"        // PALISADE_MASTER_KEY
	SourcePassphrase Source = "passphrase" // PALISADE_MASTER_PASSPHRASE and the salt file
	SourceFile       Source = "file"       // the master.key file
)

// MasterKey is the root of the key hierarchy. It never prints: every fmt
// verb, slog and JSON show [REDACTED]. The zero value is not a key.
type MasterKey struct {
	// The bytes sit behind a function because fmt prints a struct's
	// unexported fields by reflection, without calling their methods: a
	// MasterKey held in an unexported field and printed with a verb that
	// does not fit would otherwise show them. fmt prints a func as an
	// address only.
	key     func() *[KeySize]byte
	source  Source
	created bool
}

// NewMasterKey wraps 32 bytes as a master key; for tests and for tools that
// already hold the key. The bytes are copied.
func NewMasterKey(b []byte) (MasterKey, error) {
	if len(b) != KeySize {
		return MasterKey{}, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(b))
	}
	k := new([KeySize]byte)
	copy(k[:], b)
	return MasterKey{key: func() *[KeySize]byte { return k }, source: SourceEnv}, nil
}

// IsZero reports whether m holds no key.
func (m MasterKey) IsZero() bool { return m.key == nil }

// Source says where the key came from.
func (m MasterKey) Source() Source { return m.source }

// Created reports whether loading the key created it (a new master.key, or
// a new salt file for a passphrase), so the caller can tell the operator to
// back it up.
func (m MasterKey) Created() bool { return m.created }

const redactedKey = "seal.MasterKey(" + secret.Redacted + ")"

func (m MasterKey) String() string               { return redactedKey }
func (m MasterKey) GoString() string             { return redactedKey }
func (m MasterKey) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redactedKey) }
func (m MasterKey) LogValue() slog.Value         { return slog.StringValue(secret.Redacted) }
func (m MasterKey) MarshalJSON() ([]byte, error) { return []byte(`"` + secret.Redacted + `"`), nil }
func (m MasterKey) MarshalText() ([]byte, error) { return []byte(secret.Redacted), nil }

// MasterKeyConfig is where LoadMasterKey looks, in order of precedence: Key,
// then Passphrase, then the key file in Dir. Config reads the environment
// (and the *_FILE twins) and passes the values in; seal never reads it.
type MasterKeyConfig struct {
	// Key is PALISADE_MASTER_KEY: base64 of 32 bytes.
	Key secret.Secret
	// Passphrase is PALISADE_MASTER_PASSPHRASE, stretched with
	// PBKDF2-SHA256 and the salt in Dir/master.salt (created on first use).
	Passphrase secret.Secret
	// Dir holds master.key or master.salt: the data directory.
	Dir string
}

// LoadMasterKey returns the master key from the first source configured. A
// key file or salt file that does not exist yet is created (mode 0600, in a
// directory created with mode 0700). A key file that group or others can
// read or write is refused.
func LoadMasterKey(cfg MasterKeyConfig) (MasterKey, error) {
	switch {
	case !cfg.Key.IsZero():
		k, err := decodeMasterKey(cfg.Key.Reveal())
		if err != nil {
			return MasterKey{}, err
		}
		k.source = SourceEnv
		return k, nil
	case !cfg.Passphrase.IsZero():
		if cfg.Dir == "" {
			return MasterKey{}, errors.New("master key: a passphrase needs a directory for its salt file")
		}
		return passphraseKey(cfg.Passphrase.Reveal(), filepath.Join(cfg.Dir, SaltFile))
	case cfg.Dir != "":
		return fileKey(filepath.Join(cfg.Dir, MasterKeyFile))
	default:
		return MasterKey{}, errors.New("master key: no key, passphrase or key directory configured")
	}
}

// decodeMasterKey accepts standard or URL base64, padded or not. Its errors
// never quote the value.
func decodeMasterKey(v string) (MasterKey, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(v)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return MasterKey{}, fmt.Errorf("master key: PALISADE_MASTER_KEY decodes to %d bytes, want %d", len(b), KeySize)
		}
		return NewMasterKey(b)
	}
	return MasterKey{}, errors.New("master key: PALISADE_MASTER_KEY is not base64")
}

// GenerateMasterKey returns a new random master key as base64, the form
// PALISADE_MASTER_KEY takes, for `palisade keys` to print once.
func GenerateMasterKey() secret.Secret {
	var b [KeySize]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return secret.New(base64.StdEncoding.EncodeToString(b[:]))
}

// DerivePassphraseKey stretches a passphrase with PBKDF2-SHA256.
func DerivePassphraseKey(passphrase string, salt []byte, iterations int) (MasterKey, error) {
	if iterations < PBKDF2Iterations {
		return MasterKey{}, fmt.Errorf("master key: %d PBKDF2 iterations is below the minimum of %d", iterations, PBKDF2Iterations)
	}
	if len(salt) < 16 {
		return MasterKey{}, fmt.Errorf("master key: salt of %d bytes is too short", len(salt))
	}
	b, err := pbkdf2.Key(sha256.New, passphrase, salt, iterations, KeySize)
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key: deriving from passphrase: %w", err)
	}
	k, err := NewMasterKey(b)
	clear(b)
	k.source = SourcePassphrase
	return k, err
}

func passphraseKey(passphrase, path string) (MasterKey, error) {
	if utf8.RuneCountInString(passphrase) < MinPassphraseLen {
		return MasterKey{}, fmt.Errorf("master key: the passphrase must be at least %d characters", MinPassphraseLen)
	}
	salt, iterations, created, err := loadOrCreateSalt(path)
	if err != nil {
		return MasterKey{}, err
	}
	k, err := DerivePassphraseKey(passphrase, salt, iterations)
	k.created = created
	return k, err
}

// The salt file is one line: "pbkdf2-sha256$<iterations>$<base64 salt>".
// Recording the count keeps old installations opening if the default rises.
const saltFilePrefix = "pbkdf2-sha256$"

func formatSaltFile(salt []byte, iterations int) []byte {
	return []byte(saltFilePrefix + strconv.Itoa(iterations) + "$" + base64.RawStdEncoding.EncodeToString(salt) + "\n")
}

// ParseSaltFile reads a salt file's contents strictly.
func ParseSaltFile(b []byte) (salt []byte, iterations int, err error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok || strings.ContainsAny(s, "\r\n") {
		return nil, 0, errors.New("salt file must be exactly one line")
	}
	rest, ok := strings.CutPrefix(s, saltFilePrefix)
	if !ok {
		return nil, 0, errors.New("salt file: unknown format")
	}
	iterText, saltText, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, 0, errors.New("salt file: missing salt")
	}
	iterations, err = strconv.Atoi(iterText)
	if err != nil || strconv.Itoa(iterations) != iterText {
		return nil, 0, errors.New("salt file: bad iteration count")
	}
	if iterations < PBKDF2Iterations || iterations > maxPBKDF2Iterations {
		return nil, 0, fmt.Errorf("salt file: iteration count %d outside [%d, %d]", iterations, PBKDF2Iterations, maxPBKDF2Iterations)
	}
	salt, err = base64.RawStdEncoding.Strict().DecodeString(saltText)
	if err != nil {
		return nil, 0, errors.New("salt file: salt is not base64")
	}
	if len(salt) < 16 || len(salt) > 64 {
		return nil, 0, fmt.Errorf("salt file: salt of %d bytes, want 16 to 64", len(salt))
	}
	return salt, iterations, nil
}

func loadOrCreateSalt(path string) (salt []byte, iterations int, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		salt = make([]byte, SaltSize)
		_, _ = rand.Read(salt)
		err = createExclusive(path, formatSaltFile(salt, PBKDF2Iterations))
		switch {
		case err == nil:
			return salt, PBKDF2Iterations, true, nil
		case errors.Is(err, fs.ErrExist):
			// Another process created it first: use theirs.
			b, err = os.ReadFile(path)
		default:
			return nil, 0, false, fmt.Errorf("master key: creating salt file: %w", err)
		}
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("master key: reading salt file: %w", err)
	}
	salt, iterations, err = ParseSaltFile(b)
	if err != nil {
		return nil, 0, false, fmt.Errorf("master key: %s: %w", path, err)
	}
	return salt, iterations, false, nil
}

func fileKey(path string) (MasterKey, error) {
	created := false
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		var b [KeySize]byte
		_, _ = rand.Read(b[:])
		err = createExclusive(path, b[:])
		clear(b[:])
		switch {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
			// Lost a race with another process; read its key.
		default:
			return MasterKey{}, fmt.Errorf("master key: creating %s: %w", path, err)
		}
		f, err = os.Open(path)
	}
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key: opening key file: %w", err)
	}
	defer f.Close()
	// Check the file we opened, not the name, so a swap after the check
	// cannot slip a different file in.
	info, err := f.Stat()
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return MasterKey{}, fmt.Errorf("master key: %s is not a regular file", path)
	}
	if err := checkKeyFileMode(path, info.Mode()); err != nil {
		return MasterKey{}, err
	}
	var b [KeySize + 1]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return MasterKey{}, fmt.Errorf("master key: reading %s: %w", path, err)
	}
	if n != KeySize {
		clear(b[:])
		return MasterKey{}, fmt.Errorf("master key: %s must hold exactly %d bytes", path, KeySize)
	}
	k, err := NewMasterKey(b[:KeySize])
	clear(b[:])
	k.source = SourceFile
	k.created = created
	return k, err
}

// checkKeyFileMode refuses a key file that group or others may read or
// write. Windows has no such bits; its ACLs are the operator's to set.
func checkKeyFileMode(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("master key: %s has mode %04o: group and others must not have access (run: chmod 600 %s)", path, perm, path)
	}
	return nil
}

// createExclusive writes a new file atomically: the content goes to a
// temporary file that is linked into place only if the name is still free,
// so a crash never leaves a half-written key, and a racing process never
// overwrites one. It returns an error wrapping fs.ErrExist if the file exists.
func createExclusive(path string, content []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// A file system without hard links: create the name exclusively
		// instead, giving up atomicity but never overwriting.
		if err := writeExclusive(path, content); err != nil {
			return err
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort where unsupported
		_ = d.Close()
	}
	return nil
}

func writeExclusive(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// Derive returns a 32-byte key for one named purpose (HKDF-SHA256 of the
// master key with the purpose as info), for secrets the platform must be
// able to recompute but never stores, such as bots' gateway tokens. Keys
// for different purposes are independent, and none of them can unwrap a KEK.
func (m MasterKey) Derive(purpose string) ([]byte, error) {
	if m.key == nil {
		return nil, errors.New("master key: derive from the zero key")
	}
	if purpose == "" {
		return nil, errors.New("master key: derive needs a purpose")
	}
	k := m.key()
	return hkdf.Key(sha256.New, k[:], []byte("palisade master key derivation v1"), purpose, KeySize)
}
