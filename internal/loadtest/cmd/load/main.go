// Command load is the end-to-end load harness behind `make load`: it
// builds palisade and a bare net/http reference, starts each as a child
// process on loopback, bootstraps a workspace, an API key, bots and
// documents through the CLI and the API, drives each measured path with
// the same load generator (closed loop at several connection counts, open
// loop at a fixed rate), three rounds, and prints throughput, its ratio to
// the reference, p50/p99, the server's CPU time per request and its
// resident memory. SQLite always; PostgreSQL too when -postgres (or
// PALISADE_TEST_POSTGRES_URL) names a server, in a database the harness
// creates and drops.
//
// It is a development tool, never part of the release binary. It must
// never send load anywhere but loopback, never run unbounded (every run
// has a duration and a request count), and never leave a child process,
// a database or a role behind.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/loadtest"
)

type options struct {
	rounds          int
	duration        time.Duration
	warmup          time.Duration
	conns           []int
	postgres        string
	noSQLite        bool
	neighbourChunks int
	ingestDocs      int
	profileDir      string
	bin             string
	gatewayBench    bool
	healthRate      float64
	botsRate        float64
	chatRate        float64
	moduleDir       string
	// paths are the measured paths by short name; empty: all of them.
	paths map[string]bool
}

// want reports whether the path named (healthz, bots, chat, ingest) is to
// be measured.
func (o options) want(name string) bool { return len(o.paths) == 0 || o.paths[name] }

func main() {
	var o options
	conns := flag.String("conns", "16,64", "closed-loop connection counts")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of every measurement; the table shows the median and the range")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured window of each run")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "load sent before each measured window")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("PALISADE_TEST_POSTGRES_URL"), "admin URL of a PostgreSQL server on loopback to measure on too (a database and role are created and dropped); empty: SQLite only")
	flag.BoolVar(&o.noSQLite, "no-sqlite", false, "skip the SQLite measurements")
	flag.IntVar(&o.neighbourChunks, "neighbour-chunks", 26500, "chunks the neighbouring workspace's bot holds for the 'with neighbour' chat runs (0: skip)")
	flag.IntVar(&o.ingestDocs, "ingest-docs", 400, "10 KB documents ingested to measure ingestion (bounded by -duration too)")
	flag.StringVar(&o.profileDir, "profile", "", "directory to write a CPU profile of the server per path to (round 1, first connection count)")
	flag.StringVar(&o.bin, "bin", "", "palisade binary to measure (default: built from this module like make build)")
	flag.BoolVar(&o.gatewayBench, "gateway-bench", true, "run the gateway overhead benchmark (B2) and print its figures")
	flag.Float64Var(&o.healthRate, "rate-healthz", 2000, "open-loop rate for /healthz and the reference, requests a second")
	flag.Float64Var(&o.botsRate, "rate-bots", 1000, "open-loop rate for GET /api/v1/bots")
	flag.Float64Var(&o.chatRate, "rate-chat", 200, "open-loop rate for the retrieval-only chat")
	paths := flag.String("paths", "", "comma-separated paths to measure, of healthz, bots, chat and ingest (the neighbour runs count as chat); empty: all")
	flag.Parse()
	for _, p := range strings.Split(*paths, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case "healthz", "bots", "chat", "ingest":
			if o.paths == nil {
				o.paths = map[string]bool{}
			}
			o.paths[p] = true
		default:
			fatalf("-paths: %q is not one of healthz, bots, chat, ingest", p)
		}
	}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 || n > 1024 {
			fatalf("-conns: %q is not a connection count from 1 to 1024", c)
		}
		o.conns = append(o.conns, n)
	}
	if o.rounds < 1 || o.rounds > 20 || o.duration <= 0 || o.duration > 2*time.Minute {
		fatalf("-rounds must be 1..20 and -duration 0..2m")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(1)
}

// row is one line of the report: a path under one load, over the rounds.
type row struct {
	store, path, load string
	results           []loadtest.Result
	cpu               []time.Duration // server CPU per successful request, per round
	ref               *row            // the reference measured under the same load
	unit              string          // "req/s" or "docs/s"
}

