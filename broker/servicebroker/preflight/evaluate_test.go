package preflight

import (
	"database/sql"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hartonomous/ooda/broker"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	msgType  = "//T/OODA/TriggerMessage"
	contract = "//T/OODA/TriggerContract"
	service  = "//T/OODA/ObserveService"
)

func spec() Spec {
	return Spec{
		Topology: broker.Topology{
			MessageTypes: []string{msgType},
			Contracts:    []broker.Contract{{Name: contract, Messages: map[string]broker.SentBy{msgType: broker.SentByInitiator}}},
			Queues:       []string{"ooda.ObserveQueue", "PlainQueue"},
			Services:     []broker.Service{{Name: service, Queue: "ooda.ObserveQueue", Contracts: []string{contract}}},
		},
		WantSchemaVersion: 3,
		NeedQueryStore:    true,
	}
}

func yes() sql.NullInt32 { return sql.NullInt32{Int32: 1, Valid: true} }
func no() sql.NullInt32  { return sql.NullInt32{Int32: 0, Valid: true} }
func str(s string) sql.NullString {
	return sql.NullString{String: s, Valid: true}
}

// healthy is a catalog in which every check passes; the daemon's user
// (principal 5, not db_owner) owns the service.
func healthy() catalog {
	return catalog{
		db:           databaseRow{Name: "Hartonomous", BrokerEnabled: true, User: "oodad", PrincipalID: 5, IsDBOwner: no()},
		messageTypes: []string{msgType, "DEFAULT"},
		contracts: []contractUsageRow{
			{Contract: contract, MessageType: str(msgType), ByInitiator: sql.NullBool{Bool: true, Valid: true}, ByTarget: sql.NullBool{Valid: true}},
		},
		queues: []queueRow{
			{Schema: "ooda", Name: "ObserveQueue", ReceiveEnabled: true, EnqueueEnabled: true, CanReceive: yes()},
			{Schema: "dbo", Name: "PlainQueue", ReceiveEnabled: true, EnqueueEnabled: true, CanReceive: yes()},
		},
		services: []serviceRow{
			{Name: service, QueueSchema: str("ooda"), QueueName: str("ObserveQueue"), OwnerID: sql.NullInt32{Int32: 5, Valid: true}, OwnerName: str("oodad"), CanSend: yes(), Contract: str(contract)},
		},
		schemaVersion: 3,
		queryStore:    queryStoreRow{ActualState: str("READ_WRITE"), DesiredState: str("READ_WRITE")},
	}
}

func TestHealthyDatabasePassesEveryCheck(t *testing.T) {
	t.Parallel()
	r := Report{Findings: evaluate(spec(), healthy())}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if f := r.Failed(); len(f) != 0 {
		t.Fatalf("failed: %v", f)
	}
	// Every object is named in at least one finding.
	text := r.String()
	for _, name := range []string{"Hartonomous", msgType, contract, "ooda.ObserveQueue", "dbo.PlainQueue", service, "ooda.SchemaVersion"} {
		if !strings.Contains(text, name) {
			t.Errorf("no finding names %s:\n%s", name, text)
		}
	}
}

