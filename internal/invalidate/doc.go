// Package invalidate keeps in-process caches of security decisions (a
// verified API key, a gateway token and its bot's policy) honest: a Cache
// bounded in size with a short time-to-live as a backstop, a Hub that
// drops a workspace's entries at once in this process and tells every
// other process through a Bus (Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or
// memory for a single process).
//
// It must never serve a cached entry while the notice channel is down (a
// lost subscription flushes every cache and bypasses it until subscribed
// again), never keep an entry read before an invalidation it raced with,
// and never carry anything secret in a notice: notices name a workspace,
// nothing more.
package invalidate
