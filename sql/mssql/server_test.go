package mssqlschema_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
	"github.com/hartonomous/ooda/ooda"
	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
)

// These run only with OODA_TEST_MSSQL_DSN (mssqltest skips otherwise).

func migrated(t *testing.T) (*sql.DB, context.Context) {
	t.Helper()
	db := mssqltest.Open(t, mssqltest.DSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if _, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"}); err != nil {
		t.Fatal(err)
	}
	return db, ctx
}

func TestServerMigrateTwice(t *testing.T) {
	t.Parallel()
	db := mssqltest.Open(t, mssqltest.DSN(t))
	ctx := context.Background()
	res, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"})
	if err != nil || res.From != 0 || res.To != mssqlschema.LatestVersion() || len(res.Applied) != mssqlschema.LatestVersion() {
		t.Fatalf("first migration: %+v %v", res, err)
	}
	res, err = mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"})
	if err != nil || len(res.Applied) != 0 || res.From != mssqlschema.LatestVersion() {
		t.Fatalf("second migration is not a no-op: %+v %v", res, err)
	}
	if v, err := mssqlschema.CurrentVersion(ctx, db); err != nil || v != mssqlschema.LatestVersion() {
		t.Fatalf("version %d %v", v, err)
	}
	var services, queues, activated int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sys.services WHERE name LIKE N'//Hartonomous/OODA/%'`).Scan(&services); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(CAST(is_activation_enabled AS int)) FROM sys.service_queues WHERE schema_id = SCHEMA_ID(N'ooda')`).Scan(&queues, &activated); err != nil {
		t.Fatal(err)
	}
	if services != 5 || queues != 4 || activated != 0 {
		t.Fatalf("services %d, queues %d, activated %d", services, queues, activated)
	}
	// Re-running a script by hand converges too: the objects are guarded.
	ms, _ := mssqlschema.Migrations()
	for _, m := range ms {
		for _, b := range mssqlschema.Batches(m.SQL) {
			var args []any
			if b.Params {
				args = append(args, sql.Named(mssqlschema.DaemonUserParam, "dbo"))
			}
			if _, err := db.ExecContext(ctx, b.SQL, args...); err != nil {
				t.Fatalf("%s line %d re-run: %v", m.Name, b.Line, err)
			}
		}
	}
}

func TestServerRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db, ctx := migrated(t)
	future := mssqlschema.LatestVersion() + 1
	if _, err := db.ExecContext(ctx, `INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@v, N'9999_future.sql', REPLICATE('0', 64))`, sql.Named("v", int32(future))); err != nil {
		t.Fatal(err)
	}
	_, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"})
	if !errors.Is(err, mssqlschema.ErrNewerSchema) || !strings.Contains(err.Error(), fmt.Sprint(future)) || !strings.Contains(err.Error(), fmt.Sprint(mssqlschema.LatestVersion())) {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestServerDryRunExecutesNothing(t *testing.T) {
	t.Parallel()
	db := mssqltest.Open(t, mssqltest.DSN(t))
	ctx := context.Background()
	var out bytes.Buffer
	res, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo", DryRun: &out})
	if err != nil || !res.DryRun || len(res.Applied) != mssqlschema.LatestVersion() {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	var want bytes.Buffer
	if err := mssqlschema.WriteScript(&want, 0, mssqlschema.Options{DaemonUser: "dbo"}); err != nil || want.String() != out.String() {
		t.Fatalf("the dry run printed something else than WriteScript: %v", err)
	}
	var schema sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT SCHEMA_ID(N'ooda')`).Scan(&schema); err != nil || schema.Valid {
		t.Fatalf("the dry run created schema ooda (%v)", err)
	}
}

func TestServerMissingDaemonUserFailsWithTheFix(t *testing.T) {
	t.Parallel()
	db := mssqltest.Open(t, mssqltest.DSN(t))
	ctx := context.Background()
	_, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "no_such_user"})
	if err == nil || !strings.Contains(err.Error(), "[no_such_user]") || !strings.Contains(err.Error(), "CREATE USER") {
		t.Fatalf("missing user: %v", err)
	}
	if v, err := mssqlschema.CurrentVersion(ctx, db); err != nil || v != 0 {
		t.Fatalf("a failed script left version %d (%v)", v, err)
	}
}

func TestServerDaemonUserOwnsServicesAndJoinsRole(t *testing.T) {
	t.Parallel()
	db := mssqltest.Open(t, mssqltest.DSN(t))
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE USER [ooda svc] WITHOUT LOGIN;`); err != nil {
		t.Fatal(err)
	}
	if _, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "ooda svc"}); err != nil {
		t.Fatal(err)
	}
	var owned, member int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sys.services WHERE name LIKE N'//Hartonomous/OODA/%' AND principal_id = DATABASE_PRINCIPAL_ID(N'ooda svc')`).Scan(&owned); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sys.database_role_members WHERE role_principal_id = DATABASE_PRINCIPAL_ID(N'ooda_daemon') AND member_principal_id = DATABASE_PRINCIPAL_ID(N'ooda svc')`).Scan(&member); err != nil {
		t.Fatal(err)
	}
	if owned != 5 || member != 1 {
		t.Fatalf("services owned %d, role member %d", owned, member)
	}
}