type harness struct {
	o        options
	tmp      string
	bin, ref string
	rows     []*row
	notes    []string
	mem      []string
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "palisade-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	h := &harness{o: o, tmp: tmp}
	mod, err := moduleRoot()
	if err != nil {
		return err
	}
	h.o.moduleDir = mod
	fmt.Fprintf(os.Stderr, "building palisade and the reference…\n")
	if h.bin = o.bin; h.bin == "" {
		if h.bin, err = build(ctx, mod, tmp, "./cmd/palisade"); err != nil {
			return err
		}
	}
	if h.ref, err = build(ctx, mod, tmp, "./internal/loadtest/testdata/barehttp"); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	h.notes = append(h.notes,
		fmt.Sprintf("%d rounds; each run %s measured after %s of warm-up; closed loop at %v connections; open loop latency from each request's scheduled send time", o.rounds, o.duration, o.warmup, o.conns),
		"rate limits raised to 10000/s for every class (--rate-limits), so the harness measures work, not refusals; every other setting is the default",
		"load generator, reference and palisade share this machine's cores; CPU per request is the server process's utime+stime over the measured window divided by its successful requests")

	if !o.noSQLite {
		if err := h.measureStore(ctx, "sqlite", ""); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	if o.postgres != "" {
		if err := h.measureStore(ctx, "postgres", o.postgres); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	var gw string
	if o.gatewayBench {
		gw = gatewayBench(ctx, mod)
	}
	h.print(os.Stdout, gw)
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness from inside the palisade module")
	}
	return filepath.Dir(mod), nil
}

// build compiles pkg the way `make build` does: static, trimmed paths.
func build(ctx context.Context, mod, dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, msg)
	}
	return out, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// server is a started child with its addresses.
