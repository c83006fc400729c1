package cli_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/api"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads /metrics and returns its samples and the families named by
// their # TYPE lines. The label values Palisade writes hold no quotes or
// commas, which keeps this reader short.
func scrape(t *testing.T, admin string) ([]sample, map[string]string) {
	t.Helper()
	code, body := get(t, admin+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	var out []sample
	families := map[string]string{}
	for line := range strings.SplitSeq(body, "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			families[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		head, val, ok := strings.Cut(line, " ")
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			head, val, ok = line[:i+1], strings.TrimSpace(line[i+1:]), true
		}
		if !ok {
			t.Fatalf("unreadable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{name: head, labels: map[string]string{}, value: v}
		if name, rest, ok := strings.Cut(head, "{"); ok {
			s.name = name
			for pair := range strings.SplitSeq(strings.TrimSuffix(rest, "}"), ",") {
				if pair == "" {
					continue
				}
				k, v, _ := strings.Cut(pair, "=")
				uq, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("metrics line %q: label %q: %v", line, pair, err)
				}
				s.labels[k] = uq
			}
		}
		out = append(out, s)
	}
	return out, families
}

// family is the family a sample belongs to: a histogram's _bucket, _sum
// and _count samples are its own.
func family(name string, families map[string]string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && families[base] == "histogram" {
			return base
		}
	}
	return name
}

// sum adds the values of name's samples whose labels include match.
func sum(samples []sample, name string, match map[string]string) float64 {
	var n float64
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range match {
			if s.labels[k] != v {
				continue next
			}
		}
		n += s.value
	}
	return n
}

// wantFamilies are the metric families of the admin listener and their
// label names: any family missing, or with another label set, fails.
var wantFamilies = map[string][]string{
	"palisade_http_requests_total":           {"code_class", "method", "route", "surface"},
	"palisade_http_request_duration_seconds": {"route", "surface"},
	"palisade_webhook_refusals_total":        {"channel", "reason"},
	"palisade_webhook_messages_total":        {"channel", "outcome"},
	"palisade_ratelimit_refusals_total":      {"class"},
	"palisade_egress_denials_total":          {"reason"},
	"palisade_llm_calls_total":               {"model", "outcome", "provider"},
	"palisade_llm_latency_seconds":           {"model", "provider"},
	"palisade_llm_tokens_total":              {"direction", "model", "provider"},
	"palisade_llm_errors_total":              {"model", "provider"},
	"palisade_job_queue_depth":               {"kind", "state"},
	"palisade_jobs_total":                    {"kind", "outcome"},
	"palisade_db_pool_open_connections":      nil,
	"palisade_db_pool_in_use_connections":    nil,
	"palisade_db_pool_idle_connections":      nil,
	"palisade_db_pool_max_connections":       nil,
	"palisade_db_pool_waits_total":           nil,
	"palisade_db_pool_wait_seconds_total":    nil,
	"palisade_seal_operations_total":         {"op", "outcome"},
	"palisade_audit_writes_total":            {"chain", "outcome"},
	"palisade_audit_checkpoint_writes_total": {"outcome"},
	"palisade_login_failures_total":          nil,
	"palisade_sandbox_workers":               nil,
	"palisade_sandbox_worker_spawns_total":   nil,
	"palisade_sandbox_worker_kills_total":    {"reason"},
	"palisade_sandbox_task_seconds":          {"kind"},
	"palisade_sandbox_confined":              nil,
}

// idLike is a label value that names one workspace, bot, user, key,
// channel or request: never a label value.
var idLike = regexp.MustCompile(`(?i)(^|[^a-z])(ws|bot|usr|user|key|ch|req|conv|evt|whk)_[a-z0-9]{6,}`)

// routeShape is a route pattern's path: literal segments and {wildcards}.
var routeShape = regexp.MustCompile(`^(/([A-Za-z0-9._-]+|\{[A-Za-z]+(\.\.\.)?\}|\{\$\})?)+$`)

