// Command oodad is the Hartonomous OODA daemon: it runs the OODA loop over
// its state database (oodad run, the default), applies the schema (oodad
// migrate), checks it (oodad verify), and measures the queue engine (oodad bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp): // help was asked for and printed
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "oodad:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "oodad:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ error }

// flagError makes a flag parsing error a usage error; --help stays ErrHelp.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

const usage = `oodad — the Hartonomous OODA daemon

Usage:
  oodad [command] [flags]

Commands:
  run       run the OODA loop (the default when no command is given)
  migrate   create or upgrade the state database, then exit (SQL Server: --dry-run prints the SQL)
  verify    check the state database as run does at start (SQL Server: broker, objects,
            permissions, schema version); exit status 1 if a check fails
  bench     measure the engine and the daemon (benchmarks B1–B7) against same-run references
  version   print the version
  help      print this help

Run "oodad <command> --help" for a command's flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help" && args[0] != "--version") {
		return runDaemon(ctx, args, getenv, stderr)
	}
	switch args[0] {
	case "run":
		return runDaemon(ctx, args[1:], getenv, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], getenv, stdout, stderr)
	case "nats-server": // the reference process of benchmark B5; not listed in the help
		return runNATSServer(ctx, args[1:])
	case "bench":
		return runBench(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "oodad", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// serviceVersion is version() in the SemVer form the NATS micro service
// requires; a development build reports 0.0.0-devel.
func serviceVersion() string {
	v := version()
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		if i := strings.IndexByte(v, ' '); i > 0 {
			v = v[:i]
		}
		return v[1:]
	}
	return "0.0.0-devel"
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
