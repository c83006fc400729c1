package palisade_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// secretName matches environment variables that would carry a secret.
var secretName = regexp.MustCompile(`(?i)(KEY|PASSWORD|PASSPHRASE|SECRET|TOKEN|DATABASE_URL)$`)

// TestDockerfileHardening: the image is built static and trimmed, and its
// final stage has no shell (a distroless static base and no RUN), runs as
// a fixed non-root UID, declares the data directory as its only volume,
// checks health through /healthz in exec form, and bakes no secret in.
func TestDockerfileHardening(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var stages [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before FROM: %s", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a run stage", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "go mod verify"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage lacks %s", want)
		}
	}
	if base := final[0]; !strings.Contains(base, "distroless/static") && !strings.Contains(base, "scratch") {
		t.Errorf("the run stage's base %q has more than a static binary needs", base)
	}
	var user, volume, health, entry string
	for _, line := range final {
		word := strings.ToUpper(strings.Fields(line)[0])
		rest := strings.TrimSpace(line[len(word):])
		switch word {
		case "RUN", "SHELL", "ADD":
			t.Errorf("the run stage has %s: it must need no shell and fetch nothing", line)
		case "USER":
			user = rest
		case "VOLUME":
			volume = rest
		case "HEALTHCHECK":
			health = rest
		case "ENTRYPOINT":
			entry = rest
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				name, _, _ := strings.Cut(kv, "=")
				if secretName.MatchString(name) {
					t.Errorf("ENV %s bakes a secret into the image", name)
				}
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a fixed numeric non-root UID", user)
	}
	if volume != `["/data"]` {
		t.Errorf("VOLUME %q: want the data directory only", volume)
	}
	if !strings.Contains(health, `CMD ["`) || !strings.Contains(health, "/healthz") {
		t.Errorf("HEALTHCHECK %q: want the exec form asking /healthz", health)
	}
	if !strings.HasPrefix(entry, "[") {
		t.Errorf("ENTRYPOINT %q: want the exec form (no shell)", entry)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		SecurityOpt []string          `yaml:"security_opt"`
		User        string            `yaml:"user"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Networks    []string          `yaml:"networks"`
		Ports       []string          `yaml:"ports"`
		Restart     string            `yaml:"restart"`
	} `yaml:"services"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
}

// TestComposeHardening: every service drops all capabilities and cannot
// gain privileges; Palisade's run read-only as a non-root user; secrets
// come only through *_FILE variables; the gateway alone holds the provider
// key and alone reaches the egress network; PostgreSQL and Redis sit only
// on internal networks; migrate is a one-shot with the admin URL.
func TestComposeHardening(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres", "redis", "migrate", "gateway", "web"} {
		if _, ok := c.Services[want]; !ok {
			t.Fatalf("no %s service", want)
		}
	}
	egressUsers := 0
	for name, s := range c.Services {
		if !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: cap_drop %v, security_opt %v", name, s.CapDrop, s.SecurityOpt)
		}
		for k, v := range s.Environment {
			if secretName.MatchString(k) && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("%s: %s=%q passes a secret as an environment literal", name, k, v)
			}
			if strings.Contains(v, "@") && strings.Contains(v, "://") {
				t.Errorf("%s: %s carries credentials in a URL", name, k)
			}
		}
		for _, n := range s.Networks {
			if _, ok := c.Networks[n]; !ok {
				t.Errorf("%s: undeclared network %s", name, n)
			}
			if n == "egress" {
				egressUsers++
				if name != "gateway" {
					t.Errorf("%s is on the egress network: only the gateway is", name)
				}
			}
		}
		if slices.Contains(s.Secrets, "openai_api_key") && name != "gateway" {
			t.Errorf("%s holds the provider key: only the gateway does", name)
		}
		if s.Image != "palisade:latest" {
			continue
		}
		if !s.ReadOnly {
			t.Errorf("%s: read_only is not set", name)
		}
		if uid, _, _ := strings.Cut(s.User, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("%s: user %q, want a non-root UID", name, s.User)
		}
	}
	if egressUsers != 1 || c.Networks["egress"].Internal {
		t.Errorf("the egress network: %d users, internal %v", egressUsers, c.Networks["egress"].Internal)
	}
	for _, name := range []string{"postgres", "redis"} {
		for _, n := range c.Services[name].Networks {
			if !c.Networks[n].Internal {
				t.Errorf("%s is on %s, which is not internal", name, n)
			}
		}
		if len(c.Services[name].Ports) > 0 {
			t.Errorf("%s publishes ports", name)
		}
	}
	m := c.Services["migrate"]
	if len(m.Command) == 0 || m.Command[0] != "migrate" || m.Restart != "no" || !slices.Contains(m.Secrets, "database_admin_url") {
		t.Errorf("migrate: command %v, restart %q, secrets %v", m.Command, m.Restart, m.Secrets)
	}
	for _, name := range []string{"web", "gateway"} {
		if slices.Contains(c.Services[name].Secrets, "database_admin_url") {
			t.Errorf("%s holds the admin database URL", name)
		}
	}
	if !slices.Contains(c.Services["gateway"].Secrets, "openai_api_key") {
		t.Error("the gateway has no provider key")
	}
}

// unitDirectives reads a systemd unit's [Service] section: each directive
// with every value it is given.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %s", path, line)
		}
		if section == "[Service]" {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnitHardening: the unit runs as a dynamic user with no
// capabilities, a read-only system, private /tmp and devices, a system-call
// filter, restricted address families, W^X memory, and its secrets as
// credentials; systemd-analyze verifies it and rates its exposure under 2.
func TestSystemdUnitHardening(t *testing.T) {
	t.Parallel()
	const unit = "deploy/palisade.service"
	d := unitDirectives(t, unit)
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "NoNewPrivileges": "yes", "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
		"RestrictNamespaces": "yes", "LockPersonality": "yes", "SystemCallArchitectures": "native",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %q", k, got, want)
		}
	}
	if len(d["StateDirectory"]) != 1 || !slices.Contains(d["SystemCallFilter"], "@system-service") || len(d["RestrictAddressFamilies"]) == 0 || len(d["LoadCredential"]) == 0 {
		t.Errorf("StateDirectory %v, SystemCallFilter %v, RestrictAddressFamilies %v, LoadCredential %v",
			d["StateDirectory"], d["SystemCallFilter"], d["RestrictAddressFamilies"], d["LoadCredential"])
	}
	for _, env := range d["Environment"] {
		name, _, _ := strings.Cut(env, "=")
		if secretName.MatchString(name) {
			t.Errorf("Environment=%s passes a secret as a literal: use LoadCredential and a *_FILE variable", name)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("PALISADE_TEST_REQUIRE_SERVICES") != "" {
			t.Fatal("systemd-analyze is not installed (Debian's systemd package); CI needs it")
		}
		t.Skip("systemd-analyze is not installed (apt-get install systemd) to verify the unit and rate its exposure")
	}
	// verify checks that ExecStart names an executable: point it at one
	// that exists here (this test binary), leaving the rest as shipped.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "palisade.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/palisade", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	t.Logf("systemd-analyze verify:\n%s", out)
	if err != nil {
		t.Errorf("systemd-analyze verify: %v", err)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	t.Logf("systemd-analyze security:\n%s", out)
	m := regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v", err)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score >= 2.0 {
		t.Errorf("exposure %.1f, want below 2.0", score)
	}
}