// receiveOne takes the one message waiting on queue and decodes its envelope
// as the daemon does.
func receiveOne(t *testing.T, ctx context.Context, db *sql.DB, queue, messageType string) ooda.Envelope {
	t.Helper()
	var q string
	switch queue {
	case ooda.ObserveQueue:
		q = `WAITFOR (RECEIVE TOP (1) message_type_name, message_body FROM ooda.ObserveQueue), TIMEOUT 5000;`
	case ooda.ActQueue:
		q = `WAITFOR (RECEIVE TOP (1) message_type_name, message_body FROM ooda.ActQueue), TIMEOUT 5000;`
	default:
		t.Fatalf("queue %s", queue)
	}
	var mt string
	var body []byte
	if err := db.QueryRowContext(ctx, q).Scan(&mt, &body); err != nil {
		t.Fatalf("receive from %s: %v", queue, err)
	}
	if mt != messageType {
		t.Fatalf("message type %s, want %s", mt, messageType)
	}
	env, err := ooda.Decode(body, 1<<20)
	if err != nil {
		t.Fatalf("the daemon would dead-letter %s: %v", body, err)
	}
	return env
}

func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
}

func TestServerTriggerCycleProcedure(t *testing.T) {
	t.Parallel()
	db, ctx := migrated(t)
	trigger := func() (string, bool) {
		var id string
		var started bool
		if err := db.QueryRowContext(ctx, `EXEC ooda.usp_TriggerCycle @Reason = @Reason, @Key = @Key;`, sql.Named("Reason", "index check ü"), sql.Named("Key", "k1")).Scan(&id, &started); err != nil {
			t.Fatal(err)
		}
		return id, started
	}
	id, started := trigger()
	if !started || len(id) != 36 {
		t.Fatalf("first trigger: %q %v", id, started)
	}
	if again, started := trigger(); started || again != id {
		t.Fatalf("second trigger with the running key: %q %v, want %q", again, started, id)
	}
	env := receiveOne(t, ctx, db, ooda.ObserveQueue, ooda.KindTrigger.MessageType())
	var p ooda.Trigger
	strict(t, env.Payload, &p)
	if env.CycleID != id || env.Kind != ooda.KindTrigger || p.Reason != "index check ü" || p.Key != "k1" || p.Source != "operator" || time.Since(env.CreatedAt) > time.Hour {
		t.Fatalf("envelope %+v payload %+v", env, p)
	}
	var kind string
	if err := db.QueryRowContext(ctx, `SELECT kind FROM ooda.Outbox WHERE cycle_id = @id`, sql.Named("id", id)).Scan(&kind); err != nil || kind != "cycle.started" {
		t.Fatalf("outbox: %q %v", kind, err)
	}
}

func TestServerApprovalProcedures(t *testing.T) {
	t.Parallel()
	db, ctx := migrated(t)
	h, _ := json.Marshal(ooda.Hypothesis{ID: "h1", Rule: "stale_stats", Object: "dbo.T", Evidence: "old", Confidence: 0.9, Action: "update_statistics", Tier: 2})
	for _, id := range []string{"c/a", "c/r"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO ooda.Approval (id, cycle_id, action, object, tier, hypothesis, reason, status, requested_at, expires_at)
			VALUES (@id, N'c', N'update_statistics', N'dbo.T', 2, @h, N'tier 2', N'pending', SYSUTCDATETIME(), DATEADD(hour, 1, SYSUTCDATETIME()))`,
			sql.Named("id", id), sql.Named("h", string(h))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Pause @By = N'dba', @Reason = N'freeze';`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Approve @ApprovalId = N'c/a', @Reason = N'window';`); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("approving while paused: %v", err)
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Resume;`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Approve @ApprovalId = N'c/a', @By = N'alice', @Reason = N'window';`); err != nil {
		t.Fatal(err)
	}
	env := receiveOne(t, ctx, db, ooda.ActQueue, ooda.KindDecision.MessageType())
	var d ooda.Decisions
	strict(t, env.Payload, &d)
	if env.CycleID != "c" || d.Approval != "c/a" || len(d.Decisions) != 1 || d.Decisions[0].Verdict != ooda.VerdictApproved ||
		d.Decisions[0].Hypothesis.Rule != "stale_stats" || d.Decisions[0].Reason != "approved by alice: window" {
		t.Fatalf("decision %+v %+v", env, d)
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Approve @ApprovalId = N'c/a', @Reason = N'again';`); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("approving twice: %v", err)
	}
	if _, err := db.ExecContext(ctx, `EXEC ooda.usp_Reject @ApprovalId = N'c/r', @By = N'bob', @Reason = N'no';`); err != nil {
		t.Fatal(err)
	}
	var status, detail string
	if err := db.QueryRowContext(ctx, `SELECT status, detail FROM ooda.Action WHERE id = N'c/r'`).Scan(&status, &detail); err != nil || status != "rejected" || detail != "rejected by bob: no" {
		t.Fatalf("rejected action: %q %q %v", status, detail, err)
	}
	var paused string
	if err := db.QueryRowContext(ctx, `SELECT value FROM ooda.Setting WHERE name = N'paused'`).Scan(&paused); err != nil || paused != "false" {
		t.Fatalf("paused setting %q %v", paused, err)
	}
}

// TestServerReportsChangedScripts: an applied script whose text no longer
// matches the binary's is named, not re-run.
func TestServerReportsChangedScripts(t *testing.T) {
	t.Parallel()
	db, ctx := migrated(t)
	if _, err := db.ExecContext(ctx, `UPDATE ooda.SchemaVersion SET Checksum = REPLICATE('0', 64) WHERE Version = 2;`); err != nil {
		t.Fatal(err)
	}
	res, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"})
	if err != nil || len(res.Applied) != 0 || len(res.Changed) != 1 || !strings.HasPrefix(res.Changed[0], "0002_") {
		t.Fatalf("migrate over a changed script: %+v %v", res, err)
	}
}
