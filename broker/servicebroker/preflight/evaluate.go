package preflight

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/servicebroker"
)

// The rows as scanned, one type per query.

type databaseRow struct {
	Name          string
	BrokerEnabled bool
	User          string
	PrincipalID   int32
	IsDBOwner     sql.NullInt32 // IS_ROLEMEMBER: 1, 0, or NULL when it cannot tell
}

type contractUsageRow struct {
	Contract    string
	MessageType sql.NullString
	ByInitiator sql.NullBool
	ByTarget    sql.NullBool
}

type queueRow struct {
	Schema, Name        string
	ReceiveEnabled      bool
	EnqueueEnabled      bool
	ActivationEnabled   bool
	ActivationProcedure sql.NullString
	CanReceive          sql.NullInt32 // HAS_PERMS_BY_NAME: 1, 0, NULL
}

type serviceRow struct {
	Name                   string
	QueueSchema, QueueName sql.NullString // NULL: the queue is not visible
	OwnerID                sql.NullInt32
	OwnerName              sql.NullString
	CanSend                sql.NullInt32
	Contract               sql.NullString // one contract per row; NULL when none
}

type queryStoreRow struct {
	ActualState, DesiredState sql.NullString
	ReadonlyReason            sql.NullInt32
	CurrentMB, MaxMB          sql.NullInt64
}

// catalog is everything Check read, each section with its error.
type catalog struct {
	db    databaseRow
	dbErr error

	messageTypes    []string
	messageTypesErr error

	contracts    []contractUsageRow
	contractsErr error

	queues    []queueRow
	queuesErr error

	services    []serviceRow
	servicesErr error

	schemaVersion int32
	schemaErr     error

	queryStore    queryStoreRow
	queryStoreErr error
}

// invisible is appended to the fix of every missing object.
const invisible = " (if it exists, the daemon's user cannot see it: catalog views show only objects the user owns or holds a permission on)"

