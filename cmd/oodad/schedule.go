package main

import (
	"context"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/ooda"
)

// scheduler fires cycles on a cron schedule. A tick while the previous
// scheduled cycle still runs is skipped: every scheduled trigger carries the
// same idempotency key, so the engine starts nothing new. At start, if a
// scheduled run was missed while the daemon was down, it runs once at once
// (one catch-up, however many runs were missed).
type scheduler struct {
	schedule cron.Schedule
	spec     string
	trigger  func(context.Context, ooda.TriggerParams) (ooda.TriggerResult, error)
	// lastRun says when the last scheduled cycle started (ok=false: never).
	lastRun func(context.Context) (time.Time, bool, error)
	// leading says whether this daemon fires the schedules. With the
	// embedded state there is one daemon per data directory, so it always
	// leads; on SQL Server this becomes the sp_getapplock session.
	leading func() bool
	log     zerolog.Logger
	now     func() time.Time
}

// scheduleKey is the idempotency key of scheduled cycles.
const scheduleKey = "schedule"

func (s *scheduler) Run(ctx context.Context) {
	s.log.Info().Str("schedule", s.spec).Time("next", s.schedule.Next(s.now())).Msg("scheduler running")
	// The catch-up is the leader's: at start when this daemon leads, and
	// whenever it becomes the leader (the election may take a few seconds
	// after start, or hand over from a daemon that went away).
	leading := s.leading == nil || s.leading()
	if leading {
		s.catchUp(ctx)
	}
	var poll <-chan time.Time
	if s.leading != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		poll = t.C
	}
	for {
		next := s.schedule.Next(s.now())
		t := time.NewTimer(next.Sub(s.now()))
	wait:
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Info().Msg("scheduler stopped")
			return
		case <-poll:
			now := s.leading()
			if now && !leading {
				s.catchUp(ctx)
			}
			leading = now
			goto wait
		case <-t.C:
		}
		s.fire(ctx, "scheduled")
	}
}

// catchUp runs one cycle at once if a scheduled run was missed (however
// many were).
func (s *scheduler) catchUp(ctx context.Context) {
	last, ok, err := s.lastRun(ctx)
	switch {
	case err != nil:
		s.log.Error().Err(err).Msg("cannot tell whether a scheduled run was missed; no catch-up")
	case ok && !s.schedule.Next(last).After(s.now()):
		s.log.Warn().Time("last_run", last).Time("missed", s.schedule.Next(last)).Msg("a scheduled run was missed; catching up once")
		s.fire(ctx, "catch-up of a missed run")
	}
}

func (s *scheduler) fire(ctx context.Context, why string) {
	if s.leading != nil && !s.leading() {
		s.log.Debug().Msg("scheduled tick left to the leader")
		return
	}
	res, err := s.trigger(ctx, ooda.TriggerParams{Source: "schedule", Reason: why + " (" + s.spec + ")", Key: scheduleKey})
	switch {
	case err != nil:
		s.log.Error().Err(err).Msg("scheduled cycle could not start")
	case !res.Started:
		s.log.Warn().Str("running_cycle", res.CycleID).Msg("scheduled tick skipped: the previous scheduled cycle is still running")
	default:
		s.log.Info().Str("cycle_id", res.CycleID).Msg("scheduled cycle started")
	}
}
