package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// refPerOp times ref on its own, in the same run as the benchmark that
// compares against it, for at least 100ms and 3 calls.
func refPerOp(ref func()) time.Duration {
	n, start := 0, time.Now()
	for n < 3 || time.Since(start) < 100*time.Millisecond {
		ref()
		n++
	}
	return time.Since(start) / time.Duration(n)
}

// loopRatio runs op under b.Loop and reports its time per call as a
// multiple of ref's, measured in the same run.
func loopRatio(b *testing.B, unit string, ref, op func()) {
	b.Helper()
	perRef := refPerOp(ref)
	n := 0
	for b.Loop() {
		op()
		n++
	}
	b.ReportMetric(float64(b.Elapsed())/float64(n)/float64(perRef), unit)
}

// BenchmarkVerifyDefault measures one log-in's password check with the
// default parameters, as a multiple of OWASP's minimum (m=19456, t=2, p=1).
func BenchmarkVerifyDefault(b *testing.B) {
	strong := NewHasher()
	owasp, err := NewHasherWithParams(Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	if err != nil {
		b.Fatal(err)
	}
	encStrong, _ := strong.Hash("orbit-llama-candle-42")
	encOWASP, _ := owasp.Hash("orbit-llama-candle-42")
	loopRatio(b, "x_owasp_min",
		func() { _, _, _ = owasp.Verify("orbit-llama-candle-42", encOWASP) },
		func() { _, _, _ = strong.Verify("orbit-llama-candle-42", encStrong) })
}

// BenchmarkCheckPasswordWorstCase measures the policy on the costliest
// input it accepts to examine (1024 bytes, decorated at both ends), as a
// fraction of one SHA-256 of the same input times 1000, to show it stays
// in the microseconds.
func BenchmarkCheckPasswordWorstCase(b *testing.B) {
	pw := "!1@2#3$4" + strings.Repeat("orbit-lantern-fjord-", 60)[:1008] + "5%6^7&8*"
	loopRatio(b, "x_1000_sha256",
		func() {
			for range 1000 {
				sha256.Sum256([]byte(pw))
			}
		},
		func() { _ = CheckPassword(pw, "jsmith@example.com", "Acme Corp") })
}

// BenchmarkMatchRecoveryCode measures matching against ten stored codes,
// as a multiple of one SHA-256: all ten are hashed every time.
func BenchmarkMatchRecoveryCode(b *testing.B) {
	codes, hashes, err := NewRecoveryCodes(DefaultRecoveryCodes)
	if err != nil {
		b.Fatal(err)
	}
	code := codes[9].Reveal()
	loopRatio(b, "x_sha256",
		func() { sha256.Sum256([]byte(code)) },
		func() { _, _ = MatchRecoveryCode(code, hashes) })
}
