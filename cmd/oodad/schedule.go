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
// same idempotency key, so the engine starts nothing new.
type scheduler struct {
	schedule cron.Schedule
	spec     string
	trigger  func(context.Context, ooda.TriggerParams) (ooda.TriggerResult, error)
	log      zerolog.Logger
	now      func() time.Time
}

// scheduleKey is the idempotency key of scheduled cycles.
const scheduleKey = "schedule"

func (s *scheduler) Run(ctx context.Context) {
	s.log.Info().Str("schedule", s.spec).Time("next", s.schedule.Next(s.now())).Msg("scheduler running")
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
		res, err := s.trigger(ctx, ooda.TriggerParams{Source: "schedule", Reason: "scheduled (" + s.spec + ")", Key: scheduleKey})
		switch {
		case err != nil:
			s.log.Error().Err(err).Msg("scheduled cycle could not start")
		case !res.Started:
			s.log.Warn().Str("running_cycle", res.CycleID).Msg("scheduled tick skipped: the previous scheduled cycle is still running")
		default:
			s.log.Info().Str("cycle_id", res.CycleID).Msg("scheduled cycle started")
		}
	}
}
