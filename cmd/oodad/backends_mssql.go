package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/broker/servicebroker/applock"
	"github.com/hartonomous/ooda/broker/servicebroker/preflight"
	"github.com/hartonomous/ooda/ooda"
	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
	mssqlstore "github.com/hartonomous/ooda/store/mssql"
	"github.com/hartonomous/ooda/store/mssqltarget"
)

// openSQLServerState checks the database as SERVICE_BROKER.md asks (one log
// line per failed check, naming the object and the fix), then opens Service
// Broker, the state tables beside it, and the leader election of the
// schedules: several daemons may share one database as competing consumers.
func (be *backends) openSQLServerState(ctx context.Context, cfg config, log *zerolog.Logger) error {
	spec := preflightSpec(cfg.TargetDSN == "")
	report, err := runPreflight(ctx, cfg.StateDSN, spec)
	if err != nil {
		return err
	}
	failed := 0
	for _, f := range report.Failed() {
		ev := log.Warn()
		// A queue disabled by the poison rule is healed by its stage as
		// soon as the loop runs (the head message goes to the dead letters).
		if f.Severity == preflight.SeverityError && f.Check != preflight.CheckQueueStatus {
			ev = log.Error()
			failed++
		}
		ev.Str("check", f.Check).Str("object", f.Object).Str("fix", f.Fix).Msg(servicebroker.RedactError(errors.New(f.Problem), cfg.StateDSN).Error())
	}
	if failed > 0 {
		return fmt.Errorf("state database %s failed %d start-up check(s), each logged above with its fix; scripts/verify runs the same checks", redact(cfg.StateDSN), failed)
	}
	b, err := servicebroker.Open(ctx, servicebroker.Options{DSN: cfg.StateDSN, Topology: ooda.Topology()})
	if err != nil {
		return err
	}
	be.broker, be.closers = b, append(be.closers, b.Close)
	be.store = mssqlstore.Open(b.DB())
	be.state = redact(cfg.StateDSN)
	el := applock.New(b.DB(), applock.Options{Logger: log.With().Str("component", "leader").Logger()})
	be.leading, be.runLeader = el.Leading, el.Run
	return nil
}

// preflightSpec is what this binary expects of a SQL Server state database.
func preflightSpec(targetToo bool) preflight.Spec {
	return preflight.Spec{Topology: ooda.Topology(), WantSchemaVersion: mssqlschema.LatestVersion(), NeedQueryStore: targetToo}
}

// runPreflight runs the start-up checks on a pool of its own.
func runPreflight(ctx context.Context, dsn string, spec preflight.Spec) (preflight.Report, error) {
	db, err := openSQLServer(dsn)
	if err != nil {
		return preflight.Report{}, err
	}
	defer db.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return preflight.Check(cctx, db, spec), nil
}

// openSQLServer opens a pool with the session settings every SQL Server
// connection of the daemon uses.
func openSQLServer(dsn string) (*sql.DB, error) { return servicebroker.OpenDB(dsn) }

func (be *backends) openSQLServerTarget(ctx context.Context, cfg config, dsn string, log *zerolog.Logger) error {
	opts := mssqltarget.Options{DSN: dsn}
	if cfg.Policy != nil && len(cfg.Policy.ProtectedTables) > 0 {
		// The actuators refuse index changes on these as the policy does
		// (billing stays protected whatever the file says). Read at start.
		opts.ProtectedTables = append([]string{"billing"}, cfg.Policy.ProtectedTables...)
	}
	t, err := mssqltarget.Open(ctx, opts)
	if err != nil {
		return err
	}
	be.target, be.closers = t, append(be.closers, t.Close)
	return nil
}
