//go:build !faults

package faulttest

// Full is false in the shortened run of the ordinary test suite: every
// scenario runs with small counts and short outages.
const Full = false
