package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
	"github.com/hartonomous/ooda/store/sqlite"
)

// stateStore writes inside stage transactions and answers operators.
type stateStore interface {
	store.Writer
	store.Reader
}

// backends are the concrete parts the configuration picked: the queues, the
// state beside them, the target, and who fires the schedules. This is the
// only place that knows which engines exist.
type backends struct {
	broker broker.Broker
	store  stateStore
	target store.Target
	// state describes the state backend for logs, password redacted.
	state string
	// leading says whether this daemon fires the schedules; runLeader,
	// when set, campaigns for that until ctx ends.
	leading   func() bool
	runLeader func(ctx context.Context) error
	closers   []func() error
}

// Close releases everything in reverse order of opening.
func (b *backends) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	return errors.Join(errs...)
}

func openBackends(ctx context.Context, cfg config, log *zerolog.Logger) (_ *backends, err error) {
	be := &backends{leading: func() bool { return true }}
	defer func() {
		if err != nil {
			_ = be.Close()
		}
	}()
	// Errors from SQL Server paths may quote the DSN (the driver's parse
	// errors do): its secrets are replaced before anyone sees them.
	if cfg.StateDSN != "" {
		err = servicebroker.RedactError(be.openSQLServerState(ctx, cfg, log), cfg.StateDSN)
	} else {
		err = be.openEmbeddedState(ctx, cfg, log)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.TargetDSN != "":
		err = servicebroker.RedactError(be.openSQLServerTarget(ctx, cfg, cfg.TargetDSN, log), cfg.TargetDSN)
	case cfg.StateDSN != "":
		err = servicebroker.RedactError(be.openSQLServerTarget(ctx, cfg, cfg.StateDSN, log), cfg.StateDSN)
	}
	if err != nil {
		return nil, err
	}
	return be, nil
}

// openEmbeddedState opens the SQLite state in cfg.StateDir (one daemon per
// directory: the broker holds a lock file). Unless another target is
// configured, the state database is also the target.
func (be *backends) openEmbeddedState(ctx context.Context, cfg config, log *zerolog.Logger) error {
	b, err := embedded.Open(ctx, embedded.Options{Dir: cfg.StateDir, Topology: ooda.Topology(), Logger: log})
	if err != nil {
		return err
	}
	be.broker, be.closers = b, append(be.closers, b.Close)
	dbPath := filepath.Join(b.Dir(), embedded.DatabaseFile)
	st, err := sqlite.Open(dbPath)
	if err != nil {
		return err
	}
	be.store, be.closers = st, append(be.closers, st.Close)
	be.state = "sqlite://" + b.Dir()
	if cfg.TargetDSN == "" {
		t, err := sqlite.OpenTarget(dbPath, 0)
		if err != nil {
			return err
		}
		be.target, be.closers = t, append(be.closers, t.Close)
	}
	return nil
}
