package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/natsbus"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

// newLogger writes JSON lines to w. The stage loops, the relay and NATS
// callbacks log concurrently: SyncWriter serialises the writes for any w.
func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	return zerolog.New(zerolog.SyncWriter(w)).Level(level).With().Timestamp().Str("service", "oodad").Logger()
}

// runDaemon runs the loop until ctx is cancelled.
func runDaemon(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	hup, stopHUP := catchHUP()
	defer stopHUP()
	notify := newNotifier(getenv)
	start := time.Now()

	be, err := openBackends(ctx, cfg, &log)
	if err != nil {
		return err
	}
	defer be.Close()
	b, st, target := be.broker, be.store, be.target
	log.Info().Str("state", be.state).Str("target", target.Name()).Bool("dry_run", cfg.DryRun).Msg("state opened")

	// NATS: embedded, external, or off.
	var (
		ns  *server.Server
		nc  *nats.Conn
		js  jetstream.JetStream
		url = cfg.NATSURL
	)
	if url == "" {
		ns, url, err = natsbus.StartEmbedded(natsbus.EmbeddedOptions{Listen: cfg.NATSListen, StoreDir: filepath.Join(cfg.StateDir, "nats")})
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		log.Info().Str("url", url).Msg("embedded NATS server listening")
	}
	var relay *natsbus.Relay
	// The reconnect handler may run before relay is set (NATS coming up
	// while the stream is being set up): it reads the relay through this.
	var liveRelay atomic.Pointer[natsbus.Relay]
	var stopping atomic.Bool
	natsClosed, closeOnce := make(chan struct{}), &sync.Once{}
	if url != "none" {
		nc, err = nats.Connect(url, nats.Name("oodad"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
			nats.ClosedHandler(func(*nats.Conn) { closeOnce.Do(func() { close(natsClosed) }) }),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if !stopping.Load() {
					log.Warn().Err(err).Msg("NATS disconnected; events wait in the outbox")
				}
			}),
			nats.ReconnectHandler(func(c *nats.Conn) {
				log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected")
				if r := liveRelay.Load(); r != nil {
					r.Kick()
				}
			}))
		if err != nil {
			return fmt.Errorf("nats %s: %w", redact(url), err)
		}
		defer nc.Close()
		if j, err := jetstream.New(nc); err == nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := natsbus.EnsureStream(sctx, j); err != nil {
				log.Warn().Err(err).Msg("no JetStream stream: events go out on core NATS without replay")
			} else {
				js = j
			}
			cancel()
		}
		relay = natsbus.NewRelay(natsbus.Relay{NC: nc, JetStream: js, Reader: st, Logger: log, Source: "oodad/" + hostname(),
			Trim: func(ctx context.Context, seqs []int64) error {
				return broker.InTx(ctx, b, func(_ broker.Tx, q broker.Querier) error { return st.DeleteEvents(ctx, q, seqs) })
			}})
		liveRelay.Store(relay)
	}

	var lastBeat atomic.Int64
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ecfg := ooda.Config{Broker: b, Store: st, Reader: st, Target: target, Logger: log, DryRun: cfg.DryRun, ValidationWindow: cfg.Validation,
		ExclusiveState: cfg.StateDSN == "", // SQLite: one daemon per data directory
		Metrics:        newMetrics(reg, b, st, nc),
		Published: func() {
			if relay != nil {
				relay.Kick()
			}
		},
		Heartbeat: func() { lastBeat.Store(time.Now().UnixNano()) }}
	ecfg.PolicyFile = cfg.Policy
	engine, err := ooda.New(ecfg)
	if err != nil {
		return err
	}
	if cfg.Policy != nil {
		log.Info().Str("policy", cfg.PolicyPath).RawJSON("effective", engine.EffectivePolicy()).Msg("policy file applied")
	}
	go serveHUP(ctx, hup, cfg.PolicyPath, engine, log)
	ctl := &controller{engine: engine, store: st, broker: b, nc: nc, started: start}
	if nc != nil {
		svc, err := natsbus.AddControl(nc, serviceVersion(), ctl)
		if err != nil {
			return err
		}
		defer svc.Stop()
	}

	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = engine.Run(loopCtx, func() { close(ready) })
	}()
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	var relayDone sync.WaitGroup
	if relay != nil {
		relayDone.Add(1)
		go func() { defer relayDone.Done(); _ = relay.Run(relayCtx) }()
		relay.Kick() // events left from a previous run
	}
	if cfg.HTTPAddr != "" {
		srv, err := serveHTTP(cfg.HTTPAddr, ctl, ready, reg, log)
		if err != nil {
			stopLoop()
			wg.Wait()
			return err
		}
		defer srv.Close()
	}
	if cfg.Schedule != nil && be.runLeader != nil {
		// Several daemons may share a SQL Server state: one of them, the
		// leader, fires the schedules.
		wg.Add(1)
		go func() { defer wg.Done(); _ = be.runLeader(loopCtx) }()
	}
	if cfg.Schedule != nil {
		sch := &scheduler{schedule: cfg.Schedule, spec: cfg.ScheduleRaw, trigger: engine.Trigger,
			lastRun: func(ctx context.Context) (time.Time, bool, error) { return st.LastStart(ctx, "schedule") }, leading: be.leading, log: log.With().Str("component", "scheduler").Logger(), now: time.Now}
		wg.Add(1)
		go func() { defer wg.Done(); sch.Run(loopCtx) }()
	}

	select {
	case <-ready:
	case <-ctx.Done():
	}
	if ctx.Err() == nil {
		_ = notify.send("READY=1\nSTATUS=running")
		log.Info().Dur("startup", time.Since(start)).Str("nats", redact(url)).Str("http", cfg.HTTPAddr).Str("schedule", cfg.ScheduleRaw).Msg("ready")
	}
	if iv := watchdogInterval(getenv); iv > 0 {
		go func() {
			t := time.NewTicker(iv)
			defer t.Stop()
			for {
				select {
				case <-loopCtx.Done():
					return
				case <-t.C:
					// Only a loop that made progress recently (every stage step
					// beats, and an idle receive returns every few seconds) is alive.
					if time.Since(time.Unix(0, lastBeat.Load())) < 4*iv+10*time.Second {
						_ = notify.send("WATCHDOG=1")
					}
				}
			}
		}()
	}

	<-ctx.Done()
	stopping.Store(true)
	_ = notify.send("STOPPING=1")
	log.Info().Msg("stopping: finishing the step in hand")
	done := make(chan struct{})
	go func() {
		stopLoop()
		wg.Wait()
		stopRelay() // after the loop: the last commits' events go out in the relay's final pass
		relayDone.Wait()
		if nc != nil && nc.Drain() == nil {
			// Drain is asynchronous: wait for it to finish (the closed
			// handler) so that the deferred Close does not cut it short.
			<-natsClosed
		}
		close(done)
	}()
	select {
	case <-done:
		log.Info().Msg("stopped")
		return nil
	case <-time.After(cfg.StopTimeout):
		return fmt.Errorf("shutdown took longer than the stop timeout of %s; committed work is safe, the step in hand will be redelivered", cfg.StopTimeout)
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

func serveHTTP(addr string, ctl *controller, ready <-chan struct{}, reg *prometheus.Registry, log zerolog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
		default:
			http.Error(w, "not ready: the stage loops are starting", http.StatusServiceUnavailable)
			return
		}
		st, err := ctl.Status(r.Context())
		if err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("http listening")
	return srv, nil
}

