package auth

import "time"

// waitBriefly yields while a test polls for goroutines to reach a state; it
// bounds nothing and no assertion depends on how long it takes.
func waitBriefly() { time.Sleep(100 * time.Microsecond) }
