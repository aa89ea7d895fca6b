package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/ooda"
)

// reloadOnHUP re-reads the policy file on SIGHUP and hands it to the
// engine, which applies it from the next Orient or Decide step on. A file
// that does not load leaves the policy in force, and says why.
func reloadOnHUP(ctx context.Context, path string, engine *ooda.Engine, log zerolog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				reloadPolicy(path, engine, log)
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

func reloadPolicy(path string, engine *ooda.Engine, log zerolog.Logger) {
	f, err := os.Open(path)
	if err != nil {
		log.Error().Err(err).Str("policy", path).Msg("SIGHUP: cannot read the policy file; the policy in force stays")
		return
	}
	p, err := ooda.LoadPolicy(f)
	f.Close()
	if err != nil {
		log.Error().Err(err).Str("policy", path).Msg("SIGHUP: the policy file is invalid; the policy in force stays")
		return
	}
	engine.SetPolicy(p)
	log.Info().Str("policy", path).RawJSON("effective", engine.EffectivePolicy()).Msg("SIGHUP: policy reloaded; it applies from the next cycle step on")
}
