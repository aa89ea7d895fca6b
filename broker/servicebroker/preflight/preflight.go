package preflight

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hartonomous/ooda/broker"
)

// Severity says whether a failed finding stops the daemon.
type Severity string

const (
	// SeverityError: the daemon cannot run correctly; Report.Err fails.
	SeverityError Severity = "error"
	// SeverityWarning: worth an operator's look; the daemon runs.
	SeverityWarning Severity = "warning"
)

// Check names, as they appear in findings.
const (
	CheckConnection       = "connection"
	CheckBroker           = "broker"
	CheckMessageType      = "message type"
	CheckContract         = "contract"
	CheckQueue            = "queue"
	CheckQueueStatus      = "queue status"
	CheckActivation       = "activation"
	CheckReceive          = "receive permission"
	CheckService          = "service"
	CheckServiceQueue     = "service queue"
	CheckServiceContracts = "service contracts"
	CheckSend             = "send permission"
	CheckServiceOwner     = "service owner"
	CheckSchemaVersion    = "schema version"
	CheckQueryStore       = "query store"
)

// Spec is what the daemon expects of the database.
type Spec struct {
	// Topology lists the objects. Queue names are "schema.name"; an
	// unqualified name is in dbo.
	Topology broker.Topology
	// WantSchemaVersion is the version of ooda.SchemaVersion this binary
	// was built for; 0 skips the check.
	WantSchemaVersion int
	// NeedQueryStore asks for a warning unless Query Store is READ_WRITE.
	NeedQueryStore bool
}

// Finding is the outcome of one check on one object.
type Finding struct {
	Check    string
	Object   string // user-readable: ooda.ObserveQueue, //Hartonomous/OODA/ObserveService
	OK       bool
	Severity Severity // what a failure of this check means (set on passed findings too)
	Problem  string   // empty when OK
	Fix      string   // empty when OK
}

// String is the finding on one line, as `oodad verify` prints it.
func (f Finding) String() string {
	if f.OK {
		return fmt.Sprintf("ok    %s %s", f.Check, f.Object)
	}
	label := "error"
	if f.Severity == SeverityWarning {
		label = "warn "
	}
	s := fmt.Sprintf("%s %s %s: %s", label, f.Check, f.Object, f.Problem)
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// Report is every finding of one Check, in a stable order.
type Report struct {
	Findings []Finding
}

// Failed returns the findings that did not pass, warnings included.
func (r Report) Failed() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if !f.OK {
			out = append(out, f)
		}
	}
	return out
}

