package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canary = "canary-secret-value-1234567890"

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := New(canary)
	type wrapper struct {
		Key    Secret
		Ptr    *Secret
		hidden Secret // fmt reaches unexported fields by reflection only
		deeper struct{ s Secret }
	}
	w := wrapper{Key: s, Ptr: &s, hidden: s}
	w.deeper.s = s
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, w))
	}
	outs = append(outs, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(w))
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "key", s, "w", w)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("y", "key", s)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, canary) || strings.Contains(o, "7890") && !strings.Contains(o, Redacted) {
			t.Fatalf("secret leaked: %q", o)
		}
	}
	if s.Reveal() != canary {
		t.Fatal("Reveal must return the value")
	}
}

func TestEqualAndMask(t *testing.T) {
	t.Parallel()
	if !New("abc").Equal(New("abc")) || New("abc").Equal(New("abd")) || New("abc").Equal(New("abcd")) {
		t.Fatal("Equal is wrong")
	}
	cases := map[string]string{"": "", "short": "****", "pal_abcdefghijklmnop": "****mnop"}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