// controller answers the control service.
type controller struct {
	engine  *ooda.Engine
	store   stateStore
	broker  broker.Broker
	nc      *nats.Conn
	started time.Time
}

var _ natsbus.Controller = (*controller)(nil)

func (c *controller) Trigger(ctx context.Context, r natsbus.TriggerRequest) (natsbus.TriggerResponse, error) {
	res, err := c.engine.Trigger(ctx, ooda.TriggerParams{Source: "operator", Reason: r.Reason, Key: r.Key})
	if errors.Is(err, ooda.ErrInvalidRequest) {
		return natsbus.TriggerResponse{}, fmt.Errorf("%w: %v", natsbus.ErrBadRequest, err)
	}
	return natsbus.TriggerResponse{CycleID: res.CycleID, Started: res.Started}, err
}

type queueStatus struct {
	broker.QueueStatus
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

type status struct {
	Version     string        `json:"version"`
	Uptime      string        `json:"uptime"`
	Paused      bool          `json:"paused"`
	NATS        string        `json:"nats"`
	OutboxDepth int64         `json:"outbox_depth"`
	Queues      []queueStatus `json:"queues"`
}

func (c *controller) Status(ctx context.Context) (any, error) {
	s := status{Version: version(), Uptime: time.Since(c.started).Round(time.Second).String(), NATS: "off"}
	var err error
	if s.Paused, err = c.engine.Paused(ctx); err != nil {
		return nil, err
	}
	if c.nc != nil {
		s.NATS = c.nc.Status().String()
	}
	if s.OutboxDepth, err = c.store.OutboxDepth(ctx); err != nil {
		return nil, err
	}
	for _, q := range []string{ooda.ObserveQueue, ooda.OrientQueue, ooda.DecideQueue, ooda.ActQueue} {
		qs, err := c.broker.QueueStatus(ctx, q)
		if err != nil {
			return nil, err
		}
		e := queueStatus{QueueStatus: qs}
		if !qs.OldestEnqueuedAt.IsZero() {
			e.OldestAgeSeconds = time.Since(qs.OldestEnqueuedAt).Seconds()
		}
		s.Queues = append(s.Queues, e)
	}
	return s, nil
}

func (c *controller) Cycles(ctx context.Context, limit int) (any, error) {
	return c.store.Cycles(ctx, limit)
}

func (c *controller) Cycle(ctx context.Context, id string) (any, error) {
	d, err := c.store.Cycle(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no cycle %q", natsbus.ErrNotFound, id)
	}
	return d, err
}

func (c *controller) Pause(ctx context.Context, r natsbus.PauseRequest) error {
	return c.engine.SetPaused(ctx, true, r.By, r.Reason)
}

func (c *controller) Resume(ctx context.Context, r natsbus.PauseRequest) error {
	return c.engine.SetPaused(ctx, false, r.By, r.Reason)
}

func (c *controller) DeadLetters(ctx context.Context, limit int) (any, error) {
	return c.store.DeadLetters(ctx, limit)
}

func (c *controller) Redrive(ctx context.Context, r natsbus.RedriveRequest) error {
	err := c.engine.Redrive(ctx, r.ID, r.By)
	if errors.Is(err, ooda.ErrCannotRedrive) {
		if strings.Contains(err.Error(), "no dead letter") {
			return fmt.Errorf("%w: %v", natsbus.ErrNotFound, err)
		}
		return fmt.Errorf("%w: %v", natsbus.ErrConflict, err)
	}
	return err
}

func (c *controller) Approvals(ctx context.Context, limit int) (any, error) {
	return c.engine.Approvals(ctx, limit)
}

func (c *controller) Approve(ctx context.Context, r natsbus.ApprovalRequest) (any, error) {
	return approvalAnswer(c.engine.Approve(ctx, r.ID, r.By, r.Reason))
}

func (c *controller) Reject(ctx context.Context, r natsbus.ApprovalRequest) (any, error) {
	return approvalAnswer(c.engine.Reject(ctx, r.ID, r.By, r.Reason))
}

func (c *controller) Policy(context.Context) (any, error) { return c.engine.EffectivePolicy(), nil }

func (c *controller) WhatIf(ctx context.Context, r natsbus.WhatIfRequest) (any, error) {
	res, err := c.engine.WhatIf(ctx, r.Observation)
	if errors.Is(err, ooda.ErrInvalidRequest) {
		return nil, fmt.Errorf("%w: %v", natsbus.ErrBadRequest, err)
	}
	return res, err
}

// approvalAnswer maps the engine's errors to the control service's codes.
func approvalAnswer(a store.Approval, err error) (any, error) {
	switch {
	case errors.Is(err, ooda.ErrUnknownApproval):
		return nil, fmt.Errorf("%w: %v", natsbus.ErrNotFound, err)
	case errors.Is(err, ooda.ErrApprovalClosed), errors.Is(err, ooda.ErrPausedApproval):
		return nil, fmt.Errorf("%w: %v", natsbus.ErrConflict, err)
	case errors.Is(err, ooda.ErrInvalidRequest):
		return nil, fmt.Errorf("%w: %v", natsbus.ErrBadRequest, err)
	case err != nil:
		return nil, err
	}
	return a, nil
}
