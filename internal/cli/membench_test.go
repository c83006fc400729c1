//go:build linux

package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/loadtest"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// The loads of the memory benchmark: idle bots each with a Telegram
// channel, spread over workspaces of memBotsPerWorkspace bots as a hosted
// deployment has them, and Discord bots holding a Gateway socket each.
const (
	memBotsPerWorkspace = 10
	memDiscordBots      = 50
)

// BenchmarkB4Memory measures the resident memory of the real binary
// serving on SQLite: idle after start with no bot, then restarted with
// 1,000 and 10,000 bots each with a Telegram channel (the bytes per bot
// are the difference to the idle figure divided by the bots), and then,
// within that last process, the bytes each Discord Gateway socket adds
// once memDiscordBots bots connect to a fake Gateway. The reference is a
// bare net/http server built from testdata with the same toolchain and
// measured the same way in the same run. Each figure is taken after a
// forced GC and once the runtime has returned what it freed to the
// system, from /proc/PID/status (VmRSS; VmHWM is the peak, start-up
// included). Set PALISADE_B4_PROFILE_DIR to keep a heap profile of each
// server measured; the servers then sample every 4 KiB allocated, which
// costs memory itself, so the figures of such a run are not the ones to
// quote.
func BenchmarkB4Memory(b *testing.B) {
	if testing.Short() {
		b.Skip("B4 builds the binary and starts servers for about two minutes; skipped with -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("B4 reads resident memory from /proc/PID/status, which this system does not have")
	}
	bin := buildBinary(b, "github.com/palisadehq/palisade/cmd/palisade")
	bareBin := buildBinary(b, "./testdata/barehttp")
	profiles := os.Getenv("PALISADE_B4_PROFILE_DIR")

	// The reference: what any Go HTTP server costs.
	bareAddr := freeAddr(b)
	bare := startMemProc(b, bareBin, nil, bareAddr, "", bareAddr)
	bare.waitHealthy(b, "/")
	bareMem := bare.settle(b, false)
	bare.stop(b)

	tg := channeltest.NewTelegram(b, channeltest.TelegramOptions{AnyWebhookURL: true})
	dc := channeltest.NewDiscord(b, channeltest.DiscordOptions{})
	policy := egressPolicyForAll(b, tg.URL, dc.URL)
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(b.TempDir(), "palisade-data")}
	createWorkspace(b, env, "Memory") // makes the data directory, database and master key
	if profiles != "" {
		env["GODEBUG"] = "memprofilerate=4096"
	}
	serveArgs := []string{"--telegram-api-url", tg.URL, "--discord-api-url", dc.URL, "--egress-policy", policy,
		"--unsafe-egress-allow-loopback=true"}
	measure := func(label string) (memSample, *memProc) {
		p := startPalisade(b, bin, env, serveArgs...)
		m := p.settle(b, true)
		if profiles != "" {
			p.saveHeapProfile(b, filepath.Join(profiles, "b4-"+label+".pb.gz"))
		}
		return m, p
	}

	idle, p := measure("idle")
	p.stop(b)

	seeded := 0
	seed := func(n int) {
		s := openSealed(b, env)
		defer s.close()
		start := time.Now()
		seedTelegramBots(b, s, n)
		b.Logf("seeded %d bots with a Telegram channel in %s", n, time.Since(start).Round(time.Millisecond))
		seeded += n
	}
	seed(1000)
	at1k, p := measure("1k")
	p.stop(b)
	seed(9000)
	at10k, p := measure("10k")

	// The Discord sockets, added to the running 10,000-bot server: its
	// runner picks new channels up on its next tick, so the difference is
	// the sockets alone, without a restart's noise.
	s := openSealed(b, env)
	tokens := seedDiscordBots(b, s, dc, memDiscordBots)
	s.close()
	deadline := time.Now().Add(90 * time.Second)
	for connected := 0; connected < len(tokens); {
		connected = 0
		for _, tok := range tokens {
			if dc.Connected(tok) {
				connected++
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Discord bots connected to the fake Gateway within 90s\n%s", connected, len(tokens), tail(p.log.String(), 5000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	withDiscord := p.settle(b, true)
	if profiles != "" {
		p.saveHeapProfile(b, filepath.Join(profiles, "b4-10k-discord.pb.gz"))
	}
	p.stop(b)

	perBot1k := float64(at1k.rss-idle.rss) / 1000
	perAnonBot10k := float64(at10k.anon-idle.anon) / float64(seeded)
	perBot10k := float64(at10k.rss-idle.rss) / float64(seeded)
	perHeapBot10k := (at10k.heapInuse - idle.heapInuse) / float64(seeded)
	perSocket := float64(withDiscord.rss-at10k.rss) / memDiscordBots
	perAnonSocket := float64(withDiscord.anon-at10k.anon) / memDiscordBots
	perHeapSocket := (withDiscord.heapInuse - at10k.heapInuse) / memDiscordBots
	perGoroutinesSocket := (withDiscord.goroutines - at10k.goroutines) / memDiscordBots

	var out strings.Builder
	fmt.Fprintf(&out, "B4 memory (palisade serve on SQLite, resident after a forced GC and settle; reference measured in this run):\n")
	fmt.Fprintf(&out, "  reference: bare net/http server idle       RSS %6.1f MiB = anon %5.1f + file %5.1f  (peak %.1f MiB)\n",
		mib(bareMem.rss), mib(bareMem.anon), mib(bareMem.file), mib(bareMem.hwm))
	for _, r := range []struct {
		what string
		m    memSample
	}{{"idle, no bot", idle}, {"1,000 bots (Telegram)", at1k}, {"10,000 bots (Telegram)", at10k},
		{fmt.Sprintf("10,000 bots + %d Discord sockets", memDiscordBots), withDiscord}} {
		fmt.Fprintf(&out, "  palisade %-32s RSS %6.1f MiB = anon %5.1f + file %5.1f  (peak %.1f MiB, Go heap in use %.1f MiB, %d goroutines)\n",
			r.what, mib(r.m.rss), mib(r.m.anon), mib(r.m.file), mib(r.m.hwm), r.m.heapInuse/(1<<20), int(r.m.goroutines))
	}
	fmt.Fprintf(&out, "  idle palisade / bare reference: %.1f× RSS, %.1f× anon\n", float64(idle.rss)/float64(bareMem.rss), float64(idle.anon)/float64(bareMem.anon))
	fmt.Fprintf(&out, "  per idle bot: %.0f B RSS (1,000 bots); %.0f B RSS, %.0f B anon, %.0f B Go heap (10,000 bots)\n",
		perBot1k, perBot10k, perAnonBot10k, perHeapBot10k)
	fmt.Fprintf(&out, "  per Discord Gateway socket: %.1f KiB RSS, %.1f KiB anon (Go heap %.1f KiB, %.1f goroutines)\n",
		perSocket/1024, perAnonSocket/1024, perHeapSocket/1024, perGoroutinesSocket)
	fmt.Fprintf(&out, "  goals: idle ≤ 20 MiB: %s by RSS, %s by anon; per idle bot ≤ 2 KiB: %s\n",
		verdict(mib(idle.rss) <= 20), verdict(mib(idle.anon) <= 20), verdict(perBot10k <= 2048))
	fmt.Print(out.String())

	b.ReportMetric(mib(bareMem.rss), "bare-RSS-MiB")
	b.ReportMetric(mib(idle.rss), "idle-RSS-MiB")
	b.ReportMetric(mib(idle.anon), "idle-anon-MiB")
	b.ReportMetric(float64(idle.rss)/float64(bareMem.rss), "idle/bare")
	b.ReportMetric(mib(at1k.rss), "1k-bots-RSS-MiB")
	b.ReportMetric(mib(at10k.rss), "10k-bots-RSS-MiB")
	b.ReportMetric(perBot10k, "B/idle-bot")
	b.ReportMetric(perSocket/1024, "KiB/discord-socket")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// buildBinary builds the package the way `make build` does (static,
// trimmed paths) into a temporary directory.
func buildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(tb.Context(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// memSample is one measurement of a process.
type memSample struct {
	// Bytes, from /proc/PID/status: the resident size, its peak, and the
	// resident size's two parts: anonymous memory (the process's own:
	// heap, stacks, SQLite's page cache) and file pages (the binary's
	// code and data as far as touched, clean and shared with the page
	// cache).
	rss, hwm, anon, file int64
	// From the server's /metrics (zero for the reference).
	heapInuse, goroutines float64
}

// memProc is a server process under measurement.
type memProc struct {
	cmd         *exec.Cmd
	exited      chan struct{}
	log         *syncBuffer
	addr, admin string
}

// startMemProc runs bin with args; addr is where it serves, admin its
// admin listener (empty for none).
func startMemProc(tb testing.TB, bin string, env []string, addr, admin string, args ...string) *memProc {
	tb.Helper()
	p := &memProc{log: &syncBuffer{}, addr: addr, admin: admin}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", bin, err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// startPalisade runs `palisade serve` and waits until it is healthy.
func startPalisade(tb testing.TB, bin string, env map[string]string, args ...string) *memProc {
	tb.Helper()
	addr, admin := freeAddr(tb), freeAddr(tb)
	var penv []string
	for k, v := range env {
		if strings.HasPrefix(k, "PALISADE_") || k == "GODEBUG" {
			penv = append(penv, k+"="+v)
		}
	}
	p := startMemProc(tb, bin, penv, addr, admin, append([]string{"serve", "--addr", addr, "--admin-addr", admin,
		"--public-url", "http://" + addr}, args...)...)
	p.waitHealthy(tb, "/healthz")
	return p
}

func (p *memProc) waitHealthy(tb testing.TB, path string) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.exited:
			tb.Fatalf("the server exited during start-up:\n%s", tail(p.log.String(), 5000))
		default:
		}
		if resp, err := client.Get("http://" + p.addr + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the server did not become healthy:\n%s", tail(p.log.String(), 5000))
		}
	}
}

// fetch reads a URL of the process's admin listener.
func (p *memProc) fetch(tb testing.TB, path string) []byte {
	tb.Helper()
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
	}
	return body
}

// settle lets start-up work finish, forces a collection (the heap profile
// endpoint runs one with gc=1) and waits until the resident size stops
// falling as the runtime returns freed pages, then samples.
func (p *memProc) settle(tb testing.TB, admin bool) memSample {
	tb.Helper()
	time.Sleep(2 * time.Second)
	if admin {
		p.fetch(tb, "/debug/pprof/heap?gc=1")
	}
	var last memSample
	for i := 0; i < 40; i++ {
		time.Sleep(250 * time.Millisecond)
		m := readProcStatus(tb, p.cmd.Process.Pid)
		if i >= 8 && last.rss-m.rss < 64<<10 {
			last = m
			break
		}
		last = m
	}
	if admin {
		last.heapInuse, last.goroutines = scrapeRuntime(tb, p.fetch(tb, "/metrics"))
	}
	return last
}

func (p *memProc) saveHeapProfile(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, p.fetch(tb, "/debug/pprof/heap"), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("heap profile written to %s", path)
}

// stop ends the server as a service manager does and waits for it.
func (p *memProc) stop(tb testing.TB) {
	tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		tb.Fatalf("the server did not stop within 30s of SIGTERM:\n%s", tail(p.log.String(), 5000))
	}
}

// readProcStatus reads VmRSS, VmHWM, RssAnon and RssFile of a process.
func readProcStatus(tb testing.TB, pid int) memSample {
	tb.Helper()
	m, err := loadtest.ReadMemory(pid)
	if err != nil {
		tb.Fatal(err)
	}
	if m.RSS == 0 || m.Peak == 0 || m.Anon == 0 || m.File == 0 {
		tb.Fatalf("no VmRSS, VmHWM, RssAnon or RssFile in /proc/%d/status", pid)
	}
	return memSample{rss: m.RSS, hwm: m.Peak, anon: m.Anon, file: m.File}
}

// scrapeRuntime reads the heap in use and the goroutines from a
// Prometheus text exposition.
func scrapeRuntime(tb testing.TB, metrics []byte) (heapInuse, goroutines float64) {
	tb.Helper()
	found := 0
	for line := range strings.Lines(string(metrics)) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &heapInuse
		case "go_goroutines":
			dst = &goroutines
		default:
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			tb.Fatalf("metric %s: %v", name, err)
		}
		*dst = f
		found++
	}
	if found != 2 {
		tb.Fatal("/metrics lacks go_memstats_heap_inuse_bytes or go_goroutines")
	}
	return heapInuse, goroutines
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// channelConfig is the channels.config column as the channel service
// writes it.
func channelConfig(tb testing.TB, settings, masked map[string]string) string {
	raw, err := json.Marshal(map[string]map[string]string{"settings": settings, "masked": masked})
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

// newMemBot stores a bot as the bot service makes one.
func newMemBot(tb testing.TB, s store.Store, scope palisade.Scope, name string) palisade.Bot {
	b := bot.Defaults([]string{llm.RetrievalOnly})
	b.ID, b.Name, b.CreatedAt = palisade.NewBotID(), name, time.Now()
	b.GatewayTokenSalt, b.GatewayTokenHash = []byte(randomToken(16)), []byte(randomToken(32))
	b, err := s.CreateBot(tb.Context(), scope, b)
	if err != nil {
		tb.Fatalf("creating a bot: %v", err)
	}
	return b
}

// seedTelegramBots stores n bots, each with an active Telegram channel as
// connecting one through the API leaves it (sealed token and secret
// token, settings, masked token), in new workspaces of
// memBotsPerWorkspace bots.
func seedTelegramBots(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	ctx := tb.Context()
	var scope palisade.Scope
	for i := range n {
		if i%memBotsPerWorkspace == 0 {
			w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: fmt.Sprintf("Workspace %d", i/memBotsPerWorkspace), Now: time.Now()})
			if err != nil {
				tb.Fatalf("creating a workspace: %v", err)
			}
			scope = palisade.ScopeFor(w.ID)
		}
		b := newMemBot(tb, s, scope, fmt.Sprintf("Bot %d", i))
		botID := strconv.Itoa(6000000000 + i)
		username := fmt.Sprintf("memory_%d_bot", i)
		tok := secret.New(botID + ":AA" + randomToken(33))
		_, err := s.CreateChannel(ctx, scope, store.CreateChannelParams{BotID: b.ID, Kind: channel.KindTelegram, Name: "@" + username,
			ExternalID: botID, Config: channelConfig(tb, map[string]string{"username": username, "bot_id": botID},
				map[string]string{"bot_token": channel.Mask(tok)}),
			Credentials: channel.EncodeFields(map[string]string{"bot_token": tok.Reveal()}),
			Secret:      channel.EncodeFields(map[string]string{"secret_token": randomToken(43)}),
			Status:      channel.StatusActive, Now: time.Now()})
		if err != nil {
			tb.Fatalf("creating a Telegram channel: %v", err)
		}
	}
}

