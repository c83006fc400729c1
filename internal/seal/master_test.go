package seal

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/palisadehq/palisade/internal/secret"
)

func keyBytes(m MasterKey) []byte { return m.key()[:] }

func TestPBKDF2IterationsMeetsOWASP(t *testing.T) {
	t.Parallel()
	if PBKDF2Iterations < 600_000 {
		t.Fatalf("PBKDF2Iterations = %d, must be at least 600,000 (SPEC R3)", PBKDF2Iterations)
	}
	if _, err := DerivePassphraseKey("a long enough passphrase", make([]byte, 16), PBKDF2Iterations-1); err == nil {
		t.Fatal("DerivePassphraseKey accepted fewer iterations than the minimum")
	}
	if _, err := DerivePassphraseKey("a long enough passphrase", make([]byte, 8), PBKDF2Iterations); err == nil {
		t.Fatal("DerivePassphraseKey accepted an 8-byte salt")
	}
}

func TestLoadMasterKeyFromEnv(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0x01}, 11)[:KeySize]
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		m, err := LoadMasterKey(MasterKeyConfig{Key: secret.New(enc.EncodeToString(raw) + "\n")})
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		if !bytes.Equal(keyBytes(m), raw) || m.Source() != SourceEnv || m.Created() {
			t.Errorf("wrong key or source: %v %v", m.Source(), m.Created())
		}
	}
	for _, bad := range []string{base64.StdEncoding.EncodeToString(raw[:31]), "not base64 at all!", base64.StdEncoding.EncodeToString(append(raw, 1))} {
		_, err := LoadMasterKey(MasterKeyConfig{Key: secret.New(bad)})
		if err == nil {
			t.Errorf("accepted %q", bad)
			continue
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the value: %v", err)
		}
	}
}

func TestLoadMasterKeyPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := secret.New(base64.StdEncoding.EncodeToString(make([]byte, KeySize)))
	pass := secret.New("correct horse battery staple")
	cases := []struct {
		cfg  MasterKeyConfig
		want Source
	}{
		{MasterKeyConfig{Key: env, Passphrase: pass, Dir: dir}, SourceEnv},
		{MasterKeyConfig{Passphrase: pass, Dir: dir}, SourcePassphrase},
		{MasterKeyConfig{Dir: dir}, SourceFile},
	}
	for _, c := range cases {
		m, err := LoadMasterKey(c.cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.want, err)
		}
		if m.Source() != c.want {
			t.Errorf("source %s, want %s", m.Source(), c.want)
		}
	}
	if _, err := LoadMasterKey(MasterKeyConfig{}); err == nil {
		t.Error("no source configured, but a key was returned")
	}
	if _, err := LoadMasterKey(MasterKeyConfig{Passphrase: pass}); err == nil {
		t.Error("a passphrase without a salt directory was accepted")
	}
}

func TestMasterKeyFileCreatedAndReused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "keys")
	m1, err := LoadMasterKey(MasterKeyConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !m1.Created() || m1.Source() != SourceFile {
		t.Errorf("Created=%v Source=%v on first use", m1.Created(), m1.Source())
	}
	info, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode %04o, want 0600", perm)
		}
		if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
			t.Errorf("key directory mode %04o, want 0700", d.Mode().Perm())
		}
	}
	if info.Size() != KeySize {
		t.Errorf("key file of %d bytes", info.Size())
	}
	m2, err := LoadMasterKey(MasterKeyConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Created() || !bytes.Equal(keyBytes(m1), keyBytes(m2)) {
		t.Error("second load did not return the stored key")
	}
	if bytes.Equal(keyBytes(m1), make([]byte, KeySize)) {
		t.Error("generated key is all zero")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestMasterKeyFileModeIsChecked(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	cases := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true},
		{0o640, false}, {0o604, false}, {0o620, false}, {0o602, false}, {0o644, false}, {0o660, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%04o", c.mode), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, MasterKeyFile)
			if err := os.WriteFile(path, bytes.Repeat([]byte{7}, KeySize), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadMasterKey(MasterKeyConfig{Dir: dir})
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "chmod 600")) {
				t.Errorf("mode %04o accepted or unclear error: %v", c.mode, err)
			}
		})
	}
}

func TestMasterKeyFileMustBeExact(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 31, 33, 64} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadMasterKey(MasterKeyConfig{Dir: dir}); err == nil {
			t.Errorf("key file of %d bytes accepted", size)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, MasterKeyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMasterKey(MasterKeyConfig{Dir: dir}); err == nil {
		t.Error("a directory named master.key was accepted")
	}
}

func TestMasterKeyFileConcurrentCreation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	keys := make([]MasterKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadMasterKey(MasterKeyConfig{Dir: dir}) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keyBytes(keys[i]), keyBytes(keys[0])) {
			t.Fatal("processes starting together got different master keys")
		}
		if keys[i].Created() {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d loads report creating the key, want 1", created)
	}
}

// Processes starting together with a passphrase agree on one salt file; the
// ones that lose the race to create it read the winner's.
func TestSaltFileConcurrentCreation(t *testing.T) {
	t.Parallel()
	for range 20 {
		path := filepath.Join(t.TempDir(), SaltFile)
		const n = 8
		salts := make([][]byte, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { salts[i], _, created[i], errs[i] = loadOrCreateSalt(path) })
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(salts[i], salts[0]) {
				t.Fatal("processes starting together got different salts")
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("%d loads report creating the salt file, want 1", creators)
		}
	}
}

