package seal_test

import (
	"bytes"
	"testing"

	"github.com/palisadehq/palisade/internal/seal"
)

// FuzzOpen feeds Open arbitrary envelopes: it must never panic, and nothing
// but the one envelope sealed here may open.
func FuzzOpen(f *testing.F) {
	fx := setup(f)
	valid := mustSeal(f, fx.kr, fx.ws, field, "the only value that opens")
	f.Add(valid)
	f.Add(valid[:seal.Overhead])
	f.Add(append([]byte{seal.FormatV1, 0, 0, 0, 1}, make([]byte, 40)...))
	f.Add(append([]byte{seal.FormatV1, 0xff, 0xff, 0xff, 0xff}, make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, env []byte) {
		pt, err := fx.kr.Open(ctx, fx.ws, field, env)
		if bytes.Equal(env, valid) {
			if err != nil || string(pt) != "the only value that opens" {
				t.Fatalf("the valid envelope did not open: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("a forged envelope opened to %q", pt)
		}
		if _, _, infoErr := seal.EnvelopeInfo(env); infoErr == nil && len(env) < seal.Overhead {
			t.Fatal("EnvelopeInfo accepted a short envelope")
		}
	})
}
