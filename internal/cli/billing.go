package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/store"
)

// newBilling builds the billing service from the plans file; without one,
// billing is off: nil, and no workspace has limits.
func newBilling(cfg config.Config, env *Env, logger *slog.Logger, s store.Store) (*billing.Service, error) {
	if cfg.BillingPlansFile == "" {
		return nil, nil
	}
	plans, err := billing.LoadPlans(cfg.BillingPlansFile)
	if err != nil {
		return nil, fmt.Errorf("%w: --billing-plans-file: %v", ErrUsage, err)
	}
	svc, err := billing.New(billing.Options{Store: s, Plans: plans, Secret: cfg.PolarWebhookSecret, CheckoutURL: cfg.PolarCheckoutURL,
		Now: env.Now, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("%w: billing: %v", ErrUsage, err)
	}
	logger.Info("billing is on: Polar webhooks at /hooks/billing/polar", "plans", len(plans.Products))
	return svc, nil
}

// newEvents builds the outgoing webhook service. Each delivery goes
// through an egress client of its own, allowing only its endpoint, with
// the process's resolver and address checks (loopback only with
// --unsafe-egress-allow-loopback), its refusals audited like every other.
// onDeny counts and audits the denials of the endpoints' own egress
// clients, as for the process's main one.
func newEvents(cfg config.Config, env *Env, logger *slog.Logger, s store.Store, jobKey *job.ArgsKey, rec *audit.Logger,
	onDeny func(context.Context, egress.Denial)) (*events.Service, error) {
	return events.New(events.Options{Store: s, ArgsKey: jobKey, Audit: rec, Now: env.Now, Logger: logger,
		Egress: egress.Options{Resolver: net.DefaultResolver, UnsafeAllowLoopback: cfg.UnsafeEgressAllowLoopback,
			OnDeny: onDeny}})
}
