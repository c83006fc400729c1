package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/gatewayhttp"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/anthropic"
	"github.com/palisadehq/palisade/internal/llm/gemini"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// egressPolicy is the configured egress policy, or the embedded default.
func egressPolicy(cfg config.Config) (*egress.Policy, error) {
	if cfg.EgressPolicyFile == "" {
		return egress.DefaultPolicy(), nil
	}
	raw, err := os.ReadFile(cfg.EgressPolicyFile)
	if err != nil {
		return nil, fmt.Errorf("reading egress policy: %w", err)
	}
	policy, err := egress.ParsePolicy(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return policy, nil
}

// newEgressDenials counts the egress denials of every client of the
// process by reason, and hands each to onDeny (the audit log).
func newEgressDenials(reg *prometheus.Registry, onDeny func(context.Context, egress.Denial)) (func(context.Context, egress.Denial), error) {
	denials := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_egress_denials_total",
		Help: "Outbound requests refused by the egress policy, by reason."}, []string{"reason"})
	reasons := egress.Reasons()
	for _, r := range reasons {
		denials.WithLabelValues(string(r))
	}
	if err := reg.Register(denials); err != nil {
		return nil, fmt.Errorf("registering egress metrics: %w", err)
	}
	return func(ctx context.Context, d egress.Denial) {
		reason := string(d.Reason)
		if !slices.Contains(reasons, d.Reason) {
			reason = "other"
		}
		denials.WithLabelValues(reason).Inc()
		if onDeny != nil {
			onDeny(ctx, d)
		}
	}, nil
}

// newEgress builds the one outbound HTTP client of the process over
// policy. Every denial is logged by the client and handed to onDeny (the
// counter of newEgressDenials).
func newEgress(cfg config.Config, policy *egress.Policy, logger *slog.Logger, onDeny func(context.Context, egress.Denial)) (*egress.Client, error) {
	if cfg.UnsafeEgressAllowLoopback {
		logger.Warn("UNSAFE: outbound requests may reach loopback addresses (--unsafe-egress-allow-loopback)")
	}
	return egress.New(policy, egress.Options{
		Logger:              logger,
		Resolver:            net.DefaultResolver,
		UnsafeAllowLoopback: cfg.UnsafeEgressAllowLoopback,
		OnDeny:              onDeny,
	})
}

// llmSetup is what the in-process gateway serves: a provider for each
// allowed model, each model's provider kind, and a builder per kind for
// the keys workspaces bring.
type llmSetup struct {
	providers map[string]llm.Provider
	kinds     map[string]string
	own       map[string]func(secret.Secret) (llm.Provider, error)
}

// kindNames lists the kinds of the configured providers, for logs.
func kindNames(cfg config.Config) []string {
	var out []string
	for _, p := range cfg.ConfiguredProviders() {
		out = append(out, p.Kind)
	}
	return out
}

// endpointer is an adapter that names the URLs it sends a model's
// requests to.
type endpointer interface {
	Endpoints(model string) []string
}

// newProviders builds every configured provider behind the egress client
// and routes each allowed model to its own. It refuses to start when a
// provider cannot be built or the egress policy would refuse a request to
// one of them: otherwise every chat on that provider would fail while the
// server looks healthy. A process that calls a separate gateway builds
// none: the gateway holds the keys.
func newProviders(cfg config.Config, out *egress.Client, policy *egress.Policy, logger *slog.Logger) (llmSetup, error) {
	setup := llmSetup{providers: map[string]llm.Provider{}, kinds: map[string]string{}, own: map[string]func(secret.Secret) (llm.Provider, error){}}
	if !cfg.CallsProviders() {
		return setup, nil
	}
	routes, err := cfg.ModelRoutes()
	if err != nil {
		return setup, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	built := map[string]llm.Provider{}
	var errs []error
	for _, p := range cfg.ConfiguredProviders() {
		prov, err := buildProvider(p, out, p.APIKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("configuring the %s provider (%s, %s): %w", p.Kind, p.KeyFlag, p.BaseURLFlag, err))
			continue
		}
		built[p.Kind] = prov
		setup.own[p.Kind] = func(key secret.Secret) (llm.Provider, error) { return buildProvider(p, out, key) }
		warnUnreachable(cfg, p, logger)
	}
	byKind := map[string]config.ProviderSettings{}
	checked := map[string]llm.Provider{}
	for _, p := range cfg.ConfiguredProviders() {
		byKind[p.Kind] = p
		if prov, ok := built[p.Kind]; ok {
			checked[p.Kind] = &keyWatch{Provider: prov, warn: func() {
				logger.Error("the "+p.Kind+" provider refused the operator's API key: every chat on its models fails until "+p.KeyFlag+" is fixed",
					"provider", p.Kind, "flag", p.KeyFlag)
			}}
		}
	}
	models := make([]string, 0, len(routes))
	for m := range routes {
		models = append(models, m)
	}
	slices.Sort(models)
	for _, m := range models {
		kind := routes[m]
		prov, ok := built[kind]
		if !ok {
			continue
		}
		if ep, ok := prov.(endpointer); ok {
			if err := checkEgress(policy, byKind[kind], m, ep); err != nil {
				errs = append(errs, err)
			}
		}
		setup.providers[m], setup.kinds[m] = checked[kind], kind
	}
	if len(errs) > 0 {
		return llmSetup{}, fmt.Errorf("%w: %w", ErrUsage, errors.Join(errs...))
	}
	return setup, nil
}

