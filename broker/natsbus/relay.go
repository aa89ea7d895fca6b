package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/store"
)

// Subject prefix of events; the kind follows (hartonomous.ooda.evt.cycle.completed).
const (
	EventPrefix = "hartonomous.ooda.evt."
	StreamName  = "HARTONOMOUS_OODA"
)

// Relay publishes outbox events to NATS in order and trims what it published.
type Relay struct {
	NC     *nats.Conn
	Reader store.Reader
	// Trim deletes the published events (in a transaction of its own).
	Trim   func(ctx context.Context, seqs []int64) error
	Source string // ce-source
	Logger zerolog.Logger
	// JetStream, when set, publishes through the stream (acknowledged, deduplicated by Nats-Msg-Id).
	JetStream jetstream.JetStream

	kick chan struct{}
}

// NewRelay returns a relay; call Run.
func NewRelay(r Relay) *Relay {
	r.kick = make(chan struct{}, 1)
	r.Logger = r.Logger.With().Str("component", "relay").Logger()
	return &r
}

// Kick tells the relay that events were committed.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// EnsureStream creates or updates the replay stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       StreamName,
		Subjects:   []string{EventPrefix + ">"},
		Duplicates: 10 * time.Minute,
		MaxAge:     7 * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("natsbus: stream %s: %w", StreamName, err)
	}
	return nil
}

// Run publishes until ctx is cancelled, then makes a last pass so that a
// clean shutdown leaves the outbox empty if NATS is reachable.
func (r *Relay) Run(ctx context.Context) error {
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 200*time.Millisecond, 15*time.Second, 0
	r.Logger.Info().Msg("relay running")
	defer r.Logger.Info().Msg("relay stopped")
	var wait <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.Logger.Warn().Err(err).Msg("events left in the outbox at shutdown; they will be published at the next start")
			}
			return nil
		case <-r.kick:
		case <-wait:
		}
		wait = nil
		if err := r.Flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			d := retry.NextBackOff()
			r.Logger.Warn().Err(err).Dur("retry_in", d).Msg("could not publish events; they stay in the outbox")
			wait = time.After(d)
			continue
		}
		retry.Reset()
	}
}

// Flush publishes every pending event.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		evs, err := r.Reader.Events(ctx, 256)
		if err != nil || len(evs) == 0 {
			return err
		}
		var done []int64
		for _, e := range evs {
			if err := r.publish(ctx, e); err != nil {
				if len(done) > 0 {
					_ = r.Trim(context.WithoutCancel(ctx), done)
				}
				return fmt.Errorf("publish event %s (%s): %w", e.ID, e.Kind, err)
			}
			done = append(done, e.Seq)
		}
		if r.JetStream == nil {
			// Core NATS: make sure the server has the messages before
			// trimming (FlushWithContext requires a deadline).
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := r.NC.FlushWithContext(fctx)
			cancel()
			if err != nil {
				return fmt.Errorf("flush: %w", err)
			}
		}
		if err := r.Trim(context.WithoutCancel(ctx), done); err != nil {
			return fmt.Errorf("trim outbox: %w", err)
		}
	}
}

// Message builds the CloudEvents (binary mode) NATS message of an event.
func Message(e store.Event, source string) *nats.Msg {
	m := nats.NewMsg(EventPrefix + e.Kind)
	m.Header.Set("ce-specversion", "1.0")
	m.Header.Set("ce-id", e.ID)
	m.Header.Set("ce-type", "hartonomous.ooda."+e.Kind)
	m.Header.Set("ce-source", source)
	m.Header.Set("ce-time", e.CreatedAt.UTC().Format(time.RFC3339Nano))
	if e.CycleID != "" {
		m.Header.Set("ce-subject", e.CycleID)
	}
	m.Header.Set("content-type", "application/json")
	m.Header.Set(nats.MsgIdHdr, e.ID)
	m.Data = e.Data
	return m
}

func (r *Relay) publish(ctx context.Context, e store.Event) error {
	m := Message(e, r.Source)
	if r.JetStream != nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := r.JetStream.PublishMsg(pctx, m)
		return err
	}
	if r.NC.Status() != nats.CONNECTED {
		return errors.New("NATS is not connected (" + r.NC.Status().String() + ")")
	}
	return r.NC.PublishMsg(m)
}