// TestMetricsFamiliesAndLabels exercises every counted path of a running
// server (API calls, a refused webhook, a rate-limit refusal, an egress
// denial, an LLM call through the fake provider, a job) and then checks
// that /metrics has each family with its label names, and that no label
// takes an unbounded value: no id, and routes only from the route tables.
// The dashboard and the alerting rules in deploy/ are checked against the
// families scraped here.
func TestMetricsFamiliesAndLabels(t *testing.T) {
	t.Parallel()
	const apiKey = "sk-canary-metrics-Zx8Cv6Bn4Ml2Kj9Hg7Fd5Sa3"
	fake := llmtest.NewOpenAI(t, llmtest.Options{APIKey: apiKey, Text: "Counted."})
	tg := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(tg.Close)
	dir := t.TempDir()
	limits := filepath.Join(dir, "limits.yaml")
	if err := os.WriteFile(limits, []byte("classes:\n  mgmt_read: \"1/min\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PALISADE_DATA_DIR": filepath.Join(dir, "data")}
	ws := createWorkspace(t, env, "Metrics")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "m",
		"--scopes", "bots:write,bots:read,messages:send,webhooks:write,webhooks:read"))
	r := serve(t, env, "--llm-provider", "openai", "--llm-base-url", fake.URL, "--llm-api-key", apiKey, "--llm-models", "gpt-4o-mini",
		"--telegram-api-url", tg.URL, "--egress-policy", egressPolicyForAll(t, fake.URL, tg.URL), "--unsafe-egress-allow-loopback=true",
		"--rate-limits", limits)
	c := &e2eClient{t: t, base: r.public, key: key, cap: &e2eCapture{}}

	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Counter", "model": "gpt-4o-mini"}, http.StatusCreated)
	botID, _ := bot["id"].(string)
	out := c.json(http.MethodPost, "/api/v1/bots/"+botID+"/chat", map[string]any{"user_id": "alice", "message": "Count me?"}, http.StatusOK)
	if out["reply"] != "Counted." {
		t.Fatalf("chat = %v", out)
	}
	// mgmt_read allows one a minute: the second read is refused.
	c.json(http.MethodGet, "/api/v1/bots", nil, http.StatusOK)
	if code, raw := c.do(http.MethodGet, "/api/v1/bots", nil); code != http.StatusTooManyRequests {
		t.Fatalf("second read = %d %s, want 429", code, raw)
	}
	// A webhook with a wrong secret, for a bot with no such channel.
	req, _ := http.NewRequest(http.MethodPost, r.public+"/hooks/telegram/"+botID, strings.NewReader(`{"update_id":1}`))
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "wrong-secret-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("forged webhook = %d", resp.StatusCode)
	}
	// A path no route knows, with an id in it.
	if code, _ := c.do(http.MethodGet, "/api/v1/nothing/"+botID, nil); code != http.StatusNotFound {
		t.Fatalf("unknown route = %d", code)
	}
	// A failed log-in to the UI: the form first, for its CSRF token.
	jar, _ := cookiejar.New(nil)
	ui := &http.Client{Jar: jar}
	resp, err = ui.Get(r.public + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if csrf == nil {
		t.Fatalf("no CSRF token in the log-in form:\n%s", page)
	}
	resp, err = ui.PostForm(r.public+"/login", url.Values{"csrf": {string(csrf[1])}, "email": {"nobody@example.com"}, "password": {"not the password at all"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An outgoing webhook to a documentation address: its test event is
	// a job, whose delivery the egress policy refuses.
	hook := c.json(http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "https://192.0.2.10/hook"}, http.StatusCreated)
	hookID, _ := hook["id"].(string)
	c.json(http.MethodPost, "/api/v1/webhooks/"+hookID+"/test", nil, http.StatusAccepted)

	var samples []sample
	var families map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for {
		samples, families = scrape(t, r.admin)
		if sum(samples, "palisade_egress_denials_total", map[string]string{"reason": "private_address"}) > 0 &&
			sum(samples, "palisade_jobs_total", map[string]string{"kind": "event_webhook"}) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no egress denial or job outcome counted for the test event")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The bot's turn ran in its worker, which the server started.
	if sum(samples, "palisade_sandbox_task_seconds_count", map[string]string{"kind": "turn"}) < 1 ||
		sum(samples, "palisade_sandbox_worker_spawns_total", nil) < 1 {
		t.Errorf("the chat's turn did not run in a bot worker")
	}

	// Each family, with exactly its label names.
	labelNames := map[string]map[string]bool{}
	for _, s := range samples {
		f := family(s.name, families)
		if _, ok := labelNames[f]; !ok {
			labelNames[f] = map[string]bool{}
		}
		for k := range s.labels {
			if k != "le" {
				labelNames[f][k] = true
			}
		}
	}
	for name, want := range wantFamilies {
		got, ok := labelNames[name]
		if !ok {
			t.Errorf("family %s is missing from /metrics", name)
			continue
		}
		if g := slices.Sorted(maps.Keys(got)); !slices.Equal(g, want) {
			t.Errorf("family %s has labels %v, want %v", name, g, want)
		}
	}

	// What was exercised was counted.
	for _, w := range []struct {
		name  string
		match map[string]string
	}{
		{"palisade_http_requests_total", map[string]string{"surface": "api", "route": "/api/v1/bots/{botId}/chat", "code_class": "2xx"}},
		{"palisade_http_requests_total", map[string]string{"surface": "api", "route": "/api/v1/bots", "code_class": "4xx"}},
		{"palisade_http_requests_total", map[string]string{"surface": "api", "route": "unmatched", "code_class": "4xx"}},
		{"palisade_http_requests_total", map[string]string{"surface": "webhook", "route": "/hooks/telegram/{botId}"}},
		{"palisade_http_request_duration_seconds_count", map[string]string{"surface": "api"}},
		{"palisade_webhook_refusals_total", map[string]string{"channel": "telegram"}},
		{"palisade_ratelimit_refusals_total", map[string]string{"class": "mgmt_read"}},
		{"palisade_egress_denials_total", map[string]string{"reason": "private_address"}},
		{"palisade_llm_calls_total", map[string]string{"provider": "openai", "model": "gpt-4o-mini", "outcome": "ok"}},
		{"palisade_llm_latency_seconds_count", map[string]string{"provider": "openai", "model": "gpt-4o-mini"}},
		{"palisade_llm_tokens_total", map[string]string{"provider": "openai", "model": "gpt-4o-mini"}},
		{"palisade_jobs_total", map[string]string{"kind": "event_webhook"}},
		{"palisade_seal_operations_total", map[string]string{"op": "seal", "outcome": "ok"}},
		{"palisade_audit_writes_total", map[string]string{"chain": "workspace", "outcome": "ok"}},
		{"palisade_audit_writes_total", map[string]string{"chain": "platform", "outcome": "ok"}},
		{"palisade_db_pool_open_connections", nil},
		{"palisade_login_failures_total", nil},
		{"palisade_http_requests_total", map[string]string{"surface": "ui", "route": "/login"}},
	} {
		if sum(samples, w.name, w.match) <= 0 {
			t.Errorf("%s%v was not counted", w.name, w.match)
		}
	}

	// No label value is an id, and a route is a pattern of a route table
	// (for the API, exactly one of its routes).
	apiRoutes := map[string]bool{server404: true}
	for _, rt := range (&api.API{}).Routes() {
		apiRoutes[rt.Pattern] = true
	}
	for _, s := range samples {
		if !strings.HasPrefix(s.name, "palisade_") {
			continue
		}
		for k, v := range s.labels {
			if idLike.MatchString(v) || strings.Contains(v, botID) || strings.Contains(v, string(ws.Workspace())) {
				t.Errorf("%s has an id as its %s label: %q", s.name, k, v)
			}
		}
		route, ok := s.labels["route"]
		if !ok {
			continue
		}
		if route != server404 && !routeShape.MatchString(route) {
			t.Errorf("%s has route %q, which is not a route pattern", s.name, route)
		}
		if s.labels["surface"] == "api" && !apiRoutes[route] {
			t.Errorf("%s has route %q, which is not in the API's route table", s.name, route)
		}
	}

	t.Run("dashboard", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatal(err)
		}
		var exprs []string
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		if len(exprs) < 10 {
			t.Fatalf("the dashboard has %d expressions", len(exprs))
		}
		checkExpressions(t, exprs, labelNames, families)
		// Every area of the operations view has a panel.
		used := strings.Join(exprs, "\n")
		for _, f := range []string{"palisade_http_requests_total", "palisade_http_request_duration_seconds_bucket", "palisade_webhook_refusals_total",
			"palisade_ratelimit_refusals_total", "palisade_egress_denials_total", "palisade_llm_latency_seconds_bucket", "palisade_llm_tokens_total",
			"palisade_job_queue_depth", "palisade_db_pool_in_use_connections", "palisade_audit_writes_total"} {
			if !strings.Contains(used, f) {
				t.Errorf("no dashboard panel uses %s", f)
			}
		}
	})
	t.Run("alerts", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus-alerts.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var rules struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&rules); err != nil {
			t.Fatal(err)
		}
		var exprs []string
		alerts := map[string]bool{}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("rule %+v lacks a name, expression, severity or summary", r)
				}
				if r.For != "" {
					if _, err := time.ParseDuration(r.For); err != nil {
						t.Errorf("rule %s: for %q: %v", r.Alert, r.For, err)
					}
				}
				alerts[r.Alert] = true
				exprs = append(exprs, r.Expr)
			}
		}
		checkExpressions(t, exprs, labelNames, families)
		used := strings.Join(exprs, "\n")
		for _, f := range []string{"palisade_webhook_refusals_total", "palisade_login_failures_total", "palisade_egress_denials_total",
			"palisade_ratelimit_refusals_total", "palisade_audit_checkpoint_writes_total"} {
			if !strings.Contains(used, f) {
				t.Errorf("no alerting rule watches %s", f)
			}
		}
	})
}

