package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Lease is a short, renewable claim one process holds on a named piece of
// work that must run in exactly one process at a time (a Discord bot's
// Gateway session). A lease that is not renewed expires, and another
// process may take it.
type Lease struct {
	Name      string
	Owner     string
	ExpiresAt time.Time
}

// Leases are platform-level rows: a runner reads them before any scope is
// known, and they hold no tenant data (the name of the work, such as
// "discord-gateway:{channel id}", and a random process id).
type Leases interface {
	// AcquireLease takes the lease name for owner until now+ttl when it is
	// free, expired, or already owner's (then it is renewed), and reports
	// whether owner holds it.
	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
	// RenewLeases extends every unexpired lease of owner to now+ttl and
	// returns their names: a lease missing from the answer was lost.
	RenewLeases(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error)
	// ReleaseLease gives up owner's lease name at once; someone else's is
	// left alone.
	ReleaseLease(ctx context.Context, name, owner string) error
	// ListLeases lists the unexpired leases whose name starts with prefix.
	ListLeases(ctx context.Context, prefix string, now time.Time) ([]Lease, error)
	// ListChannelsOfKind lists the workspace's channels of one kind.
	ListChannelsOfKind(ctx context.Context, scope palisade.Scope, kind string) ([]palisade.Channel, error)
}