// keyWatch is the operator's provider, warning once when the provider
// refuses the key: a key can be checked only by using it, and without the
// warning a wrong one shows only as every chat failing. Calls with a key
// a workspace brings are not watched: that key is the workspace's to fix.
type keyWatch struct {
	llm.Provider
	once sync.Once
	warn func()
}

func (k *keyWatch) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	resp, err := k.Provider.Complete(ctx, req)
	k.check(err)
	return resp, err
}

func (k *keyWatch) Stream(ctx context.Context, req llm.Request, onDelta func(string) error) (llm.Response, error) {
	resp, err := k.Provider.Stream(ctx, req, onDelta)
	k.check(err)
	return resp, err
}

func (k *keyWatch) check(err error) {
	var le *llm.Error
	if errors.As(err, &le) && le.AuthFailed() {
		k.once.Do(k.warn)
	}
}

// checkEgress refuses a provider endpoint the egress policy would refuse,
// naming the flag to fix and the request the policy refused (its real
// path: a provider's endpoint carries no secret, and no query is checked).
func checkEgress(policy *egress.Policy, p config.ProviderSettings, model string, ep endpointer) error {
	for _, raw := range ep.Endpoints(model) {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("%s: the %s endpoint does not parse", p.BaseURLFlag, p.Kind)
		}
		err = policy.Allows(http.MethodPost, u)
		var de *egress.DenialError
		if !errors.As(err, &de) {
			continue
		}
		fix := "point " + p.BaseURLFlag + " at an endpoint the policy allows, or allow this one in the --egress-policy file"
		if p.BaseURL == "" {
			fix = "the policy of --egress-policy does not allow the official endpoint: add a rule for it, or set " + p.BaseURLFlag
		}
		return fmt.Errorf("the egress policy refuses the %s provider's requests for %s (POST %s://%s%s: %s): %s",
			p.Kind, model, u.Scheme, u.Host, u.EscapedPath(), de.Denial.Reason, fix)
	}
	return nil
}