// The passphrase key is PBKDF2-SHA256 over the stored salt with at least
// 600,000 iterations, the same every time.
func TestPassphraseDerivation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const pass = "correct horse battery staple"
	m1, err := LoadMasterKey(MasterKeyConfig{Passphrase: secret.New(pass), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !m1.Created() || m1.Source() != SourcePassphrase {
		t.Errorf("Created=%v Source=%v", m1.Created(), m1.Source())
	}
	b, err := os.ReadFile(filepath.Join(dir, SaltFile))
	if err != nil {
		t.Fatal(err)
	}
	salt, iterations, err := ParseSaltFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if iterations != PBKDF2Iterations || len(salt) < 16 {
		t.Fatalf("salt file records %d iterations and %d bytes of salt", iterations, len(salt))
	}
	want, _ := pbkdf2.Key(sha256.New, pass, salt, 600_000, KeySize)
	if !bytes.Equal(keyBytes(m1), want) {
		t.Fatal("key is not PBKDF2-SHA256(passphrase, stored salt, 600000)")
	}
	m2, err := LoadMasterKey(MasterKeyConfig{Passphrase: secret.New(pass), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Created() || !bytes.Equal(keyBytes(m1), keyBytes(m2)) {
		t.Error("the same passphrase and salt gave another key")
	}
	if _, err := LoadMasterKey(MasterKeyConfig{Passphrase: secret.New("short"), Dir: t.TempDir()}); err == nil {
		t.Error("a 5-character passphrase was accepted")
	}
}

func TestSaltFileWithTooFewIterationsIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weak := formatSaltFile(make([]byte, 16), 10_000)
	if err := os.WriteFile(filepath.Join(dir, SaltFile), weak, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMasterKey(MasterKeyConfig{Passphrase: secret.New("correct horse battery staple"), Dir: dir}); err == nil {
		t.Fatal("a salt file asking for 10,000 iterations was accepted")
	}
}

func TestParseSaltFile(t *testing.T) {
	t.Parallel()
	good := formatSaltFile(bytes.Repeat([]byte{1}, 16), 700_000)
	if salt, it, err := ParseSaltFile(good); err != nil || it != 700_000 || len(salt) != 16 {
		t.Fatalf("ParseSaltFile(%q) = %v, %d, %v", good, salt, it, err)
	}
	for _, bad := range []string{
		"", "\n", string(good[:len(good)-1]), string(good) + "\n", "pbkdf2-sha1$600000$AAAAAAAAAAAAAAAAAAAAAA\n",
		"pbkdf2-sha256$600000\n", "pbkdf2-sha256$0600000$AQEBAQEBAQEBAQEBAQEBAQ\n", "pbkdf2-sha256$+600000$AQEBAQEBAQEBAQEBAQEBAQ\n",
		"pbkdf2-sha256$999999999999$AQEBAQEBAQEBAQEBAQEBAQ\n", "pbkdf2-sha256$600000$AQEB\n", "pbkdf2-sha256$600000$AQEBAQEBAQEBAQEBAQEBAQ==\n",
		"pbkdf2-sha256$600000$AQEBAQEBAQEBAQEBAQEBAQ\r\n",
	} {
		if _, _, err := ParseSaltFile([]byte(bad)); err == nil {
			t.Errorf("ParseSaltFile(%q) accepted", bad)
		}
	}
}

func FuzzParseSaltFile(f *testing.F) {
	f.Add(formatSaltFile(bytes.Repeat([]byte{1}, 16), PBKDF2Iterations))
	f.Add([]byte("pbkdf2-sha256$600000$\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		salt, iterations, err := ParseSaltFile(b)
		if err != nil {
			return
		}
		if iterations < PBKDF2Iterations || len(salt) < 16 {
			t.Fatalf("accepted weak parameters: %d iterations, %d-byte salt", iterations, len(salt))
		}
		if got := formatSaltFile(salt, iterations); !bytes.Equal(got, b) {
			t.Fatalf("not canonical: %q re-encodes as %q", b, got)
		}
	})
}

func TestMasterKeyNeverPrints(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte("0123456789abcdef"), 2)
	m, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", m)
		fmt.Fprintf(&out, verb+"\n", &m)
		fmt.Fprintf(&out, verb+"\n", struct{ K MasterKey }{m})
		// fmt does not call methods on unexported fields: the pointer
		// inside keeps the bytes out.
		fmt.Fprintf(&out, verb+"\n", struct{ k MasterKey }{m})
	}
	j, _ := json.Marshal(map[string]any{"k": m})
	out.Write(j)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "key", m)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "key", m)
	s := out.String()
	for _, form := range []string{string(raw), hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), "0123456789", "48 49 50"} {
		if strings.Contains(s, form) {
			t.Fatalf("key bytes printed (%q) in:\n%s", form, s)
		}
	}
	if !strings.Contains(s, secret.Redacted) {
		t.Fatalf("no redaction marker in:\n%s", s)
	}
}

func TestGenerateMasterKey(t *testing.T) {
	t.Parallel()
	a, b := GenerateMasterKey(), GenerateMasterKey()
	if a.Equal(b) {
		t.Fatal("two generated keys are equal")
	}
	m, err := LoadMasterKey(MasterKeyConfig{Key: a})
	if err != nil {
		t.Fatalf("a generated key does not load: %v", err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(a.Reveal()); !bytes.Equal(raw, keyBytes(m)) {
		t.Fatal("loaded key differs from the generated one")
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	raw := make([]byte, KeySize)
	raw[0] = 1
	m, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Derive("gateway tokens")
	if err != nil || len(a) != KeySize {
		t.Fatalf("Derive = %x, %v", a, err)
	}
	a2, _ := m.Derive("gateway tokens")
	b, _ := m.Derive("something else")
	if string(a) != string(a2) || string(a) == string(b) || string(a) == string(raw) {
		t.Fatal("derivation is not deterministic per purpose, or not separated")
	}
	if _, err := (MasterKey{}).Derive("x"); err == nil {
		t.Fatal("zero key derived")
	}
}
