package preflight_test

import (
	"strings"
	"testing"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/servicebroker/mssqltest"
	"github.com/hartonomous/ooda/broker/servicebroker/preflight"
)

const (
	msgType  = "//T/OODA/TriggerMessage"
	contract = "//T/OODA/TriggerContract"
	service  = "//T/OODA/ObserveService"
)

func spec() preflight.Spec {
	return preflight.Spec{
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

// failed returns "check object" for each failed error-level finding.
func failed(r preflight.Report) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Failed() {
		if f.Severity == preflight.SeverityError {
			out[f.Check+" "+f.Object] = true
		}
	}
	return out
}

// TestAgainstServer builds the objects step by step on a fresh database
// and checks that the report follows.
func TestAgainstServer(t *testing.T) {
	t.Parallel()
	dsn := mssqltest.DSN(t)
	db := mssqltest.Open(t, dsn)
	ctx := t.Context()
	exec := func(stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}

	// 1. Broker enabled, nothing else: every object missing, no schema.
	r := preflight.Check(ctx, db, spec())
	want := map[string]bool{
		"message type " + msgType:           true,
		"contract " + contract:              true,
		"queue ooda.ObserveQueue":           true,
		"queue dbo.PlainQueue":              true,
		"service " + service:                true,
		"schema version ooda.SchemaVersion": true,
	}
	if got := failed(r); !equal(got, want) {
		t.Fatalf("fresh database: failed %v, want %v\n%s", got, want, r)
	}
	if r.Err() == nil {
		t.Fatal("Err() is nil on a database without objects")
	}

	// 2. The objects exist, but one queue is disabled, the other has an
	// activation procedure, and the schema is older than wanted.
	exec(
		`CREATE MESSAGE TYPE [//T/OODA/TriggerMessage] VALIDATION = NONE;`,
		`CREATE CONTRACT [//T/OODA/TriggerContract] ([//T/OODA/TriggerMessage] SENT BY INITIATOR);`,
		`CREATE SCHEMA ooda;`,
		`CREATE QUEUE ooda.ObserveQueue WITH STATUS = OFF;`,
		`CREATE PROCEDURE dbo.usp_Old AS RETURN 0;`,
		`CREATE QUEUE dbo.PlainQueue WITH STATUS = ON, ACTIVATION (STATUS = ON, PROCEDURE_NAME = dbo.usp_Old, MAX_QUEUE_READERS = 1, EXECUTE AS SELF);`,
		`CREATE SERVICE [//T/OODA/ObserveService] ON QUEUE ooda.ObserveQueue ([//T/OODA/TriggerContract]);`,
		`CREATE TABLE ooda.SchemaVersion (Version int NOT NULL PRIMARY KEY);`,
		`INSERT ooda.SchemaVersion (Version) VALUES (1), (2);`,
	)
	r = preflight.Check(ctx, db, spec())
	want = map[string]bool{
		"queue status ooda.ObserveQueue":    true,
		"activation dbo.PlainQueue":         true,
		"schema version ooda.SchemaVersion": true,
	}
	if got := failed(r); !equal(got, want) {
		t.Fatalf("after creating the objects: failed %v, want %v\n%s", got, want, r)
	}
	for _, f := range r.Failed() {
		if f.Check == preflight.CheckSchemaVersion && !strings.Contains(f.Problem, "version 2") {
			t.Fatalf("schema finding does not give the version: %s", f)
		}
	}

	// 3. Fixed as the findings say: everything passes.
	exec(
		`ALTER QUEUE ooda.ObserveQueue WITH STATUS = ON;`,
		`ALTER QUEUE dbo.PlainQueue WITH ACTIVATION (STATUS = OFF);`,
		`INSERT ooda.SchemaVersion (Version) VALUES (3);`,
	)
	r = preflight.Check(ctx, db, spec())
	if err := r.Err(); err != nil {
		t.Fatalf("after the fixes: %v", err)
	}
	// Query Store may be on or off on a new database; either way it is
	// reported, and never as an error.
	var qs bool
	for _, f := range r.Findings {
		if f.Check == preflight.CheckQueryStore {
			qs = true
			if !f.OK && f.Severity != preflight.SeverityWarning {
				t.Fatalf("query store finding is an error: %s", f)
			}
		}
	}
	if !qs {
		t.Fatal("no query store finding")
	}

	// A newer schema than the binary asks for an upgrade of the binary.
	sp := spec()
	sp.WantSchemaVersion = 2
	r = preflight.Check(ctx, db, sp)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "upgrade oodad") {
		t.Fatalf("newer schema: %v", err)
	}
}

func equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
