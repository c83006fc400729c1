package botspec_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/palisadehq/palisade/internal/botspec"
	"github.com/palisadehq/palisade/internal/palisade"
)

func ptr[T any](v T) *T { return &v }

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	b := botspec.New([]string{"m1", "m2"})
	if b.Model != "m1" || b.Temperature != botspec.DefaultTemperature || b.MaxOutputTokens != 4096 || b.PIIMode != palisade.PIIOff {
		t.Fatalf("New = %+v", b)
	}
}

func TestApplyBounds(t *testing.T) {
	t.Parallel()
	models := []string{"m1", "m2"}
	tests := []struct {
		name  string
		in    botspec.Input
		field string // "" means accepted
	}{
		{"tokens at the ceiling", botspec.Input{MaxOutputTokens: ptr(4096)}, ""},
		{"tokens over the ceiling", botspec.Input{MaxOutputTokens: ptr(4097)}, "max_output_tokens"},
		{"tokens zero", botspec.Input{MaxOutputTokens: ptr(0)}, "max_output_tokens"},
		{"temperature 2", botspec.Input{Temperature: ptr(2.0)}, ""},
		{"temperature NaN", botspec.Input{Temperature: ptr(math.NaN())}, "temperature"},
		{"temperature negative", botspec.Input{Temperature: ptr(-0.1)}, "temperature"},
		{"model off the list", botspec.Input{Model: ptr("m3")}, "model"},
		{"pii mode", botspec.Input{PIIMode: ptr("before_storage")}, ""},
		{"bad pii mode", botspec.Input{PIIMode: ptr("on")}, "pii_mode"},
		{"empty name", botspec.Input{Name: ptr("")}, "name"},
		{"https origin", botspec.Input{AllowedDomains: &[]string{"https://a.example"}}, ""},
		{"plain http origin", botspec.Input{AllowedDomains: &[]string{"http://a.example"}}, "allowed_domains"},
		{"21 domains", botspec.Input{AllowedDomains: ptr(slices.Repeat([]string{"a.example"}, 21))}, "allowed_domains"},
	}
	for _, tt := range tests {
		b := botspec.New(models)
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
	b := botspec.New([]string{"m1"})
	b.Name = "Keep"
	if err := (botspec.Input{AllowedDomains: &[]string{"A.Example.com", "a.example.com"}}).Apply(&b, []string{"m1"}); err != nil {
		t.Fatal(err)
	}
	if b.Name != "Keep" || !slices.Equal(b.AllowedDomains, []string{"a.example.com"}) {
		t.Fatalf("bot = %+v", b)
	}
}