// seedDiscordBots registers n applications with the fake Discord and
// stores a bot with an active Discord channel for each, in one new
// workspace; it returns their bot tokens.
func seedDiscordBots(tb testing.TB, s store.Store, dc *channeltest.Discord, n int) []string {
	tb.Helper()
	ctx := tb.Context()
	w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "Discord", Now: time.Now()})
	if err != nil {
		tb.Fatalf("creating a workspace: %v", err)
	}
	scope := palisade.ScopeFor(w.ID)
	var tokens []string
	for i := range n {
		appID := strconv.Itoa(900000000000000000 + i)
		userID := strconv.Itoa(910000000000000000 + i)
		username := fmt.Sprintf("memory_%d", i)
		tok := "Nzg3MDUzMDgwNDc4NjEzNTYw." + randomToken(6) + "." + randomToken(38)
		app := dc.AddApp(channeltest.DiscordApp{ApplicationID: appID, BotToken: tok, BotUserID: userID, Username: username})
		b := newMemBot(tb, s, scope, fmt.Sprintf("Discord bot %d", i))
		_, err := s.CreateChannel(ctx, scope, store.CreateChannelParams{BotID: b.ID, Kind: channel.KindDiscord, Name: "@" + username,
			ExternalID: appID, Config: channelConfig(tb, map[string]string{"bot_user_id": userID, "application_id": appID, "username": username},
				map[string]string{"application_id": appID, "public_key": channel.Mask(secret.New(app.PublicKey)), "bot_token": channel.Mask(secret.New(tok))}),
			Credentials: channel.EncodeFields(map[string]string{"application_id": appID, "bot_token": tok}),
			Secret:      channel.EncodeFields(map[string]string{"public_key": app.PublicKey}),
			Status:      channel.StatusActive, Now: time.Now()})
		if err != nil {
			tb.Fatalf("creating a Discord channel: %v", err)
		}
		tokens = append(tokens, tok)
	}
	return tokens
}
