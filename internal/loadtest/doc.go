// Package loadtest is the end-to-end load harness's machinery: a load
// generator that drives an HTTP endpoint in a closed loop (a fixed number
// of connections, each sending as soon as its last answer arrived) or an
// open loop (a fixed rate, each request's latency measured from the time
// it was scheduled to be sent, so a slow server cannot hide its queue),
// and the bookkeeping of a server child process: its CPU time and
// resident memory from /proc.
//
// It is a development tool run by `make load` and is never linked into
// the release binary. It must never send traffic anywhere but loopback
// and must never run unbounded: every run has a request count and a
// duration that stop it.
package loadtest
