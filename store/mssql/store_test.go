package mssql_test

import (
	"context"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
	"github.com/hartonomous/ooda/ooda"
	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
	"github.com/hartonomous/ooda/store/mssql"
	"github.com/hartonomous/ooda/store/storetest"
)

// The state contract on SQL Server: each case gets a fresh database
// (mssqltest, which skips without OODA_TEST_MSSQL_DSN), migrated with the
// scripts of sql/mssql, and the Service Broker backend whose transactions
// the writes use.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, storetest.Harness{Open: func(t *testing.T) (broker.Broker, storetest.Store) {
		dsn := mssqltest.DSN(t)
		db := mssqltest.Open(t, dsn)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := mssqlschema.Migrate(ctx, db, mssqlschema.Options{DaemonUser: "dbo"}); err != nil {
			t.Fatal(err)
		}
		b, err := servicebroker.Open(ctx, servicebroker.Options{DSN: dsn, Topology: ooda.Topology()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b, mssql.Open(db)
	}})
}