// Each case breaks one thing; exactly one finding must fail, naming the
// object, with the severity given and a fix that says what to do.
func TestEachProblemGivesOneFindingWithItsFix(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		breakIt  func(*catalog, *Spec)
		check    string
		object   string
		severity Severity
		fix      string // substring of the fix
	}{
		{"BrokerDisabled", func(c *catalog, _ *Spec) { c.db.BrokerEnabled = false },
			CheckBroker, "Hartonomous", SeverityError, "ALTER DATABASE [Hartonomous] SET ENABLE_BROKER"},
		{"BrokerRestoredCopyHint", func(c *catalog, _ *Spec) { c.db.BrokerEnabled = false },
			CheckBroker, "Hartonomous", SeverityError, "NEW_BROKER"},
		{"MessageTypeMissing", func(c *catalog, _ *Spec) { c.messageTypes = []string{"DEFAULT"} },
			CheckMessageType, msgType, SeverityError, "oodad migrate"},
		{"ContractMissing", func(c *catalog, _ *Spec) { c.contracts = nil },
			CheckContract, contract, SeverityError, "oodad migrate"},
		{"ContractWrongDirection", func(c *catalog, _ *Spec) {
			c.contracts[0].ByInitiator.Bool, c.contracts[0].ByTarget.Bool = false, true
		}, CheckContract, contract, SeverityError, "DROP CONTRACT [//T/OODA/TriggerContract]"},
		{"ContractWithoutTheMessageType", func(c *catalog, _ *Spec) {
			c.contracts = []contractUsageRow{{Contract: contract}}
		}, CheckContract, contract, SeverityError, "cannot be altered"},
		{"QueueMissing", func(c *catalog, _ *Spec) { c.queues = c.queues[1:] },
			CheckQueue, "ooda.ObserveQueue", SeverityError, "cannot see it"},
		{"UnqualifiedQueueIsInDbo", func(c *catalog, _ *Spec) { c.queues = c.queues[:1] },
			CheckQueue, "dbo.PlainQueue", SeverityError, "oodad migrate"},
		{"QueueDisabledByPoison", func(c *catalog, _ *Spec) {
			c.queues[0].ReceiveEnabled, c.queues[0].EnqueueEnabled = false, false
		}, CheckQueueStatus, "ooda.ObserveQueue", SeverityError, "ALTER QUEUE [ooda].[ObserveQueue] WITH STATUS = ON"},
		{"EnqueueOffOnly", func(c *catalog, _ *Spec) { c.queues[1].EnqueueEnabled = false },
			CheckQueueStatus, "dbo.PlainQueue", SeverityError, "ALTER QUEUE [dbo].[PlainQueue] WITH STATUS = ON"},
		{"ActivationCompetes", func(c *catalog, _ *Spec) {
			c.queues[0].ActivationEnabled, c.queues[0].ActivationProcedure = true, str("[db].[dbo].[usp_Old]")
		}, CheckActivation, "ooda.ObserveQueue", SeverityError, "ALTER QUEUE [ooda].[ObserveQueue] WITH ACTIVATION (STATUS = OFF)"},
		{"NoReceivePermission", func(c *catalog, _ *Spec) { c.queues[0].CanReceive = no() },
			CheckReceive, "ooda.ObserveQueue", SeverityError, "GRANT RECEIVE ON [ooda].[ObserveQueue] TO [oodad]"},
		{"ReceivePermissionUnknown", func(c *catalog, _ *Spec) { c.queues[1].CanReceive = sql.NullInt32{} },
			CheckReceive, "dbo.PlainQueue", SeverityError, "GRANT RECEIVE ON [dbo].[PlainQueue]"},
		{"ServiceMissing", func(c *catalog, _ *Spec) { c.services = nil },
			CheckService, service, SeverityError, "oodad migrate"},
		{"ServiceOnWrongQueue", func(c *catalog, _ *Spec) {
			c.services[0].QueueSchema, c.services[0].QueueName = str("dbo"), str("PlainQueue")
		}, CheckServiceQueue, service, SeverityError, "ALTER SERVICE [//T/OODA/ObserveService] ON QUEUE [ooda].[ObserveQueue]"},
		{"ServiceWithoutContract", func(c *catalog, _ *Spec) { c.services[0].Contract = sql.NullString{} },
			CheckServiceContracts, service, SeverityError, "ALTER SERVICE [//T/OODA/ObserveService] (ADD CONTRACT [//T/OODA/TriggerContract])"},
		{"NoSendPermission", func(c *catalog, _ *Spec) { c.services[0].CanSend = no() },
			CheckSend, service, SeverityError, "GRANT SEND ON SERVICE::[//T/OODA/ObserveService] TO [oodad]"},
		{"ServiceOwnedBySomeoneElse", func(c *catalog, _ *Spec) {
			c.services[0].OwnerID, c.services[0].OwnerName = sql.NullInt32{Int32: 1, Valid: true}, str("dbo")
		}, CheckServiceOwner, service, SeverityError, "ALTER AUTHORIZATION ON SERVICE::[//T/OODA/ObserveService] TO [oodad]"},
		{"NoSchema", func(c *catalog, _ *Spec) { c.schemaVersion = 0 },
			CheckSchemaVersion, "ooda.SchemaVersion", SeverityError, "oodad migrate"},
		{"OlderSchema", func(c *catalog, _ *Spec) { c.schemaVersion = 2 },
			CheckSchemaVersion, "ooda.SchemaVersion", SeverityError, "oodad migrate"},
		{"NewerSchema", func(c *catalog, _ *Spec) { c.schemaVersion = 4 },
			CheckSchemaVersion, "ooda.SchemaVersion", SeverityError, "upgrade oodad"},
		{"QueryStoreOff", func(c *catalog, _ *Spec) { c.queryStore.ActualState = str("OFF") },
			CheckQueryStore, "Hartonomous", SeverityWarning, "SET QUERY_STORE = ON"},
		{"QueryStoreFull", func(c *catalog, _ *Spec) {
			c.queryStore = queryStoreRow{ActualState: str("READ_ONLY"), ReadonlyReason: sql.NullInt32{Int32: 65536, Valid: true},
				CurrentMB: sql.NullInt64{Int64: 100, Valid: true}, MaxMB: sql.NullInt64{Int64: 100, Valid: true}}
		}, CheckQueryStore, "Hartonomous", SeverityWarning, "MAX_STORAGE_SIZE_MB"},
		{"QueryStoreUnreadable", func(c *catalog, _ *Spec) { c.queryStoreErr = errors.New("VIEW DATABASE STATE permission denied") },
			CheckQueryStore, "Hartonomous", SeverityWarning, "GRANT VIEW DATABASE STATE TO [oodad]"},
		{"QueuesUnreadable", func(c *catalog, _ *Spec) { c.queuesErr = errors.New("login timeout") },
			CheckQueue, "sys.service_queues", SeverityError, "grant the daemon's user access"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cat, sp := healthy(), spec()
			c.breakIt(&cat, &sp)
			r := Report{Findings: evaluate(sp, cat)}
			failed := r.Failed()
			if len(failed) != 1 {
				t.Fatalf("%d failed findings, want 1:\n%s", len(failed), r)
			}
			f := failed[0]
			if f.Check != c.check || f.Object != c.object || f.Severity != c.severity {
				t.Fatalf("got %s/%s/%s, want %s/%s/%s", f.Check, f.Object, f.Severity, c.check, c.object, c.severity)
			}
			if f.Problem == "" || !strings.Contains(f.Fix, c.fix) {
				t.Fatalf("problem %q, fix %q; want the fix to contain %q", f.Problem, f.Fix, c.fix)
			}
			line := f.String()
			if !strings.Contains(line, c.object) || !strings.Contains(line, c.fix) {
				t.Fatalf("the printed line lacks the object or fix: %s", line)
			}
			err := r.Err()
			if c.severity == SeverityWarning {
				if err != nil {
					t.Fatalf("a warning failed the report: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.object) {
				t.Fatalf("Err() = %v; want it to name %s", err, c.object)
			}
		})
	}
}

