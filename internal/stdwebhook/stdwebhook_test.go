package stdwebhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/stdwebhook"
)

// The vectors of the reference libraries' tests, and Polar's older scheme
// over the same inputs.
const (
	vecSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID       = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS       = "1614265330"
	vecBody     = `{"test": 2432232314}`
	vecStandard = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vecLegacy   = "v1,TcxlhK9b6UD6iVI1ZU2tTqp8PEVfYRseNNfa6b+LcUg="
)

var vecNow = time.Unix(1614265330, 0)

func standardKey(t *testing.T) []byte {
	t.Helper()
	k, err := stdwebhook.KeyFromSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVectors(t *testing.T) {
	t.Parallel()
	std := standardKey(t)
	legacy := stdwebhook.LegacyKey(vecSecret)
	tests := []struct {
		name string
		keys [][]byte
		sig  string
		want error
	}{
		{"standard", [][]byte{std}, vecStandard, nil},
		{"polar legacy", [][]byte{legacy}, vecLegacy, nil},
		{"polar either key, standard signature", [][]byte{legacy, std}, vecStandard, nil},
		{"polar either key, legacy signature", [][]byte{std, legacy}, vecLegacy, nil},
		{"legacy signature under the standard key", [][]byte{std}, vecLegacy, stdwebhook.ErrNoMatch},
		{"wrong", [][]byte{std}, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", stdwebhook.ErrNoMatch},
		{"last character changed", [][]byte{std}, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", stdwebhook.ErrNoMatch},
		{"empty v1", [][]byte{std}, "v1,", stdwebhook.ErrBadHeader},
		{"several entries, one valid", [][]byte{std}, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc " + vecStandard + " v1a,xyz", nil},
		{"only other versions", [][]byte{std}, "v2," + strings.TrimPrefix(vecStandard, "v1,"), stdwebhook.ErrNoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := stdwebhook.Verify(tc.keys, stdwebhook.Headers{ID: vecID, Timestamp: vecTS, Signature: tc.sig}, []byte(vecBody), vecNow)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignMatchesVector(t *testing.T) {
	t.Parallel()
	sig, err := stdwebhook.Sign(vecSecret, vecID, vecNow, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if sig != vecStandard {
		t.Fatalf("Sign = %q, want %q", sig, vecStandard)
	}
}

func TestTolerance(t *testing.T) {
	t.Parallel()
	h := stdwebhook.Headers{ID: vecID, Timestamp: vecTS, Signature: vecStandard}
	keys := [][]byte{standardKey(t)}
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{vecNow.Add(5 * time.Minute), nil},
		{vecNow.Add(-5 * time.Minute), nil},
		{vecNow.Add(5*time.Minute + time.Second), stdwebhook.ErrTooOld},
		{vecNow.Add(-5*time.Minute - time.Second), stdwebhook.ErrTooNew},
	} {
		if err := stdwebhook.Verify(keys, h, []byte(vecBody), tc.now); !errors.Is(err, tc.want) {
			t.Errorf("at %v: %v, want %v", tc.now.Sub(vecNow), err, tc.want)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	t.Parallel()
	keys := [][]byte{standardKey(t)}
	for name, h := range map[string]stdwebhook.Headers{
		"no id":               {Timestamp: vecTS, Signature: vecStandard},
		"no timestamp":        {ID: vecID, Signature: vecStandard},
		"no signature":        {ID: vecID, Timestamp: vecTS},
		"leading zero":        {ID: vecID, Timestamp: "0" + vecTS, Signature: vecStandard},
		"plus sign":           {ID: vecID, Timestamp: "+" + vecTS, Signature: vecStandard},
		"id with a full stop": {ID: vecID + ".x", Timestamp: vecTS, Signature: vecStandard},
		"too many entries":    {ID: vecID, Timestamp: vecTS, Signature: strings.Repeat("v2,x ", 40) + vecStandard},
	} {
		if err := stdwebhook.Verify(keys, h, []byte(vecBody), vecNow); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if err := stdwebhook.Verify(keys, stdwebhook.Headers{ID: vecID, Timestamp: vecTS, Signature: vecStandard}, []byte(vecBody+" "), vecNow); !errors.Is(err, stdwebhook.ErrNoMatch) {
		t.Errorf("altered body: %v", err)
	}
}

func TestKeyFromSecret(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_AAAA"} {
		if _, err := stdwebhook.KeyFromSecret(bad); err == nil {
			t.Errorf("KeyFromSecret(%q) accepted", bad)
		}
	}
}

func FuzzParseSignatures(f *testing.F) {
	for _, s := range []string{vecStandard, vecLegacy, "v1,", "v1,a v2,b", "v1a,xyz " + vecStandard, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sigs, err := stdwebhook.ParseSignatures(header)
		if err != nil {
			return
		}
		if len(sigs) > stdwebhook.MaxEntries {
			t.Fatalf("%d entries", len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("entry of %d bytes", len(s))
			}
		}
		// Whatever parses verifies without panicking.
		_ = stdwebhook.Verify([][]byte{[]byte("k")}, stdwebhook.Headers{ID: "a", Timestamp: "1", Signature: header}, nil, time.Unix(1, 0))
	})
}
