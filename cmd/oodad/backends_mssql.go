package main

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
)

func (be *backends) openSQLServerState(ctx context.Context, cfg config, log *zerolog.Logger) error {
	return errors.New("sqlserver state: not wired yet")
}

func (be *backends) openSQLServerTarget(ctx context.Context, dsn string, log *zerolog.Logger) error {
	return errors.New("sqlserver target: not wired yet")
}
