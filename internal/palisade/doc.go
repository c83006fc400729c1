// Package palisade is the domain vocabulary shared by every other package:
// workspaces, users, bots, channels, conversations and messages, their typed
// identifiers, roles and permissions, and the closed set of error codes.
//
// It must never import another package of this module, talk to a database or
// the network, or hold mutable package-level state: it only names things.
package palisade
