package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
)

// TestSQLServerEndToEnd runs the real binaries on a SQL Server state: migrate
// and verify, then two daemons on the one database as competing consumers
// (the second uses the first's NATS), cycles triggered through oodactl and
// through the DBA procedure, each completing once, and a clean SIGTERM.
// It needs OODA_TEST_MSSQL_DSN (see mssqltest).
func TestSQLServerEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := mssqltest.DSN(t)
	oodad, _ := binaries(t)
	for i, args := range [][]string{
		{"migrate", "--state", dsn, "--daemon-user", "dbo"},
		{"migrate", "--state", dsn, "--daemon-user", "dbo"}, // again: nothing to do
		{"verify", "--state", dsn},
	} {
		out, err := exec.Command(oodad, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("oodad %s: %v\n%s", args[0], err, out)
		}
		if i == 1 && !strings.Contains(string(out), "nothing to do") {
			t.Fatalf("a second migrate changed something:\n%s", out)
		}
	}
	d1 := startDaemonOn(t, dsn, t.TempDir(), "--schedule", "@every 1h")
	d2 := startDaemonOn(t, dsn, t.TempDir(), "--nats", d1.natsURL, "--schedule", "@every 1h")

	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := d1
			if i%2 == 1 {
				d = d2
			}
			out, err := d.oodactl(t, "--json", "trigger", "--reason", "replicas")
			if err != nil {
				t.Errorf("trigger: %v\n%s", err, out)
				return
			}
			var r struct {
				CycleID string `json:"cycle_id"`
			}
			_ = json.Unmarshal([]byte(out), &r)
			ids[i] = r.CycleID
		}()
	}
	wg.Wait()

	// A DBA's trigger from SSMS: EXEC ooda.usp_TriggerCycle.
	db := mssqltest.Open(t, dsn)
	var viaProc string
	var started bool
	if err := db.QueryRowContext(context.Background(), "EXEC ooda.usp_TriggerCycle @Reason = @r, @Key = NULL;", sql.Named("r", "from SSMS")).Scan(&viaProc, &started); err != nil || !started {
		t.Fatalf("usp_TriggerCycle: %q started=%v %v", viaProc, started, err)
	}
	ids = append(ids, viaProc)

	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for _, id := range ids {
		for {
			out, err := d1.oodactl(t, "--json", "show", id)
			if err == nil && strings.Contains(out, `"status":"completed"`) {
				break
			}
			select {
			case <-deadline:
				t.Fatalf("cycle %s did not complete: %v\n%s\nd1:\n%s\nd2:\n%s", id, err, out, d1.logs.String(), d2.logs.String())
			case <-tick.C:
			}
		}
	}
	// Each cycle ran each stage once, whichever daemon took each step.
	var steps, cycles int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM ooda.Step;").Scan(&steps); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM ooda.Cycle;").Scan(&cycles); err != nil {
		t.Fatal(err)
	}
	if cycles != len(ids) || steps != 4*len(ids) {
		t.Fatalf("%d cycles with %d steps, want %d with %d: a message was processed twice or lost", cycles, steps, len(ids), 4*len(ids))
	}
	// Exactly one of the two daemons leads the schedules.
	leaders := strings.Count(d1.logs.String()+d2.logs.String(), "leadership gained")
	if leaders != 1 {
		t.Errorf("%d daemons gained leadership, want 1", leaders)
	}
	d2.stop(t)
	d1.stop(t)
}