// Err is nil when no error-level finding failed; otherwise one error listing
// each failed error-level finding on its own line. Warnings never fail it.
func (r Report) Err() error {
	var lines []string
	for _, f := range r.Findings {
		if !f.OK && f.Severity != SeverityWarning {
			lines = append(lines, f.String())
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("preflight: %d check(s) failed:\n%s", len(lines), strings.Join(lines, "\n"))
}

// String is the report, one finding a line.
func (r Report) String() string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Check reads the catalog of db's current database and judges it against
// spec. It does not fail: a query that cannot run becomes a failed finding
// and the checks that needed its rows are left out.
func Check(ctx context.Context, db *sql.DB, spec Spec) Report {
	// One connection for all queries: they describe one database as one
	// user, and the pool may hold connections set to other databases.
	conn, err := db.Conn(ctx)
	if err != nil {
		return Report{Findings: []Finding{{Check: CheckConnection, Object: "state database", Severity: SeverityError,
			Problem: err.Error(), Fix: "check the DSN, the network and the login"}}}
	}
	defer conn.Close()
	return Report{Findings: evaluate(spec, read(ctx, conn, spec))}
}

// The catalog queries: constant text, no parameters needed, each read to
// the end before the next (no MARS).
const (
	// sys.databases always shows the caller's current database ("sys.databases
	// (Transact-SQL)", Permissions). IS_ROLEMEMBER counts dbo and sysadmin
	// as db_owner members.
	databaseSQL = `SELECT d.name, d.is_broker_enabled, USER_NAME(), DATABASE_PRINCIPAL_ID(), IS_ROLEMEMBER(N'db_owner')
FROM sys.databases AS d WHERE d.database_id = DB_ID();`

	messageTypesSQL = `SELECT m.name FROM sys.service_message_types AS m;`

	// One row per (contract, message type); a contract with no visible
	// message type comes once with NULLs.
	contractsSQL = `SELECT c.name, m.name, u.is_sent_by_initiator, u.is_sent_by_target
FROM sys.service_contracts AS c
LEFT JOIN sys.service_contract_message_usages AS u ON u.service_contract_id = c.service_contract_id
LEFT JOIN sys.service_message_types AS m ON m.message_type_id = u.message_type_id;`

	// A queue is a schema-scoped object: HAS_PERMS_BY_NAME takes its
	// quoted two-part name with the OBJECT class ("HAS_PERMS_BY_NAME
	// (Transact-SQL)", example F).
	queuesSQL = `SELECT SCHEMA_NAME(q.schema_id), q.name, q.is_receive_enabled, q.is_enqueue_enabled,
  q.is_activation_enabled, q.activation_procedure,
  HAS_PERMS_BY_NAME(QUOTENAME(SCHEMA_NAME(q.schema_id)) + N'.' + QUOTENAME(q.name), N'OBJECT', N'RECEIVE')
FROM sys.service_queues AS q WHERE q.is_ms_shipped = 0;`

	// A service is a database-level securable of class SERVICE; SEND is
	// its permission ("GRANT Service Broker Permissions"). HAS_PERMS_BY_NAME
	// takes a one-part name for database-level securables and returns NULL
	// when it cannot resolve it; the documentation does not say whether a
	// name full of slashes must be bracketed, so both spellings are tried.
	// One row per (service, contract).
	servicesSQL = `SELECT s.name, SCHEMA_NAME(q.schema_id), q.name, s.principal_id, USER_NAME(s.principal_id),
  COALESCE(HAS_PERMS_BY_NAME(s.name, N'SERVICE', N'SEND'), HAS_PERMS_BY_NAME(QUOTENAME(s.name), N'SERVICE', N'SEND')),
  c.name
FROM sys.services AS s
LEFT JOIN sys.service_queues AS q ON q.object_id = s.service_queue_id
LEFT JOIN sys.service_contract_usages AS u ON u.service_id = s.service_id
LEFT JOIN sys.service_contracts AS c ON c.service_contract_id = u.service_contract_id;`

	// The table may not exist yet: version 0. The SELECT in the ELSE
	// branch names a table that may be missing; deferred name resolution
	// lets the batch compile, and the branch runs only when it exists.
	schemaVersionSQL = `IF OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL
    SELECT CAST(0 AS int);
ELSE
    SELECT ISNULL(MAX(Version), 0) FROM ooda.SchemaVersion;`

	// Needs VIEW DATABASE STATE ("sys.database_query_store_options").
	queryStoreSQL = `SELECT o.actual_state_desc, o.desired_state_desc, o.readonly_reason, o.current_storage_size_mb, o.max_storage_size_mb
FROM sys.database_query_store_options AS o;`
)

// read runs the queries. Each section keeps its own error.
func read(ctx context.Context, q broker.Querier, spec Spec) catalog {
	var c catalog
	c.dbErr = q.QueryRowContext(ctx, databaseSQL).Scan(&c.db.Name, &c.db.BrokerEnabled, &c.db.User, &c.db.PrincipalID, &c.db.IsDBOwner)

	c.messageTypesErr = each(ctx, q, messageTypesSQL, func(rows *sql.Rows) error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		c.messageTypes = append(c.messageTypes, name)
		return nil
	})

	c.contractsErr = each(ctx, q, contractsSQL, func(rows *sql.Rows) error {
		var r contractUsageRow
		if err := rows.Scan(&r.Contract, &r.MessageType, &r.ByInitiator, &r.ByTarget); err != nil {
			return err
		}
		c.contracts = append(c.contracts, r)
		return nil
	})

	c.queuesErr = each(ctx, q, queuesSQL, func(rows *sql.Rows) error {
		var r queueRow
		if err := rows.Scan(&r.Schema, &r.Name, &r.ReceiveEnabled, &r.EnqueueEnabled, &r.ActivationEnabled, &r.ActivationProcedure, &r.CanReceive); err != nil {
			return err
		}
		c.queues = append(c.queues, r)
		return nil
	})

	c.servicesErr = each(ctx, q, servicesSQL, func(rows *sql.Rows) error {
		var r serviceRow
		if err := rows.Scan(&r.Name, &r.QueueSchema, &r.QueueName, &r.OwnerID, &r.OwnerName, &r.CanSend, &r.Contract); err != nil {
			return err
		}
		c.services = append(c.services, r)
		return nil
	})

	if spec.WantSchemaVersion > 0 {
		c.schemaErr = q.QueryRowContext(ctx, schemaVersionSQL).Scan(&c.schemaVersion)
	}
	if spec.NeedQueryStore {
		var r queryStoreRow
		err := q.QueryRowContext(ctx, queryStoreSQL).Scan(&r.ActualState, &r.DesiredState, &r.ReadonlyReason, &r.CurrentMB, &r.MaxMB)
		if errors.Is(err, sql.ErrNoRows) {
			err = errors.New("sys.database_query_store_options returned no row")
		}
		c.queryStore, c.queryStoreErr = r, err
	}
	return c
}

// each runs query and calls scan per row, reading to the end.
func each(ctx context.Context, q broker.Querier, query string, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
