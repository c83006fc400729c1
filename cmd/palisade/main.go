// Command palisade runs and operates Palisade; see internal/cli.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/palisadehq/palisade/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, cli.ErrUsage):
		if msg := err.Error(); msg != cli.ErrUsage.Error() {
			fmt.Fprintln(os.Stderr, "palisade:", msg)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "palisade:", err)
		os.Exit(1)
	}
}
