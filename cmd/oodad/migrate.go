package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/ooda"
)

// runMigrate creates or upgrades the state database and exits. oodad run
// does the same at start; this lets an installer do it ahead of time.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	b, err := embedded.Open(ctx, embedded.Options{Dir: cfg.StateDir, Topology: ooda.Topology()})
	if err != nil {
		return err
	}
	if err := b.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "state database in %s is at the current schema\n", cfg.StateDir)
	return nil
}