func TestDBOwnerMayEndConversationsOnAnyService(t *testing.T) {
	t.Parallel()
	cat := healthy()
	cat.services[0].OwnerID = sql.NullInt32{Int32: 1, Valid: true}
	cat.db.IsDBOwner = yes()
	if err := (Report{Findings: evaluate(spec(), cat)}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestOptionalChecksAreSkipped(t *testing.T) {
	t.Parallel()
	sp := spec()
	sp.WantSchemaVersion, sp.NeedQueryStore = 0, false
	cat := healthy()
	cat.schemaVersion = 0
	cat.queryStoreErr = errors.New("not read")
	for _, f := range evaluate(sp, cat) {
		if f.Check == CheckSchemaVersion || f.Check == CheckQueryStore {
			t.Fatalf("unrequested check ran: %s", f)
		}
	}
}

func TestSplitQueue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{"ooda.ObserveQueue": {"ooda", "ObserveQueue"}, "Q": {"dbo", "Q"}} {
		s, o := SplitQueue(in)
		if s != want[0] || o != want[1] {
			t.Errorf("SplitQueue(%q) = %q, %q", in, s, o)
		}
	}
}

// TestFreshDatabaseReport pins what `oodad verify` prints for a database
// that has Service Broker and nothing else (go test -update rewrites it).
func TestFreshDatabaseReport(t *testing.T) {
	t.Parallel()
	fresh := catalog{
		db:         databaseRow{Name: "Hartonomous", BrokerEnabled: true, User: "oodad", PrincipalID: 5, IsDBOwner: no()},
		queryStore: queryStoreRow{ActualState: str("OFF"), DesiredState: str("OFF")},
	}
	got := Report{Findings: evaluate(spec(), fresh)}.String()
	golden(t, "fresh.golden", got)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("report differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