// server404 is the route label of a request no route matched.
const server404 = "unmatched"

// promQLWords are the PromQL functions, aggregations and keywords the
// deploy files use; any other bare word of an expression is a metric name.
var promQLWords = map[string]bool{
	"sum": true, "rate": true, "irate": true, "increase": true, "histogram_quantile": true, "by": true, "without": true, "max": true,
	"min": true, "avg": true, "count": true, "topk": true, "and": true, "or": true, "unless": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "clamp_min": true, "changes": true, "delta": true, "deriv": true, "absent": true,
	"bool": true, "offset": true, "time": true, "vector": true, "le": true,
}

// metricNames extracts the metric names of a PromQL expression: the bare
// words outside strings, label matchers ({...}), ranges ([...]) and the
// label lists of by/without/on/ignoring, that are not functions or
// keywords.
func metricNames(expr string) []string {
	var names []string
	depthBrace, depthBracket := 0, 0
	labelList := false
	prev := ""
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
			continue
		case c == '{':
			depthBrace++
		case c == '}':
			depthBrace--
		case c == '[':
			depthBracket++
		case c == ']':
			depthBracket--
		case c == '(':
			if promQLWords[prev] && (prev == "by" || prev == "without" || prev == "on" || prev == "ignoring" || prev == "group_left" || prev == "group_right") {
				labelList = true
			}
		case c == ')':
			labelList = false
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(expr) && (expr[j] == '_' || expr[j] == ':' || expr[j] >= 'a' && expr[j] <= 'z' || expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			w := expr[i:j]
			prev = w
			if depthBrace == 0 && depthBracket == 0 && !labelList && !promQLWords[w] && !(i > 0 && expr[i-1] >= '0' && expr[i-1] <= '9') {
				names = append(names, w)
			}
			i = j
			continue
		}
		if c != ' ' && c != '\n' && c != '\t' {
			prev = string(c)
		}
		i++
	}
	return names
}

