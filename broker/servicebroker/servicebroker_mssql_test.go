package servicebroker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
)

const testMaxBody = 64 << 10

// dsns remembers the database of each broker the harness opened, for Reopen.
var dsns sync.Map // *servicebroker.Broker → string

// freshDatabase returns the DSN of a new database holding the suite's
// topology, created with TopologyDDL as `oodad migrate` would.
func freshDatabase(t *testing.T, topo broker.Topology) string {
	t.Helper()
	dsn := mssqltest.DSN(t)
	db := mssqltest.Open(t, dsn)
	stmts, err := servicebroker.TopologyDDL(topo, "dbo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// Idempotent: a second run changes nothing and fails nothing.
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("second run of %s: %v", s, err)
		}
	}
	return dsn
}

func openAt(t *testing.T, dsn string) *servicebroker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := servicebroker.Open(ctx, servicebroker.Options{DSN: dsn, Topology: brokertest.Topology(), MaxBodyBytes: testMaxBody})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	dsns.Store(b, dsn)
	t.Cleanup(func() { _ = b.Close(); dsns.Delete(b) })
	return b
}

func TestContract(t *testing.T) {
	t.Parallel()
	brokertest.Exercise(t, brokertest.Harness{
		Open: func(t *testing.T) broker.Broker { return openAt(t, freshDatabase(t, brokertest.Topology())) },
		Reopen: func(t *testing.T, b broker.Broker) broker.Broker {
			sb := b.(*servicebroker.Broker)
			dsn, ok := dsns.Load(sb)
			if !ok {
				t.Fatal("reopen: broker not opened by this harness")
			}
			if err := sb.Close(); err != nil {
				t.Fatal(err)
			}
			return openAt(t, dsn.(string))
		},
		MaxBodyBytes:        testMaxBody,
		StateTableDDL:       "CREATE TABLE brokertest_state (k varchar(100) PRIMARY KEY, v int);",
		RollbackCountHidden: true,
	})
}

// TestOpenReportsMissingObjects: a database without the topology's objects
// is refused, each missing object named with the fix.
func TestOpenReportsMissingObjects(t *testing.T) {
	t.Parallel()
	topo := brokertest.Topology()
	partial := topo
	partial.Services = partial.Services[:2] // no Other service
	dsn := freshDatabase(t, partial)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := servicebroker.Open(ctx, servicebroker.Options{DSN: dsn, Topology: topo})
	if !errors.Is(err, servicebroker.ErrTopologyMismatch) || !strings.Contains(err.Error(), brokertest.Other) || !strings.Contains(err.Error(), "oodad migrate") {
		t.Fatalf("open without %s: %v", brokertest.Other, err)
	}
}

// TestOpenRefusesDisabledBroker: a database whose broker is off is refused
// with ErrBrokerNotEnabled and the ALTER DATABASE that fixes it.
func TestOpenRefusesDisabledBroker(t *testing.T) {
	t.Parallel()
	dsn := freshDatabase(t, brokertest.Topology())
	db := mssqltest.Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT DB_NAME();").Scan(&name); err != nil {
		t.Fatal(err)
	}
	// The name is ours (mssqltest: letters, digits and _); ALTER DATABASE
	// takes no parameter for it.
	quoted, err := servicebroker.QuoteName(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ALTER DATABASE "+quoted+" SET DISABLE_BROKER WITH ROLLBACK IMMEDIATE;"); err != nil {
		t.Fatal(err)
	}
	_, err = servicebroker.Open(ctx, servicebroker.Options{DSN: dsn, Topology: brokertest.Topology()})
	if !errors.Is(err, servicebroker.ErrBrokerNotEnabled) || !strings.Contains(err.Error(), "ENABLE_BROKER") {
		t.Fatalf("open with the broker disabled: %v", err)
	}
}
