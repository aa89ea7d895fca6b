package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/ooda"
)

// catchHUP takes SIGHUP from the start of the daemon, before the engine
// exists: the default action would kill the process (systemctl reload
// sends it). A signal that arrives early waits for serveHUP.
func catchHUP() (hup chan os.Signal, stop func()) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// serveHUP re-reads the policy file on each SIGHUP and hands it to the
// engine, which applies it from the next Orient or Decide step on. A file
// that does not load leaves the policy in force, and says why; without a
// policy file there is nothing to reload, and the log says so.
func serveHUP(ctx context.Context, hup <-chan os.Signal, path string, engine *ooda.Engine, log zerolog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if path == "" {
				log.Warn().Msg("SIGHUP: no policy file (--policy, OODA_POLICY_FILE) to reload; the defaults stay")
				continue
			}
			reloadPolicy(path, engine, log)
		}
	}
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
