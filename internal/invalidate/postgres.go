package invalidate

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the bus over PostgreSQL LISTEN/NOTIFY: notices go through
// the pool, and each listener holds a connection of its own.
type Postgres struct {
	pool    *pgxpool.Pool
	channel string
}

// NewPostgres returns a bus on channel (an identifier).
func NewPostgres(pool *pgxpool.Pool, channel string) *Postgres {
	return &Postgres{pool: pool, channel: channel}
}

// Publish implements Bus.
func (p *Postgres) Publish(ctx context.Context, scope string) error {
	_, err := p.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, p.channel, scope)
	return err
}

// Listen implements Bus.
func (p *Postgres) Listen(ctx context.Context, h Handler) {
	for ctx.Err() == nil {
		p.listenOnce(ctx, h)
		select {
		case <-ctx.Done():
		case <-time.After(retryDelay):
		}
	}
}

func (p *Postgres) listenOnce(ctx context.Context, h Handler) {
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return
	}
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{p.channel}.Sanitize()); err != nil {
		return
	}
	h.Up(true)
	defer h.Up(false)
	for {
		wait, cancel := context.WithTimeout(ctx, healthEvery)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			h.Notice(n.Payload)
		case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: prove the connection is still alive, or
			// give it up (a half-open connection would wait forever).
			ping, cancel := context.WithTimeout(ctx, healthEvery)
			err := conn.Ping(ping)
			cancel()
			if err != nil {
				return
			}
		default:
			return
		}
	}
}