// warnUnreachable warns, once at start, of a provider whose requests the
// policy allows but the egress client will refuse when it dials: a base
// URL on a loopback address without --unsafe-egress-allow-loopback. Only
// the literal address is known here (a name is resolved at each call), so
// this is a warning, not a refusal.
func warnUnreachable(cfg config.Config, p config.ProviderSettings, logger *slog.Logger) {
	if p.BaseURL == "" || cfg.UnsafeEgressAllowLoopback {
		return
	}
	u, err := url.Parse(p.BaseURL)
	if err != nil {
		return
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if host != "localhost" && (err != nil || !addr.IsLoopback()) {
		return
	}
	logger.Warn("the LLM provider's base URL is a loopback address, which the egress client refuses: its chats will fail; "+
		"fix "+p.BaseURLFlag+" (or, for a local test server only, set --unsafe-egress-allow-loopback)",
		"provider", p.Kind, "flag", p.BaseURLFlag, "host", host)
}

// gatewayTokens derives bots' gateway tokens from the master key.
func gatewayTokens(master seal.MasterKey) (*gateway.Tokens, error) {
	k, err := master.Derive("gateway tokens")
	if err != nil {
		return nil, err
	}
	return gateway.NewTokens(k)
}

// gatewayClient calls the separate gateway role at --gateway-url, through
// the egress client made for that one internal address.
func gatewayClient(cfg config.Config, out *egress.Client) (gateway.Service, error) {
	hc, err := out.ForInternalService(cfg.GatewayURL)
	if err != nil {
		return nil, fmt.Errorf("%w: --gateway-url: %v", ErrUsage, err)
	}
	return gatewayhttp.NewClient(cfg.GatewayURL, gatewayhttp.SigningKey{ID: cfg.GatewayKeyID, Key: cfg.GatewaySigningKey}, hc, time.Now), nil
}

func signingKeys(cfg config.Config) []gatewayhttp.SigningKey {
	return []gatewayhttp.SigningKey{{ID: cfg.GatewayKeyID, Key: cfg.GatewaySigningKey}}
}

// gatewayHandler serves the gateway to the other roles. Its nonces live
// where every gateway process sees them: in Redis when one is configured,
// in the database otherwise, so a call captured on its way to one process
// cannot be replayed to another.
func gatewayHandler(cfg config.Config, gw *gateway.Gateway, s store.Store, rdb *redis.Client, now func() time.Time) (http.Handler, error) {
	var nonces gateway.Nonces = gateway.NewStoreNonces(s)
	if rdb != nil {
		nonces = gateway.NewRedisNonces(rdb, gateway.DefaultNoncePrefix)
	}
	h, err := gatewayhttp.NewHandler(gw, gatewayhttp.HandlerOptions{Keys: signingKeys(cfg), Nonces: nonces, Now: now})
	if err != nil {
		return nil, err
	}
	return h.Routes(), nil
}

// gatewayMetrics counts LLM calls, their latency, tokens and errors by
// provider kind and model (R10). Only the configured models (kinds' keys)
// become label values; any other is "other", so neither a caller nor a
// workspace's own provider key can grow the label set.
func gatewayMetrics(reg *prometheus.Registry, kinds map[string]string) func(gateway.Observation) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_llm_calls_total",
		Help: "Calls to the LLM gateway, by provider, model and outcome (ok, refused, provider_error)."}, []string{"provider", "model", "outcome"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "palisade_llm_latency_seconds",
		Help: "Latency of provider calls through the gateway, by provider and model.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}, []string{"provider", "model"})
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_llm_tokens_total",
		Help: "Tokens spent through the gateway, by provider, model and direction (in, out)."}, []string{"provider", "model", "direction"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_llm_errors_total",
		Help: "Provider calls through the gateway that failed, by provider and model."}, []string{"provider", "model"})
	reg.MustRegister(calls, latency, tokens, errs)
	providers := map[string]bool{}
	for _, k := range llm.Kinds() {
		providers[k] = true
	}
	for m, k := range kinds {
		if providers[k] {
			errs.WithLabelValues(k, m)
		}
	}
	return func(o gateway.Observation) {
		model, provider := o.Model, o.Provider
		if _, ok := kinds[model]; !ok {
			model = "other"
		}
		if !providers[provider] {
			provider = "other"
		}
		if o.Outcome == "refused" {
			calls.WithLabelValues("none", "none", "refused").Inc()
			return
		}
		outcome := o.Outcome
		if outcome != "ok" && outcome != "provider_error" {
			outcome = "other"
		}
		calls.WithLabelValues(provider, model, outcome).Inc()
		if outcome == "provider_error" {
			errs.WithLabelValues(provider, model).Inc()
		}
		latency.WithLabelValues(provider, model).Observe(o.Latency.Seconds())
		tokens.WithLabelValues(provider, model, "in").Add(float64(o.TokensIn))
		tokens.WithLabelValues(provider, model, "out").Add(float64(o.TokensOut))
	}
}

// buildProvider builds a provider of p's kind at its base URL with key,
// behind the egress client.
func buildProvider(p config.ProviderSettings, out *egress.Client, key secret.Secret) (llm.Provider, error) {
	hc := out.HTTPClient()
	switch p.Kind {
	case llm.KindOpenAI:
		return openai.New(openai.Config{BaseURL: p.BaseURL, APIKey: key, HTTPClient: hc})
	case llm.KindGroq:
		base := p.BaseURL
		if base == "" {
			base = config.OfficialBaseURL(llm.KindGroq)
		}
		return openai.New(openai.Config{Name: llm.KindGroq, BaseURL: base, APIKey: key, HTTPClient: hc})
	case llm.KindAnthropic:
		return anthropic.New(anthropic.Config{BaseURL: p.BaseURL, APIKey: key, HTTPClient: hc})
	case llm.KindGemini:
		return gemini.New(gemini.Config{BaseURL: p.BaseURL, APIKey: key, HTTPClient: hc})
	}
	return nil, fmt.Errorf("unknown provider %q", p.Kind)
}
