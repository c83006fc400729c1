package bot_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/palisade"
)

func ptr[T any](v T) *T { return &v }

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	b := bot.Defaults([]string{"m1", "m2"})
	if b.Model != "m1" || b.Temperature != bot.DefaultTemperature || b.MaxOutputTokens != 4096 || b.PIIMode != palisade.PIIOff {
		t.Fatalf("New = %+v", b)
	}
}

func TestApplyBounds(t *testing.T) {
	t.Parallel()
	models := []string{"m1", "m2"}
	tests := []struct {
		name  string
		in    bot.Input
		field string // "" means accepted
	}{
		{"tokens at the ceiling", bot.Input{MaxOutputTokens: ptr(4096)}, ""},
		{"tokens over the ceiling", bot.Input{MaxOutputTokens: ptr(4097)}, "max_output_tokens"},
		{"tokens zero", bot.Input{MaxOutputTokens: ptr(0)}, "max_output_tokens"},
		{"temperature 2", bot.Input{Temperature: ptr(2.0)}, ""},
		{"temperature NaN", bot.Input{Temperature: ptr(math.NaN())}, "temperature"},
		{"temperature negative", bot.Input{Temperature: ptr(-0.1)}, "temperature"},
		{"model off the list", bot.Input{Model: ptr("m3")}, "model"},
		{"pii mode", bot.Input{PIIMode: ptr("before_storage")}, ""},
		{"bad pii mode", bot.Input{PIIMode: ptr("on")}, "pii_mode"},
		{"empty name", bot.Input{Name: ptr("")}, "name"},
		{"https origin", bot.Input{AllowedDomains: &[]string{"https://a.example"}}, ""},
		{"plain http origin", bot.Input{AllowedDomains: &[]string{"http://a.example"}}, "allowed_domains"},
		{"21 domains", bot.Input{AllowedDomains: ptr(slices.Repeat([]string{"a.example"}, 21))}, "allowed_domains"},
	}
	for _, tt := range tests {
		b := bot.Defaults(models)
		err := tt.in.Apply(&b, models)
		var pe *palisade.Error
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.field != "" && (err == nil || !errors.As(err, &pe) || pe.Field != tt.field):
			t.Errorf("%s: err %v, want a %s field error", tt.name, err, tt.field)
		}
	}
}

// Apply changes only the fields given, and canonicalises domains.
func TestApplyPartial(t *testing.T) {
	t.Parallel()
	b := bot.Defaults([]string{"m1"})
	b.Name = "Keep"
	if err := (bot.Input{AllowedDomains: &[]string{"A.Example.com", "a.example.com"}}).Apply(&b, []string{"m1"}); err != nil {
		t.Fatal(err)
	}
	if b.Name != "Keep" || !slices.Equal(b.AllowedDomains, []string{"a.example.com"}) {
		t.Fatalf("bot = %+v", b)
	}
}