// checkExpressions fails for an expression naming a metric /metrics does
// not have, or with no metric at all.
func checkExpressions(t *testing.T, exprs []string, labelNames map[string]map[string]bool, families map[string]string) {
	t.Helper()
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("expression %q names no metric", e)
		}
		for _, n := range names {
			if _, ok := labelNames[family(n, families)]; !ok {
				t.Errorf("expression %q names %s, which /metrics does not have", e, n)
			}
		}
	}
}

func TestMetricNamesOfAnExpression(t *testing.T) {
	t.Parallel()
	got := metricNames(`histogram_quantile(0.95, sum by (le, surface) (rate(palisade_http_request_duration_seconds_bucket{surface=~"api|ui"}[5m]))) / on (x) palisade_db_pool_max_connections > 0.5e3`)
	want := []string{"palisade_http_request_duration_seconds_bucket", "palisade_db_pool_max_connections"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %v, want %v", got, want)
	}
}

// TestMetricsOfThePostgresStore: on PostgreSQL the pool figures come from
// the pgx pool and the queue depth from River's table as the application
// role sees it.
func TestMetricsOfThePostgresStore(t *testing.T) {
	t.Parallel()
	env := keyBackends(t)["postgres"](t)
	delete(env, adminURLKey)
	r := serve(t, env)
	samples, _ := scrape(t, r.admin)
	if sum(samples, "palisade_db_pool_max_connections", nil) <= 0 || sum(samples, "palisade_db_pool_open_connections", nil) <= 0 {
		t.Errorf("no pgx pool figures: max %v, open %v", sum(samples, "palisade_db_pool_max_connections", nil), sum(samples, "palisade_db_pool_open_connections", nil))
	}
	depth := 0
	for _, s := range samples {
		if s.name == "palisade_job_queue_depth" {
			depth++
		}
	}
	if depth == 0 {
		t.Error("no job queue depth on PostgreSQL")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stderr.String(), "could not count the job queue") {
		t.Fatalf("the queue could not be counted:\n%s", r.stderr.String())
	}
}
