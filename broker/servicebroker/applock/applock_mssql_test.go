package applock_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker/servicebroker/applock"
	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
)

// TestTwoElectorsOnOneDatabase runs against a real server: of two electors
// exactly one leads, and killing the leader's session hands leadership to
// the other.
func TestTwoElectorsOnOneDatabase(t *testing.T) {
	t.Parallel()
	dsn := mssqltest.DSN(t)
	admin := mssqltest.Open(t, dsn)
	opts := applock.Options{Resource: "ooda-test-" + t.Name(), Retry: 500 * time.Millisecond, Check: 200 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t))}
	a := applock.New(mssqltest.Open(t, dsn), opts)
	b := applock.New(mssqltest.Open(t, dsn), opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})

	leader := func() applock.Leadership {
		switch {
		case a.Leading() && b.Leading():
			t.Fatal("both lead")
		case a.Leading():
			return a
		case b.Leading():
			return b
		}
		return nil
	}
	first := poll(t, 10*time.Second, leader)
	// Over several check and retry periods, never two leaders, and the
	// first keeps it.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if l := leader(); l != first {
			t.Fatalf("leadership moved without cause (now %v)", l)
		}
	}

	// Kill the leader's session from a third connection. The lock is held
	// by exactly one session in this database (sys.dm_tran_locks,
	// resource_type APPLICATION).
	var spid int32
	if err := admin.QueryRowContext(t.Context(), `SELECT TOP (1) request_session_id FROM sys.dm_tran_locks
WHERE resource_type = N'APPLICATION' AND resource_database_id = DB_ID() AND request_mode = N'X' AND request_status = N'GRANT';`).Scan(&spid); err != nil {
		t.Fatalf("find the leader's session: %v", err)
	}
	// KILL takes a literal session id, not a variable ("KILL (Transact-SQL)"):
	// the statement is built on the server from the integer parameter.
	if _, err := admin.ExecContext(t.Context(), `DECLARE @kill nvarchar(40) = N'KILL ' + CAST(@spid AS nvarchar(11)) + N';'; EXEC (@kill);`, sql.Named("spid", spid)); err != nil {
		t.Fatalf("KILL %d: %v", spid, err)
	}
	// The killed leader notices at its next check (200 ms), before the
	// follower's next attempt (500 ms ± 20 %); the other then takes over.
	poll(t, 10*time.Second, func() applock.Leadership {
		if !first.Leading() {
			return first
		}
		return nil
	})
	second := poll(t, 10*time.Second, func() applock.Leadership {
		if l := leader(); l != nil && l != first {
			return l
		}
		return nil
	})
	if first.Leading() || !second.Leading() {
		t.Fatal("leadership did not move to the other elector")
	}
}

// poll calls f until it returns non-nil or the deadline passes.
func poll(t *testing.T, within time.Duration, f func() applock.Leadership) applock.Leadership {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for {
		if l := f(); l != nil {
			return l
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no leader within %s", within)
		}
	}
}
