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
	if last, ok, err := s.lastRun(ctx); err != nil {
		s.log.Error().Err(err).Msg("cannot tell whether a scheduled run was missed; no catch-up")
	} else if ok && !s.schedule.Next(last).After(s.now()) {
		s.log.Warn().Time("last_run", last).Time("missed", s.schedule.Next(last)).Msg("a scheduled run was missed while the daemon was down; catching up once")
		s.fire(ctx, "catch-up of a missed run")
	}
	for {
		next := s.schedule.Next(s.now())
		t := time.NewTimer(next.Sub(s.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Info().Msg("scheduler stopped")
			return
		case <-t.C:
		}
		s.fire(ctx, "scheduled")
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
