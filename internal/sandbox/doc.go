// Package sandbox runs a bot's work in a worker process of its own: the
// framed protocol spoken over the one socket the worker inherits, the
// parent's pool of workers (one per bot, with an idle timeout, a cap on
// live workers, a deadline per task and kill-and-replace on any breach),
// and on Linux the confinement a worker puts itself under before it reads a
// byte of input (namespaces, an empty root, no_new_privs, rlimits,
// Landlock, a seccomp allowlist).
//
// It must never give a worker anything but its socket: no inherited
// environment, file, credential or path of the data directory, and it must
// never let a worker's failure or a malformed frame take the parent down.
package sandbox