// evaluate judges the catalog against spec: one finding per (check, object).
func evaluate(spec Spec, c catalog) []Finding {
	var out []Finding
	pass := func(check, object string) {
		sev := SeverityError
		if check == CheckQueryStore {
			sev = SeverityWarning
		}
		out = append(out, Finding{Check: check, Object: object, OK: true, Severity: sev})
	}
	fail := func(check, object, problem, fix string) {
		out = append(out, Finding{Check: check, Object: object, Severity: SeverityError, Problem: problem, Fix: fix})
	}
	warn := func(check, object, problem, fix string) {
		out = append(out, Finding{Check: check, Object: object, Severity: SeverityWarning, Problem: problem, Fix: fix})
	}
	unreadable := func(check, what string, err error) {
		fail(check, what, "cannot read the catalog: "+err.Error(), "grant the daemon's user access to the database and its catalog views")
	}

	dbName := c.db.Name
	if dbName == "" {
		dbName = "state database"
	}
	user := quote(c.db.User)
	if c.db.User == "" {
		user = "<daemon user>"
	}

	// Service Broker in the database.
	switch {
	case c.dbErr != nil:
		unreadable(CheckBroker, dbName, c.dbErr)
	case !c.db.BrokerEnabled:
		fail(CheckBroker, dbName, "Service Broker is not enabled in this database (is_broker_enabled = 0): nothing can be sent or received",
			fmt.Sprintf("ALTER DATABASE %s SET ENABLE_BROKER WITH ROLLBACK IMMEDIATE (needs exclusive access); on a restored or attached copy whose broker identifier another database already uses, SET NEW_BROKER instead, which discards the copy's conversations", quote(dbName)))
	default:
		pass(CheckBroker, dbName)
	}

	// Message types.
	if c.messageTypesErr != nil {
		unreadable(CheckMessageType, "sys.service_message_types", c.messageTypesErr)
	} else {
		have := set(c.messageTypes)
		for _, m := range spec.Topology.MessageTypes {
			if have[m] {
				pass(CheckMessageType, m)
			} else {
				fail(CheckMessageType, m, "does not exist", "oodad migrate"+invisible)
			}
		}
	}

	// Contracts and the message types each carries, with their direction.
	if c.contractsErr != nil {
		unreadable(CheckContract, "sys.service_contracts", c.contractsErr)
	} else {
		usages := map[string]map[string]broker.SentBy{}
		for _, r := range c.contracts {
			if usages[r.Contract] == nil {
				usages[r.Contract] = map[string]broker.SentBy{}
			}
			if r.MessageType.Valid {
				usages[r.Contract][r.MessageType.String] = sentBy(r.ByInitiator.Bool, r.ByTarget.Bool)
			}
		}
		for _, want := range spec.Topology.Contracts {
			have, ok := usages[want.Name]
			if !ok {
				fail(CheckContract, want.Name, "does not exist", "oodad migrate"+invisible)
				continue
			}
			var problems []string
			for _, m := range slices.Sorted(maps.Keys(want.Messages)) {
				by, ok := have[m]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("does not carry %s", m))
				case by != want.Messages[m]:
					problems = append(problems, fmt.Sprintf("carries %s SENT BY %s, want %s", m, sentByName(by), sentByName(want.Messages[m])))
				}
			}
			if len(problems) > 0 {
				// There is no ALTER CONTRACT ("CREATE CONTRACT (Transact-SQL)").
				fail(CheckContract, want.Name, strings.Join(problems, "; "),
					fmt.Sprintf("a contract cannot be altered: drop the services' use of it, DROP CONTRACT %s, then oodad migrate", quote(want.Name)))
				continue
			}
			pass(CheckContract, want.Name)
		}
	}

	// Queues.
	if c.queuesErr != nil {
		unreadable(CheckQueue, "sys.service_queues", c.queuesErr)
	} else {
		queues := map[string]queueRow{}
		for _, q := range c.queues {
			queues[q.Schema+"."+q.Name] = q
		}
		for _, name := range spec.Topology.Queues {
			schema, object := SplitQueue(name)
			display := schema + "." + object
			qq := quoteQualified(schema, object)
			q, ok := queues[display]
			if !ok {
				fail(CheckQueue, display, "does not exist", "oodad migrate"+invisible)
				continue
			}
			pass(CheckQueue, display)

			if q.ReceiveEnabled && q.EnqueueEnabled {
				pass(CheckQueueStatus, display)
			} else {
				var off []string
				if !q.ReceiveEnabled {
					off = append(off, "receive")
				}
				if !q.EnqueueEnabled {
					off = append(off, "enqueue")
				}
				fail(CheckQueueStatus, display,
					fmt.Sprintf("the queue is disabled (%s off), usually after five rolled-back receives of a poison message: RECEIVE fails with 9617 and senders pile up in sys.transmission_queue", strings.Join(off, " and ")),
					fmt.Sprintf("oodad heals it at start (moves the head message to the dead letters, then re-enables); by hand: move the poison message out, then ALTER QUEUE %s WITH STATUS = ON", qq))
			}

			if q.ActivationEnabled && q.ActivationProcedure.String != "" {
				fail(CheckActivation, display,
					fmt.Sprintf("internal activation is on with procedure %s, which competes with the daemon for the messages", q.ActivationProcedure.String),
					fmt.Sprintf("ALTER QUEUE %s WITH ACTIVATION (STATUS = OFF), or (DROP) to remove the procedure", qq))
			} else {
				pass(CheckActivation, display)
			}

			switch {
			case q.CanReceive.Valid && q.CanReceive.Int32 == 1:
				pass(CheckReceive, display)
			case q.CanReceive.Valid:
				fail(CheckReceive, display, fmt.Sprintf("user %s may not RECEIVE from the queue", c.db.User),
					fmt.Sprintf("GRANT RECEIVE ON %s TO %s", qq, user))
			default:
				fail(CheckReceive, display, "HAS_PERMS_BY_NAME could not evaluate RECEIVE on the queue",
					fmt.Sprintf("GRANT RECEIVE ON %s TO %s", qq, user))
			}
		}
	}

	// Services: queue, contracts, SEND, ownership.
	if c.servicesErr != nil {
		unreadable(CheckService, "sys.services", c.servicesErr)
	} else {
		services := map[string]*serviceInfo{}
		for _, r := range c.services {
			s := services[r.Name]
			if s == nil {
				s = &serviceInfo{row: r, contracts: map[string]bool{}}
				services[r.Name] = s
			}
			if r.Contract.Valid {
				s.contracts[r.Contract.String] = true
			}
		}
		owner := c.dbErr == nil && c.db.IsDBOwner.Valid && c.db.IsDBOwner.Int32 == 1
		for _, want := range spec.Topology.Services {
			qs := quote(want.Name)
			s, ok := services[want.Name]
			if !ok {
				fail(CheckService, want.Name, "does not exist", "oodad migrate"+invisible)
				continue
			}
			pass(CheckService, want.Name)

			schema, object := SplitQueue(want.Queue)
			wantQueue := schema + "." + object
			switch {
			case !s.row.QueueName.Valid:
				fail(CheckServiceQueue, want.Name, "its queue is not visible to the daemon's user",
					fmt.Sprintf("GRANT RECEIVE ON %s TO %s", quoteQualified(schema, object), user))
			case s.row.QueueSchema.String+"."+s.row.QueueName.String != wantQueue:
				fail(CheckServiceQueue, want.Name,
					fmt.Sprintf("is on queue %s.%s, want %s", s.row.QueueSchema.String, s.row.QueueName.String, wantQueue),
					fmt.Sprintf("ALTER SERVICE %s ON QUEUE %s", qs, quoteQualified(schema, object)))
			default:
				pass(CheckServiceQueue, want.Name)
			}

			var missing []string
			for _, ct := range want.Contracts {
				if !s.contracts[ct] {
					missing = append(missing, ct)
				}
			}
			if len(missing) == 0 {
				pass(CheckServiceContracts, want.Name)
			} else {
				adds := make([]string, len(missing))
				for i, m := range missing {
					adds[i] = "ADD CONTRACT " + quote(m)
				}
				fail(CheckServiceContracts, want.Name,
					fmt.Sprintf("does not accept %s: dialogs on it are sent but wait forever in sys.transmission_queue", strings.Join(missing, ", ")),
					fmt.Sprintf("ALTER SERVICE %s (%s)", qs, strings.Join(adds, ", ")))
			}

			switch {
			case s.row.CanSend.Valid && s.row.CanSend.Int32 == 1:
				pass(CheckSend, want.Name)
			case s.row.CanSend.Valid:
				fail(CheckSend, want.Name, fmt.Sprintf("user %s may not SEND to the service", c.db.User),
					fmt.Sprintf("GRANT SEND ON SERVICE::%s TO %s", qs, user))
			default:
				fail(CheckSend, want.Name, "HAS_PERMS_BY_NAME could not evaluate SEND on the service",
					fmt.Sprintf("GRANT SEND ON SERVICE::%s TO %s", qs, user))
			}

			// END CONVERSATION needs the conversation's owner, db_owner or
			// sysadmin ("END CONVERSATION (Transact-SQL)", Permissions); the
			// daemon ends both sides of its dialogs, so it must own the
			// services (SERVICE_BROKER.md, "Least privilege").
			switch {
			case c.dbErr == nil && s.row.OwnerID.Valid && s.row.OwnerID.Int32 == c.db.PrincipalID:
				pass(CheckServiceOwner, want.Name)
			case owner:
				pass(CheckServiceOwner, want.Name) // db_owner may end any conversation
			default:
				by := "an unknown principal"
				if s.row.OwnerName.Valid {
					by = s.row.OwnerName.String
				}
				fail(CheckServiceOwner, want.Name,
					fmt.Sprintf("is owned by %s, not by the daemon's user %s, which therefore cannot END CONVERSATION on its dialogs", by, c.db.User),
					fmt.Sprintf("ALTER AUTHORIZATION ON SERVICE::%s TO %s", qs, user))
			}
		}
	}

	// Schema version.
	if spec.WantSchemaVersion > 0 {
		const object = "ooda.SchemaVersion"
		v := int(c.schemaVersion)
		switch {
		case c.schemaErr != nil:
			unreadable(CheckSchemaVersion, object, c.schemaErr)
		case v == 0:
			fail(CheckSchemaVersion, object, fmt.Sprintf("no schema (the table is missing or empty); this oodad needs version %d", spec.WantSchemaVersion),
				"oodad migrate"+invisible)
		case v < spec.WantSchemaVersion:
			fail(CheckSchemaVersion, object, fmt.Sprintf("the database is at version %d, this oodad needs %d", v, spec.WantSchemaVersion), "oodad migrate")
		case v > spec.WantSchemaVersion:
			fail(CheckSchemaVersion, object, fmt.Sprintf("the database is at version %d, newer than this oodad's %d", v, spec.WantSchemaVersion),
				"upgrade oodad to the release that wrote the schema (never run an older binary on a newer schema)")
		default:
			pass(CheckSchemaVersion, object)
		}
	}

	// Query Store: a warning, never a failure.
	if spec.NeedQueryStore {
		switch qs := c.queryStore; {
		case c.queryStoreErr != nil:
			warn(CheckQueryStore, dbName, "cannot read sys.database_query_store_options: "+c.queryStoreErr.Error(),
				fmt.Sprintf("GRANT VIEW DATABASE STATE TO %s", user))
		case qs.ActualState.String == "READ_WRITE":
			pass(CheckQueryStore, dbName)
		case qs.ActualState.String == "READ_ONLY":
			problem := "Query Store is READ_ONLY: it records no new plans, so plan regressions go unseen"
			if qs.ReadonlyReason.Valid && qs.ReadonlyReason.Int32 != 0 {
				problem += fmt.Sprintf(" (readonly_reason %d", qs.ReadonlyReason.Int32)
				if qs.CurrentMB.Valid && qs.MaxMB.Valid {
					problem += fmt.Sprintf(", %d of %d MB", qs.CurrentMB.Int64, qs.MaxMB.Int64)
				}
				problem += ")"
			}
			warn(CheckQueryStore, dbName, problem,
				fmt.Sprintf("raise MAX_STORAGE_SIZE_MB or clean up, then ALTER DATABASE %s SET QUERY_STORE (OPERATION_MODE = READ_WRITE)", quote(dbName)))
		default:
			state := qs.ActualState.String
			if state == "" {
				state = "unknown"
			}
			warn(CheckQueryStore, dbName, fmt.Sprintf("Query Store is %s: plan-regression sensors have nothing to read", state),
				fmt.Sprintf("ALTER DATABASE %s SET QUERY_STORE = ON (OPERATION_MODE = READ_WRITE)", quote(dbName)))
		}
	}
	return out
}

type serviceInfo struct {
	row       serviceRow
	contracts map[string]bool
}

// SplitQueue splits a topology queue name into schema and object:
// "ooda.ObserveQueue" → ("ooda", "ObserveQueue"); "ObserveQueue" → ("dbo", "ObserveQueue").
func SplitQueue(name string) (schema, object string) {
	if s, o, ok := strings.Cut(name, "."); ok {
		return s, o
	}
	return "dbo", name
}

func sentBy(initiator, target bool) broker.SentBy {
	switch {
	case initiator && !target:
		return broker.SentByInitiator
	case target && !initiator:
		return broker.SentByTarget
	}
	return broker.SentByAny
}

func sentByName(s broker.SentBy) string {
	switch s {
	case broker.SentByInitiator:
		return "INITIATOR"
	case broker.SentByTarget:
		return "TARGET"
	}
	return "ANY"
}

// quote brackets a name for a fix shown to the operator; the text is never
// executed, but it must be right to copy and paste.
func quote(name string) string {
	q, err := servicebroker.QuoteName(name)
	if err != nil {
		return name
	}
	return q
}

func quoteQualified(schema, object string) string {
	q, err := servicebroker.QuoteQualified(schema, object)
	if err != nil {
		return schema + "." + object
	}
	return q
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
