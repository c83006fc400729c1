// Package backup writes and reads Palisade's backup archives: a tar
// stream of named files followed by a manifest of their sizes and SHA-256
// sums, encrypted and authenticated for an age recipient (filippo.io/age,
// whose STREAM encryption refuses a flipped byte or a cut-short file). A
// backup is two such archives: the data, and beside it the data keys,
// which are never in the data archive.
//
// Extract verifies an archive whole, into a directory of the caller's,
// before the caller replaces anything: every byte is authenticated, every
// file's sum matches the manifest and nothing is missing or extra. It must
// never write outside that directory, and never leave a partly verified
// file behind on failure.
package backup

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"filippo.io/age"
)

// Format names the manifest's layout.
const Format = "palisade.backup.v1"

// Kinds of archive.
const (
	KindData = "data"
	KindKeys = "keys"
)

// manifestName is the last entry of every archive.
const manifestName = "MANIFEST.json"

// Manifest describes an archive.
type Manifest struct {
	Format string `json:"format"`
	Kind   string `json:"kind"`
	// ID is shared by the data and key archives of one backup, so that a
	// restore never pairs one backup's data with another's keys.
	ID        string    `json:"id"`
	Dialect   string    `json:"dialect"`
	CreatedAt time.Time `json:"created_at"`
	Version   string    `json:"version,omitempty"`
	Files     []File    `json:"files"`
}

// File is one file of an archive.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source is a file to archive: its name in the archive and where it is.
type Source struct {
	Name string
	Path string
}

// nameRE is what a file's name in an archive may be: a plain name, never
// a path.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// ParseRecipient reads an age public key (age1…).
func ParseRecipient(s string) (age.Recipient, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("reading the age recipient: %w", err)
	}
	return r, nil
}

// ReadIdentities reads an age identity file (AGE-SECRET-KEY-1… lines).
func ReadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the age identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("reading the age identity file %s: %w", path, err)
	}
	return ids, nil
}

// Write encrypts the sources for recipient into w as one archive,
// reporting the bytes archived so far to progress (when not nil).
func Write(w io.Writer, recipient age.Recipient, m Manifest, sources []Source, progress func(done, total int64)) error {
	var total int64
	for _, s := range sources {
		if !nameRE.MatchString(s.Name) || s.Name == strings.ToLower(manifestName) {
			return fmt.Errorf("backup: %q is not a valid archive name", s.Name)
		}
		fi, err := os.Stat(s.Path)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		total += fi.Size()
	}
	enc, err := age.Encrypt(w, recipient)
	if err != nil {
		return fmt.Errorf("starting the encryption: %w", err)
	}
	bw := bufio.NewWriterSize(enc, 1<<20)
	tw := tar.NewWriter(bw)
	m.Format, m.Files = Format, nil
	var done int64
	for _, s := range sources {
		f, err := os.Open(s.Path)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("backup: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: s.Name, Mode: 0o600, Size: fi.Size(), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
			f.Close()
			return fmt.Errorf("archiving %s: %w", s.Name, err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h, progressWriter(func(k int64) {
			done += k
			if progress != nil {
				progress(done, total)
			}
		})), f)
		f.Close()
		if err != nil {
			return fmt.Errorf("archiving %s: %w", s.Name, err)
		}
		m.Files = append(m.Files, File{Name: s.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("archiving the manifest: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return fmt.Errorf("archiving the manifest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing the archive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("finishing the archive: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finishing the encryption: %w", err)
	}
	return nil
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) { p(int64(len(b))); return len(b), nil }

// ErrInvalid is wrapped by every refusal of an archive: it is not one of
// ours, it was altered or cut short, or it was encrypted for someone else.
var ErrInvalid = errors.New("the backup archive is invalid")

// Extract decrypts and verifies the archive r into dir, which must exist
// and be empty, and returns its manifest. On any error it removes what it
// wrote: only a whole, verified archive leaves files behind.
func Extract(r io.Reader, identities []age.Identity, dir string, progress func(done int64)) (_ Manifest, err error) {
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	dec, err := age.Decrypt(r, identities...)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: it cannot be decrypted with this identity: %v", ErrInvalid, err)
	}
	tr := tar.NewReader(bufio.NewReaderSize(dec, 1<<20))
	sums := map[string]File{}
	var order []string
	var manifest *Manifest
	var done int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if manifest != nil {
			return Manifest{}, fmt.Errorf("%w: a file follows the manifest", ErrInvalid)
		}
		if h.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("%w: %q is not a regular file", ErrInvalid, h.Name)
		}
		if h.Name == manifestName {
			if h.Size > 1<<20 {
				return Manifest{}, fmt.Errorf("%w: the manifest is too large", ErrInvalid)
			}
			var m Manifest
			dj := json.NewDecoder(tr)
			dj.DisallowUnknownFields()
			if err := dj.Decode(&m); err != nil {
				return Manifest{}, fmt.Errorf("%w: the manifest does not parse: %v", ErrInvalid, err)
			}
			manifest = &m
			continue
		}
		if !nameRE.MatchString(h.Name) {
			return Manifest{}, fmt.Errorf("%w: %q is not a valid name", ErrInvalid, h.Name)
		}
		if _, dup := sums[h.Name]; dup {
			return Manifest{}, fmt.Errorf("%w: %q appears twice", ErrInvalid, h.Name)
		}
		p := filepath.Join(dir, h.Name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return Manifest{}, fmt.Errorf("extracting %s: %w", h.Name, err)
		}
		written = append(written, p)
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, sum, progressWriter(func(k int64) {
			done += k
			if progress != nil {
				progress(done)
			}
		})), tr)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: reading %s: %v", ErrInvalid, h.Name, err)
		}
		sums[h.Name] = File{Name: h.Name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))}
		order = append(order, h.Name)
	}
	// Reading to the end authenticated the last chunk: a cut-short archive
	// fails above. Now the manifest must describe exactly what came.
	if manifest == nil {
		return Manifest{}, fmt.Errorf("%w: it has no manifest", ErrInvalid)
	}
	if manifest.Format != Format {
		return Manifest{}, fmt.Errorf("%w: its format is %q, not %q", ErrInvalid, manifest.Format, Format)
	}
	if len(manifest.Files) != len(order) {
		return Manifest{}, fmt.Errorf("%w: the manifest lists %d files, the archive holds %d", ErrInvalid, len(manifest.Files), len(order))
	}
	for _, want := range manifest.Files {
		got, ok := sums[want.Name]
		if !ok || got != want {
			return Manifest{}, fmt.Errorf("%w: %s does not match the manifest", ErrInvalid, want.Name)
		}
	}
	return *manifest, nil
}