type server struct {
	p           *loadtest.Proc
	addr, admin string
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func waitHealthy(ctx context.Context, s *server, path string) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s.p.Exited() {
			return fmt.Errorf("the server exited during start-up:\n%s", tail(s.p.Log(), 4000))
		}
		if resp, err := c.Get(s.url(path)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the server did not become healthy:\n%s", tail(s.p.Log(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (h *harness) startRef(ctx context.Context) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := loadtest.Start(h.ref, nil, addr)
	if err != nil {
		return nil, err
	}
	s := &server{p: p, addr: addr}
	if err := waitHealthy(ctx, s, "/"); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

// storeEnv prepares the data of one store: its environment for the
// palisade commands, and a cleanup.
func (h *harness) storeEnv(ctx context.Context, name, pgURL string) (env []string, cleanup func(), err error) {
	dataDir := filepath.Join(h.tmp, name+"-data")
	env = []string{"PALISADE_DATA_DIR=" + dataDir}
	if pgURL == "" {
		return env, func() {}, nil
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, nil, fmt.Errorf("the PostgreSQL server %s is not on loopback", u.Hostname())
	}
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), rand.Uint32())
	db, role := "palisade_load_"+suffix, "palisade_load_app_"+suffix
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{db}.Sanitize()); err != nil {
		return nil, nil, fmt.Errorf("creating the database: %w", err)
	}
	cleanup = func() {
		c, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dropping %s: %v\n", db, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`); err != nil {
			fmt.Fprintf(os.Stderr, "dropping %s: %v\n", db, err)
		}
		if _, err := c.Exec(context.Background(), `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize()); err != nil {
			fmt.Fprintf(os.Stderr, "dropping %s: %v\n", role, err)
		}
	}
	admin := *u
	admin.Path = "/" + db
	appURL := admin
	appURL.User = url.User(role)
	key := base64.StdEncoding.EncodeToString([]byte("load-harness-master-key-32-bytes"))
	env = append(env, "PALISADE_MASTER_KEY="+key, "PALISADE_APP_ROLE="+role, "PALISADE_DATABASE_URL="+admin.String())
	if _, err := h.cli(ctx, env, "migrate"); err != nil {
		cleanup()
		return nil, nil, err
	}
	env[len(env)-1] = "PALISADE_DATABASE_URL=" + appURL.String()
	return env, cleanup, nil
}

func (h *harness) cli(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.tmp}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("palisade %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String() + errOut.String(), nil
}

var wsLine = regexp.MustCompile(`workspace (ws_[a-z2-7]{26}) created`)

// workspace creates a workspace and an API key for it; it returns the key.
func (h *harness) workspace(ctx context.Context, env []string, name string) (string, error) {
	out, err := h.cli(ctx, env, "workspace", "create", "--name", name, "--owner-email", "owner@example.com")
	if err != nil {
		return "", err
	}
	m := wsLine.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no workspace id in %q", out)
	}
	cmd := exec.CommandContext(ctx, h.bin, "apikey", "create", "--workspace", m[1], "--name", "load",
		"--scopes", "bots:read,bots:write,documents:read,documents:write,messages:send")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + h.tmp}, env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	key, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("palisade apikey create: %v\n%s", err, errOut.String())
	}
	return strings.TrimSpace(string(key)), nil
}

func (h *harness) startPalisade(ctx context.Context, env []string) (*server, error) {
	limits := filepath.Join(h.tmp, "rate-limits.yaml")
	var y strings.Builder
	y.WriteString("classes:\n")
	for _, c := range []string{"mgmt_write", "mgmt_read", "ingest", "api_message", "login_ip", "login_account", "login_device",
		"second_factor", "reauth", "reset_ip", "reset_account", "webhook", "widget_session", "widget_ip", "export"} {
		fmt.Fprintf(&y, "  %s: \"10000/s\"\n", c)
	}
	if err := os.WriteFile(limits, []byte(y.String()), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := loadtest.Start(h.bin, env, "serve", "--addr", addr, "--admin-addr", admin, "--public-url", "http://"+addr,
		"--rate-limits", limits)
	if err != nil {
		return nil, err
	}
	s := &server{p: p, addr: addr, admin: admin}
	if err := waitHealthy(ctx, s, "/healthz"); err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, err
	}
	return s, nil
}

// api is a small client of the palisade API for the set-up.
type api struct {
	s   *server
	key string
	c   *http.Client
}

func (a *api) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.s.url(path), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (a *api) createBot(ctx context.Context, name string) (string, error) {
	var b struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/v1/bots", map[string]any{"name": name}, &b); err != nil {
		return "", err
	}
	return b.ID, nil
}

func (a *api) addDocument(ctx context.Context, bot, title, content string) (int, error) {
	var d struct {
		Chunks int `json:"chunks"`
	}
	err := a.do(ctx, http.MethodPost, "/api/v1/bots/"+bot+"/documents",
		map[string]string{"title": title, "content": content, "content_type": "text/plain"}, &d)
	return d.Chunks, err
}

// The knowledge the measured bot answers from, and what a chat asks.
var (
	topicWords = strings.Fields(`refund order shipping delivery return warranty invoice payment account password
		subscription cancel upgrade support hours store location exchange damaged missing tracking parcel courier
		discount coupon gift card balance receipt address change billing plan trial`)
	fillWords = strings.Fields(`the a of to and in is for on with as you your we our can will be it this that
		are from at by or an if not have has please within days business customer team any all more about`)
	chatQuestions = []string{
		"How do I get a refund for my order?",
		"What are your support hours on weekends?",
		"My parcel is missing, how can I track the courier?",
		"Can I change the billing address on my invoice?",
		"How do I cancel my subscription before the trial ends?",
	}
)

// document writes about size bytes of text from the topic and filler
// words, deterministic for a seed.
func document(seed uint64, size int, topics []string) string {
	r := rand.New(rand.NewPCG(seed, 0x10ad))
	var b strings.Builder
	for b.Len() < size {
		n := 8 + r.IntN(10)
		for i := range n {
			w := fillWords[r.IntN(len(fillWords))]
			if r.IntN(3) == 0 {
				w = topics[r.IntN(len(topics))]
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteString(". ")
		if r.IntN(6) == 0 {
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

// load is how a run drives its target: a closed loop of conns
// connections, or an open loop at rate.
type load struct {
	conns int
	rate  float64
}

func (l load) String() string {
	if l.conns > 0 {
		return fmt.Sprintf("closed %d conns", l.conns)
	}
	return fmt.Sprintf("open %g/s", l.rate)
}

// measure runs one load against one server and appends the outcome to r.
func (h *harness) measure(ctx context.Context, r *row, s *server, t loadtest.Target, l load, maxReq int64, profile string) error {
	var cpu0, cpu1 time.Duration
	var cpuErr error
	warmup := h.o.warmup
	if maxReq < 1000 {
		// A run bounded by a small count (ingestion) measures all of it.
		warmup = 0
	}
	lim := loadtest.Limits{Duration: h.o.duration, Warmup: warmup, MaxRequests: maxReq,
		OnWindow: func(open bool) {
			c, err := s.p.CPU()
			if err != nil {
				cpuErr = err
			}
			if open {
				cpu0 = c
			} else {
				cpu1 = c
			}
		}}
	var wg sync.WaitGroup
	if profile != "" && s.admin != "" {
		secs := int((h.o.warmup + h.o.duration).Seconds())
		wg.Go(func() {
			if err := saveProfile(ctx, s, secs, profile); err != nil {
				fmt.Fprintf(os.Stderr, "profile %s: %v\n", profile, err)
			}
		})
	}
	var res loadtest.Result
	var err error
	if l.conns > 0 {
		res, err = loadtest.Closed(ctx, t, l.conns, lim)
	} else {
		res, err = loadtest.Open(ctx, t, l.rate, 512, lim)
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%s %s (%s): %w", r.store, r.path, l, err)
	}
	if cpuErr != nil {
		return cpuErr
	}
	if res.Errors > 0 {
		fmt.Fprintf(os.Stderr, "%s %s (%s): %d errors, first: %s\n", r.store, r.path, l, res.Errors, res.FirstError)
	}
	per := time.Duration(0)
	if res.Requests > 0 {
		per = (cpu1 - cpu0) / time.Duration(res.Requests)
	}
	r.results = append(r.results, res)
	r.cpu = append(r.cpu, per)
	fmt.Fprintf(os.Stderr, "  %-8s %-34s %-16s %9.0f %s  p50 %-9s p99 %-9s cpu/req %s\n", r.store, r.path, l, res.RPS(), r.unit,
		fmtDur(res.Percentile(50)), fmtDur(res.Percentile(99)), fmtDur(per))
	return nil
}

func saveProfile(ctx context.Context, s *server, secs int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (h *harness) newRow(store, path string, l load, ref *row) *row {
	r := &row{store: store, path: path, load: l.String(), ref: ref, unit: "req/s"}
	h.rows = append(h.rows, r)
	return r
}

// memNote samples a process's memory for the report.
func (h *harness) memNote(what string, p *loadtest.Proc) {
	m, err := p.Memory()
	if err != nil {
		h.mem = append(h.mem, fmt.Sprintf("%s: %v", what, err))
		return
	}
	h.mem = append(h.mem, fmt.Sprintf("%-44s RSS %6.1f MiB = anon %5.1f + file %5.1f   (peak %.1f MiB)", what,
		mib(m.RSS), mib(m.Anon), mib(m.File), mib(m.Peak)))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func (h *harness) measureStore(ctx context.Context, name, pgURL string) error {
	fmt.Fprintf(os.Stderr, "== %s: preparing\n", name)
	env, cleanup, err := h.storeEnv(ctx, name, pgURL)
	if err != nil {
		return err
	}
	defer cleanup()
	// Both workspaces are made before serve starts: the CLI and a running
	// server do not share an embedded database.
	key, err := h.workspace(ctx, env, "Load")
	if err != nil {
		return err
	}
	var neighbourKey string
	if h.o.neighbourChunks > 0 && h.o.want("chat") {
		if neighbourKey, err = h.workspace(ctx, env, "Neighbour"); err != nil {
			return err
		}
	}
	ref, err := h.startRef(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = ref.p.Stop(5 * time.Second) }()
	s, err := h.startPalisade(ctx, env)
	if err != nil {
		return err
	}
	defer func() {
		if err := s.p.Stop(30 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	time.Sleep(2 * time.Second)
	if name == "sqlite" || h.o.noSQLite {
		h.memNote("reference (bare net/http) idle", ref.p)
	}
	h.memNote("palisade "+name+" idle after start", s.p)

	a := &api{s: s, key: key, c: &http.Client{Timeout: 60 * time.Second}}
	bot, err := a.createBot(ctx, "measured")
	if err != nil {
		return err
	}
	for i := range 10 {
		if _, err := a.createBot(ctx, fmt.Sprintf("other-%d", i)); err != nil {
			return err
		}
	}
	for i := range 20 {
		if !h.o.want("chat") {
			break
		}
		if _, err := a.addDocument(ctx, bot, fmt.Sprintf("Handbook %d", i), document(uint64(i), 10<<10, topicWords)); err != nil {
			return err
		}
	}

	auth := http.Header{"Authorization": {"Bearer " + key}}
	jsonAuth := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
	refT := loadtest.Target{Method: http.MethodGet, URL: ref.url("/")}
	health := loadtest.Target{Method: http.MethodGet, URL: s.url("/healthz")}
	bots := loadtest.Target{Method: http.MethodGet, URL: s.url("/api/v1/bots"), Header: auth}
	chat := loadtest.Target{Method: http.MethodPost, URL: s.url("/api/v1/bots/" + bot + "/chat"), Header: jsonAuth,
		Body: func(i int64) []byte {
			b, _ := json.Marshal(map[string]string{"user_id": fmt.Sprintf("load-%d", i%256), "message": chatQuestions[i%int64(len(chatQuestions))]})
			return b
		}}
	const maxReq = 2_000_000

	type path struct {
		name   string
		t      loadtest.Target
		rate   float64
		health bool // edge only: measured once, on the first store
	}
	var paths []path
	for _, p := range []struct {
		short string
		path
	}{{"healthz", path{"GET /healthz", health, h.o.healthRate, true}}, {"bots", path{"GET /api/v1/bots", bots, h.o.botsRate, false}},
		{"chat", path{"POST chat, retrieval-only", chat, h.o.chatRate, false}}} {
		if h.o.want(p.short) {
			paths = append(paths, p.path)
		}
	}
	firstStore := name == "sqlite" || h.o.noSQLite
	refRows := map[string]*row{}
	rows := map[string]*row{}
	get := func(m map[string]*row, store, p string, l load, ref *row) *row {
		k := p + "|" + l.String()
		if m[k] == nil {
			m[k] = h.newRow(store, p, l, ref)
		}
		return m[k]
	}
	var loads []load
	for _, c := range h.o.conns {
		loads = append(loads, load{conns: c})
	}
	for round := range h.o.rounds {
		fmt.Fprintf(os.Stderr, "== %s: round %d of %d\n", name, round+1, h.o.rounds)
		for _, l := range loads {
			rr := get(refRows, "bare/"+name, "GET / (bare net/http)", l, nil)
			if err := h.measure(ctx, rr, ref, refT, l, maxReq, ""); err != nil {
				return err
			}
			for _, p := range paths {
				if p.health && !firstStore {
					continue
				}
				prof := ""
				if round == 0 && l.conns == h.o.conns[0] && h.o.profileDir != "" {
					prof = filepath.Join(h.o.profileDir, name+"-"+slug(p.name)+".pprof")
				}
				if err := h.measure(ctx, get(rows, name, p.name, l, rr), s, p.t, l, maxReq, prof); err != nil {
					return err
				}
			}
		}
		for _, p := range paths {
			if p.health && !firstStore {
				continue
			}
			l := load{rate: p.rate}
			rr := get(refRows, "bare/"+name, "GET / (bare net/http)", l, nil)
			if len(rr.results) <= round {
				if err := h.measure(ctx, rr, ref, refT, l, maxReq, ""); err != nil {
					return err
				}
			}
			if err := h.measure(ctx, get(rows, name, p.name, l, rr), s, p.t, l, maxReq, ""); err != nil {
				return err
			}
		}
	}
	h.memNote("palisade "+name+" after the API and chat runs", s.p)

	if h.o.want("ingest") {
		var ingestBot string
		// Ingestion: 10 KB documents into a bot of their own, so the measured
		// bot's knowledge stays as it was.
		ingestBot, err = a.createBot(ctx, "ingest")
		if err != nil {
			return err
		}
		ingest := loadtest.Target{Method: http.MethodPost, URL: s.url("/api/v1/bots/" + ingestBot + "/documents"), Header: jsonAuth, Expect: http.StatusCreated,
			Body: func(i int64) []byte {
				b, _ := json.Marshal(map[string]string{"title": fmt.Sprintf("Doc %d", i), "content": document(uint64(1000+i), 10<<10, topicWords), "content_type": "text/plain"})
				return b
			}}
		ir := h.newRow(name, "document ingestion (10 KB)", load{conns: h.o.conns[0]}, nil)
		ir.unit = "docs/s"
		for range h.o.rounds {
			prof := ""
			if h.o.profileDir != "" && len(ir.results) == 0 {
				prof = filepath.Join(h.o.profileDir, name+"-ingest.pprof")
			}
			if err := h.measure(ctx, ir, s, ingest, load{conns: h.o.conns[0]}, int64(h.o.ingestDocs), prof); err != nil {
				return err
			}
		}
	}

	if h.o.neighbourChunks > 0 && h.o.want("chat") {
		na := &api{s: s, key: neighbourKey, c: a.c}
		nb, err := na.createBot(ctx, "neighbour")
		if err != nil {
			return err
		}
		start := time.Now()
		chunks := 0
		for i := 0; chunks < h.o.neighbourChunks; i++ {
			n, err := na.addDocument(ctx, nb, fmt.Sprintf("Neighbour %d", i), document(uint64(5000+i), 900<<10, topicWords))
			if err != nil {
				return err
			}
			chunks += n
		}
		h.notes = append(h.notes, fmt.Sprintf("%s: the neighbouring workspace's bot was given %d chunks of the same vocabulary in %s",
			name, chunks, time.Since(start).Round(time.Millisecond)))
		pname := fmt.Sprintf("POST chat, neighbour holds %dk chunks", chunks/1000)
		for round := range h.o.rounds {
			for _, l := range append(slices.Clone(loads), load{rate: h.o.chatRate}) {
				prof := ""
				if round == 0 && l.conns == h.o.conns[0] && h.o.profileDir != "" {
					prof = filepath.Join(h.o.profileDir, name+"-chat-neighbour.pprof")
				}
				rr := refRows[refKey(l)]
				if err := h.measure(ctx, get(rows, name, pname, l, rr), s, chat, l, maxReq, prof); err != nil {
					return err
				}
			}
		}
	}
	h.memNote("palisade "+name+" after every run", s.p)
	return nil
}

func refKey(l load) string { return "GET / (bare net/http)|" + l.String() }

func slug(s string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		var z T
		return z
	}
	return s[len(s)/2]
}

func (r *row) rps() (med, lo, hi float64) {
	var v []float64
	for _, x := range r.results {
		v = append(v, x.RPS())
	}
	return median(v), slices.Min(v), slices.Max(v)
}

func (r *row) pct(p float64) time.Duration {
	var v []time.Duration
	for _, x := range r.results {
		v = append(v, x.Percentile(p))
	}
	return median(v)
}

func (r *row) errors() int64 {
	var n int64
	for _, x := range r.results {
		n += x.Errors
	}
	return n
}

func (h *harness) print(w io.Writer, gateway string) {
	fmt.Fprintf(w, "\nPalisade load harness (medians of %d rounds; ranges are min–max over the rounds)\n", h.o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "store\tpath\tload\tthroughput (range)\t× bare\tp50\tp99\tbare p50/p99\tserver CPU/req\tbare CPU/req\terrors")
	for _, r := range h.rows {
		if len(r.results) == 0 {
			continue
		}
		med, lo, hi := r.rps()
		ratio, refLat, refCPU := "", "", ""
		if r.ref != nil && len(r.ref.results) > 0 {
			rm, _, _ := r.ref.rps()
			if strings.HasPrefix(r.load, "closed") && rm > 0 {
				ratio = fmt.Sprintf("%.2f×", med/rm)
			}
			refLat = fmtDur(r.ref.pct(50)) + " / " + fmtDur(r.ref.pct(99))
			refCPU = fmtDur(median(r.ref.cpu))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f %s (%.0f–%.0f)\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.store, r.path, r.load, med, r.unit, lo, hi,
			ratio, fmtDur(r.pct(50)), fmtDur(r.pct(99)), refLat, fmtDur(median(r.cpu)), refCPU, r.errors())
	}
	tw.Flush()
	fmt.Fprintln(w, "\nResident memory (/proc/PID/status):")
	for _, m := range h.mem {
		fmt.Fprintln(w, "  "+m)
	}
	if gateway != "" {
		fmt.Fprintln(w, "\nGateway added latency (B2, go test -bench BenchmarkGatewayOverhead ./internal/gateway):")
		fmt.Fprint(w, gateway)
	}
	fmt.Fprintln(w, "\nNotes:")
	for _, n := range h.notes {
		fmt.Fprintln(w, "  - "+n)
	}
}

// gatewayBench runs the gateway's overhead benchmark, the one home of B2,
// and returns its report lines.
func gatewayBench(ctx context.Context, mod string) string {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkGatewayOverhead$", "-benchtime", "3000x", "-count", "1", "./internal/gateway")
	cmd.Dir = mod
	out, err := cmd.CombinedOutput()
	var b strings.Builder
	for line := range strings.Lines(string(out)) {
		// The benchmark's servers log every request; only its result
		// lines (and a failure's) are the report.
		if !strings.HasPrefix(line, "Benchmark") && !strings.Contains(line, "FAIL") && !strings.Contains(line, "_test.go:") {
			continue
		}
		b.WriteString("  " + line)
	}
	if err != nil {
		fmt.Fprintf(&b, "  (the benchmark failed: %v)\n", err)
	}
	return b.String()
}
