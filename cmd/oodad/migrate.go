package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/ooda"
	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
)

// stateFlags are the flags of the commands that work on the state database
// alone (migrate, verify): run's other settings do not concern them.
type stateFlags struct {
	fs         *flag.FlagSet
	state      *string
	daemonUser *string
	dryRun     *bool
}

func newStateFlags(cmd, summary string, getenv func(string) string, stderr io.Writer, migrate bool) *stateFlags {
	f := &stateFlags{fs: flag.NewFlagSet("oodad "+cmd, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.state = f.fs.String("state", getenv("OODA_STATE_DSN"), "state backend: sqlite://DIR or sqlserver://user:password@host:port?database=NAME [$OODA_STATE_DSN]")
	if migrate {
		f.daemonUser = f.fs.String("daemon-user", getenv("OODA_MSSQL_DAEMON_USER"), "SQL Server: the database user oodad runs as; it owns the services and joins the role ooda_daemon (default: the user this migration connects as) [$OODA_MSSQL_DAEMON_USER]")
		f.dryRun = f.fs.Bool("dry-run", false, "SQL Server: print the SQL that would run, change nothing")
	}
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: oodad %s [flags]\n\n%s\n\nFlags:\n", cmd, summary)
		f.fs.PrintDefaults()
	}
	return f
}

func (f *stateFlags) parse(args []string, getenv func(string) string) (dir, dsn string, err error) {
	if err := f.fs.Parse(args); err != nil {
		return "", "", flagError(err)
	}
	if f.fs.NArg() > 0 {
		return "", "", usageError{fmt.Errorf("%s: unexpected argument %q", f.fs.Name(), f.fs.Arg(0))}
	}
	v := strings.TrimSpace(*f.state)
	dir, dsn, err = parseState(v, getenv)
	if err != nil {
		return "", "", usageError{fmt.Errorf("setting --state (OODA_STATE_DSN) = %q: %v", redact(v), err)}
	}
	return dir, dsn, nil
}

// runMigrate creates or upgrades the state database and exits. On SQLite,
// oodad run does the same at start; on SQL Server the migration is a
// deployment step, usually run with a stronger login than the daemon's.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	f := newStateFlags("migrate", "Creates or upgrades the state database, then exits. On SQL Server it installs the\nService Broker objects, state tables, procedures and the ooda_daemon role (sql/mssql).", getenv, stderr, true)
	dir, dsn, err := f.parse(args, getenv)
	if err != nil {
		return err
	}
	if dsn == "" {
		if *f.dryRun {
			return usageError{fmt.Errorf("migrate: --dry-run is for SQL Server; the SQLite schema is applied by oodad run itself")}
		}
		b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: ooda.Topology()})
		if err != nil {
			return err
		}
		if err := b.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "state database in %s is at the current schema\n", dir)
		return nil
	}
	defer func() { err = servicebroker.RedactError(err, dsn) }()
	db, err := openSQLServer(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	mctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	user := strings.TrimSpace(*f.daemonUser)
	if user == "" {
		if err := db.QueryRowContext(mctx, "SELECT USER_NAME();").Scan(&user); err != nil {
			return fmt.Errorf("migrate: find the connected user (the default --daemon-user): %w", err)
		}
		fmt.Fprintf(stderr, "oodad migrate: no --daemon-user: the services will be owned by %q, the user this migration connects as\n", user)
	}
	opts := mssqlschema.Options{DaemonUser: user}
	if *f.dryRun {
		opts.DryRun = stdout
	}
	res, err := mssqlschema.Migrate(mctx, db, opts)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", redact(dsn), err)
	}
	report := stdout
	if res.DryRun {
		report = stderr // stdout carries the SQL
	}
	if len(res.Changed) > 0 {
		fmt.Fprintf(stderr, "oodad migrate: warning: already applied scripts differ from this binary's (not re-run; a schema change needs a new numbered script): %s\n", strings.Join(res.Changed, ", "))
	}
	switch {
	case res.DryRun:
		fmt.Fprintf(report, "dry run: the database is at schema version %d; %d script(s) would bring it to %d: %s\n", res.From, len(res.Applied), res.To, strings.Join(res.Applied, ", "))
	case len(res.Applied) == 0:
		fmt.Fprintf(report, "state database is at schema version %d, the current one; nothing to do\n", res.To)
	default:
		fmt.Fprintf(report, "state database migrated from schema version %d to %d: %s (services owned by %q)\n", res.From, res.To, strings.Join(res.Applied, ", "), user)
	}
	return nil
}

// runVerify runs the start-up checks on demand and prints one line per
// check; any failed error-level check makes it fail (exit 1).
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	f := newStateFlags("verify", "Checks the state database as oodad run does at start (SQL Server: broker enabled,\nqueues, services, contracts, activation off, permissions, schema version, Query Store)\nand prints one line per check. Exit status 1 if an error-level check fails.", getenv, stderr, false)
	dir, dsn, err := f.parse(args, getenv)
	if err != nil {
		return err
	}
	if dsn == "" {
		b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: ooda.Topology()})
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		defer b.Close()
		for _, q := range ooda.Topology().Queues {
			st, err := b.QueueStatus(ctx, q)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			state := "ok   "
			if !st.ReceiveEnabled {
				state = "warn " // healed by the loop at start
			}
			fmt.Fprintf(stdout, "%s queue %s: receive enabled %v, %d waiting\n", state, q, st.ReceiveEnabled, st.Depth)
		}
		fmt.Fprintf(stdout, "ok    state database sqlite://%s opens at the current schema\n", dir)
		return nil
	}
	defer func() { err = servicebroker.RedactError(err, dsn) }()
	report, err := runPreflight(ctx, dsn, preflightSpec(true))
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, servicebroker.RedactError(errors.New(report.String()), dsn).Error())
	if err := report.Err(); err != nil {
		return fmt.Errorf("verify %s: %w", redact(dsn), err)
	}
	return nil
}
