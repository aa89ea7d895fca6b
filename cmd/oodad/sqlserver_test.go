package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// closedPort is a loopback address where nothing listens: a SQL Server that
// is down.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSQLServerDownIsNamed: with the state on a SQL Server that does not
// answer, run, migrate and verify fail at once with an error that names the
// server (password redacted) and what to check, instead of hanging.
func TestSQLServerDownIsNamed(t *testing.T) {
	t.Parallel()
	dsn := "sqlserver://ooda:hunter2@" + closedPort(t) + "?database=Hartonomous"
	dir := t.TempDir()
	for _, args := range [][]string{
		{"run", "--state", dsn, "--nats", "none", "--http", "none"},
		{"migrate", "--state", dsn},
		{"migrate", "--state", dsn, "--daemon-user", "ooda", "--dry-run"},
		{"verify", "--state", dsn},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb strings.Builder
			env := func(k string) string {
				if k == "STATE_DIRECTORY" {
					return filepath.Join(dir, args[0])
				}
				return ""
			}
			err := run(ctx, args, env, &out, &errb)
			if err == nil {
				t.Fatalf("%v succeeded against a server that is down", args)
			}
			if errors.As(err, new(usageError)) {
				t.Fatalf("a server that is down is not a usage error: %v", err)
			}
			all := err.Error() + out.String() + errb.String()
			if strings.Contains(all, "hunter2") {
				t.Fatalf("the password leaked: %s", all)
			}
			if !strings.Contains(all, "connection refused") && !strings.Contains(all, "unable to open tcp connection") {
				t.Fatalf("the error does not say the server cannot be reached: %s", all)
			}
		})
	}
}

func TestStateCommandsRefuseBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"MigrateDryRunOnSQLite", []string{"migrate", "--state", "sqlite://" + t.TempDir(), "--dry-run"}, "--dry-run is for SQL Server"},
		{"VerifyBadScheme", []string{"verify", "--state", "postgres://x"}, "must be sqlite://DIR or sqlserver://"},
		{"MigrateNoDatabase", []string{"migrate", "--state", "sqlserver://sa:pw@db:1433"}, "names no database"},
		{"VerifyStray", []string{"verify", "now"}, `unexpected argument "now"`},
		{"MigrateUnknownFlag", []string{"migrate", "--user", "x"}, "flag provided but not defined: -user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runOodad(t, c.args...)
			if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a usage error naming %q", err, c.want)
			}
		})
	}
}

// TestVerifyEmbedded: verify on the embedded state reports each queue and
// creates the state on first use, as run would.
func TestVerifyEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _, err := runOodad(t, "verify", "--state", "sqlite://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ooda.ObserveQueue", "ooda.OrientQueue", "ooda.DecideQueue", "ooda.ActQueue", "current schema"} {
		if !strings.Contains(out, q) {
			t.Errorf("verify output does not mention %s:\n%s", q, out)
		}
	}
}
