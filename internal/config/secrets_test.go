package config

import (
	"flag"
	"io"
	"slices"
	"testing"
)

// TestSecretValuesNamesEverySecretSetting: every setting marked secret,
// given a distinct value, comes back from SecretValues, so the redactor
// learns it; a new secret setting stored anywhere in Config is covered.
func TestSecretValuesNamesEverySecretSetting(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := NewLoader(fs, GroupStore|GroupServe|GroupMigrate)
	var args []string
	want := map[string]string{}
	for _, s := range settings() {
		if !s.secret {
			continue
		}
		v := "canary-" + s.name + "-0123456789abcdef0123456789abcdef"
		switch s.name {
		case "database-url":
			v = "postgres://app:canary-db-0123456789@127.0.0.1/palisade"
		case "redis-url":
			v = "redis://:canary-redis-0123456789@127.0.0.1:6379/0"
		case "master-key":
			v = "Y2FuYXJ5LW1hc3Rlci1rZXktMDEyMzQ1Njc4OWFiY2Q="
		}
		want[s.name] = v
		args = append(args, "--"+s.name+"="+v)
	}
	if len(want) < 8 {
		t.Fatalf("only %d secret settings", len(want))
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, _ := l.Load(func(string) string { return "" }) // validity is not the point here
	got := c.SecretValues()
	for name, v := range want {
		if !slices.Contains(got, v) {
			t.Errorf("--%s is not among the secret values the redactor learns", name)
		}
	}
}
