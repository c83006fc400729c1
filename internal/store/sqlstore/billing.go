package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- billing ----

func (s *Store) RecordBillingEvent(ctx context.Context, scope palisade.Scope, p store.BillingEventParams) (bool, error) {
	var fresh bool
	record := func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO billing_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			p.ID, p.Type, dbTime(p.Now))
		if err != nil || n == 0 {
			return err
		}
		fresh = true
		if p.Plan == nil || !scope.Valid() {
			return nil
		}
		pl := p.Plan
		// Only an existing workspace gets a row; and a state older than
		// the stored one (an event delivered late) leaves it as it is.
		_, err = tx.Exec(ctx, `INSERT INTO workspace_plans (workspace_id, plan, product_id, subscription_id, status, source_time, updated_at)
			SELECT id, $2, $3, $4, $5, $6, $7 FROM workspaces WHERE id = $1
			ON CONFLICT (workspace_id) DO UPDATE SET plan = excluded.plan, product_id = excluded.product_id,
				subscription_id = excluded.subscription_id, status = excluded.status, source_time = excluded.source_time,
				updated_at = excluded.updated_at
			WHERE workspace_plans.source_time <= excluded.source_time`,
			string(scope.Workspace()), pl.Plan, pl.ProductID, pl.SubscriptionID, pl.Status, dbTime(pl.SourceTime), dbTime(p.Now))
		return err
	}
	var err error
	if scope.Valid() {
		err = s.tenant(ctx, scope, record)
	} else {
		err = s.platform(ctx, record)
	}
	return fresh, s.mapErr(err, "recording billing event")
}

func (s *Store) GetWorkspacePlan(ctx context.Context, scope palisade.Scope) (store.WorkspacePlan, error) {
	var p store.WorkspacePlan
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT plan, product_id, subscription_id, status, source_time, updated_at FROM workspace_plans WHERE workspace_id = $1`,
			string(scope.Workspace())).Scan(&p.Plan, &p.ProductID, &p.SubscriptionID, &p.Status, timeScan{&p.SourceTime}, timeScan{&p.UpdatedAt})
	})
	return p, s.mapErr(err, "reading workspace plan")
}

func (s *Store) CountMessagesSince(ctx context.Context, scope palisade.Scope, role string, since time.Time) (int, error) {
	var n int
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND role = $2 AND created_at >= $3`,
			string(scope.Workspace()), role, dbTime(since)).Scan(&n)
	})
	return n, s.mapErr(err, "counting messages")
}

// ---- outgoing webhook endpoints ----

const eventEndpointCols = `id, workspace_id, url, description, events, created_at`

func scanEventEndpoint(r Row) (store.EventEndpoint, error) {
	var e store.EventEndpoint
	var ws, events string
	err := r.Scan(&e.ID, &ws, &e.URL, &e.Description, &events, timeScan{&e.CreatedAt})
	e.WorkspaceID = palisade.WorkspaceID(ws)
	if events != "" {
		e.Events = strings.Split(events, ",")
	}
	return e, err
}

func (s *Store) CreateEventEndpoint(ctx context.Context, scope palisade.Scope, p store.CreateEventEndpointParams) (store.EventEndpoint, error) {
	if !scope.Valid() {
		return store.EventEndpoint{}, store.ErrNoScope
	}
	if p.Secret.IsZero() {
		return store.EventEndpoint{}, palisade.FieldError("secret", "an endpoint needs a signing secret")
	}
	for _, ev := range p.Events {
		if ev == "" || strings.Contains(ev, ",") {
			return store.EventEndpoint{}, palisade.FieldError("events", "malformed event type")
		}
	}
	e := store.EventEndpoint{ID: palisade.NewID(palisade.PrefixEventEndpoint), WorkspaceID: scope.Workspace(), URL: p.URL,
		Description: p.Description, Events: append([]string(nil), p.Events...), CreatedAt: dbTime(p.Now)}
	sealed, err := s.sealSecret(ctx, scope, "event_endpoints", "sealed_secret", e.ID, p.Secret)
	if err != nil {
		return store.EventEndpoint{}, err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO event_endpoints (id, workspace_id, url, description, events, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			e.ID, string(e.WorkspaceID), e.URL, e.Description, strings.Join(e.Events, ","), sealed, e.CreatedAt)
		return err
	})
	return e, s.mapErr(err, "creating webhook endpoint")
}

func (s *Store) GetEventEndpoint(ctx context.Context, scope palisade.Scope, id string) (store.EventEndpoint, error) {
	var e store.EventEndpoint
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		e, err = scanEventEndpoint(tx.QueryRow(ctx, `SELECT `+eventEndpointCols+` FROM event_endpoints WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), id))
		return err
	})
	return e, s.mapErr(err, "reading webhook endpoint")
}

func (s *Store) ListEventEndpoints(ctx context.Context, scope palisade.Scope) ([]store.EventEndpoint, error) {
	var out []store.EventEndpoint
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+eventEndpointCols+` FROM event_endpoints WHERE workspace_id = $1 ORDER BY created_at, id`,
			string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEventEndpoint(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing webhook endpoints")
}

func (s *Store) EventEndpointSecret(ctx context.Context, scope palisade.Scope, id string) (secret.Secret, error) {
	var sealed []byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT sealed_secret FROM event_endpoints WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), id).Scan(&sealed)
	})
	if err != nil {
		return secret.Secret{}, s.mapErr(err, "reading webhook endpoint secret")
	}
	return s.openSecret(ctx, scope, "event_endpoints", "sealed_secret", id, sealed)
}

func (s *Store) DeleteEventEndpoint(ctx context.Context, scope palisade.Scope, id string) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM event_deliveries WHERE workspace_id = $1 AND endpoint_id = $2`, string(scope.Workspace()), id); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `DELETE FROM event_endpoints WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), id)
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting webhook endpoint")
}

func (s *Store) RecordEventDelivery(ctx context.Context, scope palisade.Scope, d store.EventDelivery) (store.EventDelivery, error) {
	d.ID = palisade.NewID(palisade.PrefixEventDelivery)
	d.CreatedAt = dbTime(d.CreatedAt)
	err := s.tenant(ctx, scope, func(tx Tx) error {
		// The endpoint must be the workspace's own.
		n, err := tx.Exec(ctx, `INSERT INTO event_deliveries (id, workspace_id, endpoint_id, event_id, event_type, attempt, status, error, duration_ms, created_at)
			SELECT $1, workspace_id, id, $4, $5, $6, $7, $8, $9, $10 FROM event_endpoints WHERE workspace_id = $2 AND id = $3`,
			d.ID, string(scope.Workspace()), d.EndpointID, d.EventID, d.EventType, d.Attempt, d.Status, d.Error, d.Duration.Milliseconds(), d.CreatedAt)
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return d, s.mapErr(err, "recording webhook delivery")
}

func (s *Store) ListEventDeliveries(ctx context.Context, scope palisade.Scope, endpoint string, limit int) ([]store.EventDelivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []store.EventDelivery
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, endpoint_id, event_id, event_type, attempt, status, error, duration_ms, created_at FROM event_deliveries
			WHERE workspace_id = $1 AND endpoint_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3`, string(scope.Workspace()), endpoint, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d store.EventDelivery
			var ms int64
			if err := rows.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Attempt, &d.Status, &d.Error, &ms, timeScan{&d.CreatedAt}); err != nil {
				return err
			}
			d.Duration = time.Duration(ms) * time.Millisecond
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing webhook deliveries")
}
