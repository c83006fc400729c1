package invalidate

import "context"

// None is the bus where no notice can reach every process that changes
// the data: on SQLite the commands an operator runs beside the server
// (suspending or deleting a workspace, revoking a key) write the database
// file directly and announce nothing. It never subscribes, so every cache
// on it is bypassed and each decision reads the database.
type None struct{}

// Publish implements Bus; there is no one to tell.
func (None) Publish(context.Context, string) error { return nil }

// Listen implements Bus: it waits for ctx without ever reporting a
// subscription.
func (None) Listen(ctx context.Context, _ Handler) { <-ctx.Done() }
