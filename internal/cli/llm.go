package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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

// newEgress builds the one outbound HTTP client of the process over
// policy. Every denial is logged by the client, counted here, and handed
// to onDeny (the audit log).
func newEgress(cfg config.Config, policy *egress.Policy, logger *slog.Logger, metrics *prometheus.Registry, onDeny func(context.Context, egress.Denial)) (*egress.Client, error) {
	denials := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_egress_denials_total",
		Help: "Outbound requests refused by the egress policy, by reason."}, []string{"reason"})
	for _, r := range egress.Reasons() {
		denials.WithLabelValues(string(r))
	}
	if err := metrics.Register(denials); err != nil {
		return nil, fmt.Errorf("registering egress metrics: %w", err)
	}
	if cfg.UnsafeEgressAllowLoopback {
		logger.Warn("UNSAFE: outbound requests may reach loopback addresses (--unsafe-egress-allow-loopback)")
	}
	return egress.New(policy, egress.Options{
		Logger:              logger,
		Resolver:            net.DefaultResolver,
		UnsafeAllowLoopback: cfg.UnsafeEgressAllowLoopback,
		OnDeny: func(ctx context.Context, d egress.Denial) {
			denials.WithLabelValues(string(d.Reason)).Inc()
			if onDeny != nil {
				onDeny(ctx, d)
			}
		},
	})
}

// newProviders builds the configured provider behind the egress client, one
// entry per allowed model.
func newProviders(cfg config.Config, out *egress.Client) (map[string]llm.Provider, error) {
	if cfg.LLMProvider == "" {
		return nil, nil
	}
	p, err := buildProvider(cfg, out, cfg.LLMAPIKey)
	if err != nil {
		return nil, fmt.Errorf("configuring the %s provider: %w", cfg.LLMProvider, err)
	}
	models := cfg.LLMModels
	if len(models) == 0 {
		models = llm.DefaultModels(cfg.LLMProvider)
	}
	out2 := map[string]llm.Provider{}
	for _, m := range models {
		out2[m] = p
	}
	return out2, nil
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

// gatewayMetrics counts LLM calls, their latency and tokens (R10).
func gatewayMetrics(reg *prometheus.Registry) func(gateway.Observation) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_llm_calls_total",
		Help: "Calls to the LLM gateway, by model and outcome."}, []string{"model", "outcome"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "palisade_llm_latency_seconds",
		Help: "Latency of provider calls through the gateway.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}, []string{"model"})
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_llm_tokens_total",
		Help: "Tokens spent through the gateway, by model and direction."}, []string{"model", "direction"})
	reg.MustRegister(calls, latency, tokens)
	return func(o gateway.Observation) {
		// Only allowlisted models become label values; anything else is
		// one bucket, so a caller cannot grow the label set.
		model := o.Model
		if o.Outcome == "refused" {
			model = "refused"
		}
		calls.WithLabelValues(model, o.Outcome).Inc()
		if o.Outcome == "refused" {
			return
		}
		latency.WithLabelValues(model).Observe(o.Latency.Seconds())
		tokens.WithLabelValues(model, "in").Add(float64(o.TokensIn))
		tokens.WithLabelValues(model, "out").Add(float64(o.TokensOut))
	}
}

// buildProvider builds the configured provider with key, behind the egress
// client.
func buildProvider(cfg config.Config, out *egress.Client, key secret.Secret) (llm.Provider, error) {
	hc := out.HTTPClient()
	switch cfg.LLMProvider {
	case "openai":
		return openai.New(openai.Config{BaseURL: cfg.LLMBaseURL, APIKey: key, HTTPClient: hc})
	case "anthropic":
		return anthropic.New(anthropic.Config{BaseURL: cfg.LLMBaseURL, APIKey: key, HTTPClient: hc})
	case "gemini":
		return gemini.New(gemini.Config{BaseURL: cfg.LLMBaseURL, APIKey: key, HTTPClient: hc})
	}
	return nil, fmt.Errorf("unknown provider %q", cfg.LLMProvider)
}

// ownProvider builds the configured provider with a key a workspace
// brings: the operator's kind and base URL, the same egress client.
func ownProvider(cfg config.Config, out *egress.Client) func(secret.Secret) (llm.Provider, error) {
	if cfg.LLMProvider == "" {
		return nil
	}
	return func(key secret.Secret) (llm.Provider, error) { return buildProvider(cfg, out, key) }
}
