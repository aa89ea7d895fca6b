package mssqltarget

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

func reading(o store.Observation, name, object string) (float64, bool) {
	for _, r := range o.Readings {
		if r.Name == name && r.Object == object {
			return r.Value, true
		}
	}
	return 0, false
}

func failures(o store.Observation) []string {
	var fs []string
	for _, r := range o.Readings {
		if r.Name == ReadingSensorFailed {
			fs = append(fs, r.Object)
		}
	}
	return fs
}

// TestAgainstSQLServer: a small database with a fragmented table, stale
// statistics on a table with a hostile name, a missing index and an
// expiring conversation; observe, orient, act, observe again.
func TestAgainstSQLServer(t *testing.T) {
	dsn := mssqltest.DSN(t)
	db := mssqltest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Random GUID keys inserted one row at a time split pages all over both
	// indexes; wide rows make them larger than 1,000 pages.
	exec(`CREATE TABLE dbo.Frag (
  id uniqueidentifier NOT NULL CONSTRAINT DF_Frag_id DEFAULT NEWID(),
  k char(400) NOT NULL CONSTRAINT DF_Frag_k DEFAULT CONVERT(char(36), NEWID()),
  n int NOT NULL CONSTRAINT DF_Frag_n DEFAULT 0,
  pad char(800) NOT NULL CONSTRAINT DF_Frag_pad DEFAULT 'x',
  CONSTRAINT PK_Frag PRIMARY KEY CLUSTERED (id));
CREATE INDEX IX_Frag_k ON dbo.Frag (k);`)
	exec(`SET NOCOUNT ON; BEGIN TRANSACTION; DECLARE @i int = 0;
WHILE @i < 15000 BEGIN INSERT dbo.Frag (n) VALUES (@i % 100); SET @i += 1; END; COMMIT;`)
	// Statistics made on 1,000 rows, then 600 of them changed.
	exec(`CREATE TABLE dbo.[we]]ird.t] (id int NOT NULL, v int NOT NULL);
SET NOCOUNT ON; DECLARE @i int = 0; WHILE @i < 1000 BEGIN INSERT dbo.[we]]ird.t] VALUES (@i, @i); SET @i += 1; END;
CREATE INDEX [IX ]]x] ON dbo.[we]]ird.t] (v);
UPDATE dbo.[we]]ird.t] SET v = v + 1 WHERE id < 600;`)
	// A query the optimizer would like an index on n for.
	for range 3 {
		var c int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dbo.Frag WHERE n = @p1`, 5).Scan(&c); err != nil {
			t.Fatal(err)
		}
	}
	// A conversation of "our" service that expires in a second.
	exec(`CREATE QUEUE dbo.TQ; CREATE SERVICE [//Test/S] ON QUEUE dbo.TQ ([DEFAULT]);
DECLARE @h uniqueidentifier;
BEGIN DIALOG CONVERSATION @h FROM SERVICE [//Test/S] TO SERVICE N'//Test/S' ON CONTRACT [DEFAULT] WITH ENCRYPTION = OFF, LIFETIME = 1;`)

	tg, err := Open(ctx, Options{DSN: dsn, SensorTimeout: 3 * time.Minute, Services: []string{"//Test/S"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })

	obs, err := tg.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures(obs) {
		if strings.HasPrefix(f, "index_fragmentation") || strings.HasPrefix(f, "stale_statistics") || strings.HasPrefix(f, "missing_indexes") {
			t.Fatalf("sensor failed: %s", f)
		}
		t.Logf("sensor failed (permissions of the test login?): %s", f)
	}
	const pk, nc = "dbo.Frag.PK_Frag", "dbo.Frag.IX_Frag_k"
	weird := Object{"dbo", "we]ird.t", "IX ]x"}.String()
	frag, ok := reading(obs, ReadingFragmentation, pk)
	pages, _ := reading(obs, ReadingIndexPages, pk)
	if !ok || frag <= 30 || pages < 1000 {
		t.Fatalf("PK_Frag: fragmentation %v %% over %v pages (found %v); want > 30 %% over ≥ 1000 pages", frag, pages, ok)
	}
	if mods, ok := reading(obs, ReadingStatsModified, weird); !ok || mods < 500 {
		t.Fatalf("statistics %s: %v modifications (found %v), want ≥ 500", weird, mods, ok)
	}
	var missing string
	for _, r := range obs.Readings {
		if r.Name == ReadingMissingImpact && strings.HasPrefix(r.Object, "dbo.Frag.IX_ooda_Frag_") {
			missing = r.Object
		}
	}
	if missing == "" {
		t.Fatalf("no missing-index reading for dbo.Frag in %+v", obs.Readings)
	}
	hs := ooda.Orient(obs, ooda.DefaultThresholds())
	want := map[string]string{pk: ActionRebuildIndex, weird: ActionUpdateStatistics}
	for _, h := range hs {
		if want[h.Object] == h.Action {
			delete(want, h.Object)
		}
	}
	if len(want) > 0 {
		t.Fatalf("hypotheses %+v lack %v", hs, want)
	}

	// Tier 1 on the clustered index: reorganize is online by nature.
	out, err := tg.Execute(ctx, ActionReorganizeIndex, pk)
	if err != nil {
		t.Fatal(err)
	}
	if out.Before[ReadingFragmentation] <= 30 || out.After[ReadingFragmentation] >= out.Before[ReadingFragmentation] {
		t.Fatalf("reorganize: %+v, want fragmentation down from above 30 %%", out)
	}
	again, err := tg.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after, ok := reading(again, ReadingFragmentation, pk); ok && after >= frag {
		t.Fatalf("fragmentation of %s was %v %%, is %v %% after reorganize", pk, frag, after)
	}

	out, err = tg.Execute(ctx, ActionUpdateStatistics, weird)
	if err != nil || out.After[ReadingStatsModified] != 0 {
		t.Fatalf("update statistics on %s: %+v, %v; want no modifications left", weird, out, err)
	}

	online, err := tg.onlineCapable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err = tg.Execute(ctx, ActionRebuildIndex, nc)
	switch {
	case !online && (err == nil || !strings.Contains(err.Error(), "cannot rebuild online")):
		t.Fatalf("rebuild on an edition without online index operations: %+v, %v; want a refusal", out, err)
	case online && err != nil:
		t.Fatal(err)
	case online && out.After[ReadingFragmentation] >= out.Before[ReadingFragmentation] && out.Before[ReadingFragmentation] >= ReorganizeFloor:
		t.Fatalf("rebuild: %+v, want fragmentation down", out)
	}

	// The loop's own index: create, idempotent, undo, idempotent undo.
	out, err = tg.Execute(ctx, ActionCreateIndex, missing)
	if !online {
		if err == nil || !strings.Contains(err.Error(), "cannot create indexes online") {
			t.Fatalf("create on an edition without online index operations: %+v, %v; want a refusal", out, err)
		}
	} else {
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ParseObject(missing)
		if _, err := tg.resolveIndex(ctx, o); err != nil {
			t.Fatalf("after create: %v", err)
		}
		if out, err := tg.Execute(ctx, ActionCreateIndex, missing); err != nil || !strings.Contains(out.Detail, "already exists") {
			t.Fatalf("second create: %+v, %v; want already exists", out, err)
		}
		if _, err := tg.Undo(ctx, ActionCreateIndex, missing); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.resolveIndex(ctx, o); !errors.Is(err, errNotFound) {
			t.Fatalf("after undo: %v, want the index gone", err)
		}
		if out, err := tg.Undo(ctx, ActionCreateIndex, missing); err != nil || !strings.Contains(out.Detail, "does not exist") {
			t.Fatalf("second undo: %+v, %v", out, err)
		}
	}

	// Never automatic, whatever the caller says; the primary key stays.
	if _, err := tg.Execute(ctx, ActionDropOodaIndex, pk); !errors.Is(err, ErrNeverAutomatic) {
		t.Fatalf("drop of the primary key: %v, want ErrNeverAutomatic", err)
	}
	if _, err := tg.resolveIndex(ctx, Object{"dbo", "Frag", "PK_Frag"}); err != nil {
		t.Fatalf("primary key after the refused drop: %v", err)
	}

	// Query Store size: raise from what the sensor saw, then restore.
	if mb, ok := reading(obs, ReadingQSMaxMB, "query_store"); ok && mb > 0 && int64(mb) < tg.opt.QueryStoreCapMB {
		ref := QueryStoreRef{BaseMB: int64(mb)}.String()
		if _, err := tg.Execute(ctx, ActionRaiseQueryStore, ref); err != nil {
			t.Fatal(err)
		}
		if _, cur, err := tg.queryStoreState(ctx); err != nil || cur != min(2*int64(mb), tg.opt.QueryStoreCapMB) {
			t.Fatalf("after raise: max %d MB, %v; want %d", cur, err, 2*int64(mb))
		}
		if _, err := tg.Undo(ctx, ActionRaiseQueryStore, ref); err != nil {
			t.Fatal(err)
		}
		if _, cur, err := tg.queryStoreState(ctx); err != nil || cur != int64(mb) {
			t.Fatalf("after undo: max %d MB, %v; want %v", cur, err, mb)
		}
	}

	// The expired conversation: poll the server until its lifetime has
	// passed, then end it.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		hs, err := tg.expiredHandles(ctx, "//Test/S")
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the conversation never counted as expired (server time zone far from UTC?)")
		}
		<-tick.C
	}
	out, err = tg.Execute(ctx, ActionEndConversations, "//Test/S")
	if err != nil || out.Before[ReadingEndpointsExpired] < 1 || out.After[ReadingEndpointsExpired] != 0 {
		t.Fatalf("end conversations: %+v, %v; want the expired one ended", out, err)
	}
}
