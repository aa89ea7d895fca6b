package servicebroker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hartonomous/ooda/broker"
)

// This file holds every statement the package sends. Values always travel as
// parameters; object names (queues, services, contracts, message types) are
// identifiers that T-SQL does not accept as parameters in these statements,
// so they are spliced in here, once, at Open, through QuoteName. Nothing else
// in the package builds SQL text.

// receiveColumns are the queue columns Receive reads, by name and in the
// order decodeRow expects (RECEIVE, "Queue columns"; CREATE QUEUE lists
// message_enqueue_time, datetime). validation and status are not read:
// bodies are never validated (VALIDATION = NONE) and the status column is
// documented inconsistently between versions.
const receiveColumns = `conversation_group_id, conversation_handle, message_sequence_number, message_type_name, service_name, service_contract_name, message_body, message_enqueue_time`

// Statements that name no object.
const (
	// SEND/END/TIMER take the handle as a parameter (@h, uniqueidentifier).
	// END CONVERSATION: "WITH ERROR = failure_code DESCRIPTION =
	// 'failure_text'" (no comma between them); failure_code int > 0,
	// failure_text nvarchar(3000). Never WITH CLEANUP: "Do not use WITH
	// CLEANUP in the code of a Service Broker application".
	sqlEnd          = `END CONVERSATION @h;`
	sqlEndWithError = `END CONVERSATION @h WITH ERROR = @code DESCRIPTION = @description;`
	// BEGIN CONVERSATION TIMER: TIMEOUT in seconds, int.
	sqlBeginTimer = `BEGIN CONVERSATION TIMER (@h) TIMEOUT = @seconds;`
	// SAVE TRANSACTION / ROLLBACK TRANSACTION accept @savepoint_variable
	// (char/varchar/nchar/nvarchar; only its first 32 characters are used):
	// the names we pass are our own short ones, see tx.savepoint.
	sqlSavepoint  = `SAVE TRANSACTION @sp;`
	sqlRollbackTo = `ROLLBACK TRANSACTION @sp;`

	// Open's checks.
	sqlBrokerEnabled = `SELECT DB_NAME(), is_broker_enabled FROM sys.databases WHERE database_id = DB_ID();`
	sqlMessageTypes  = `SELECT name FROM sys.service_message_types;`
	sqlContracts     = `SELECT c.name, m.name, u.is_sent_by_initiator, u.is_sent_by_target
FROM sys.service_contracts AS c
LEFT JOIN sys.service_contract_message_usages AS u ON u.service_contract_id = c.service_contract_id
LEFT JOIN sys.service_message_types AS m ON m.message_type_id = u.message_type_id;`
	sqlQueues   = `SELECT SCHEMA_NAME(schema_id), name FROM sys.service_queues;`
	sqlServices = `SELECT s.name, SCHEMA_NAME(q.schema_id), q.name, c.name
FROM sys.services AS s
JOIN sys.service_queues AS q ON q.object_id = s.service_queue_id
LEFT JOIN sys.service_contract_usages AS u ON u.service_id = s.service_id
LEFT JOIN sys.service_contracts AS c ON c.service_contract_id = u.service_contract_id;`
)

// queueName is a topology queue name split into its parts: "ooda.ObserveQueue"
// is schema ooda, object ObserveQueue; an unqualified name is in dbo.
type queueName struct {
	topology, schema, object, quoted string
}

func parseQueueName(name string) (queueName, error) {
	schema, object, ok := strings.Cut(name, ".")
	if !ok {
		schema, object = "dbo", name
	}
	quoted, err := QuoteQualified(schema, object)
	if err != nil {
		return queueName{}, fmt.Errorf("servicebroker: queue %q: %w", name, err)
	}
	return queueName{topology: name, schema: schema, object: object, quoted: quoted}, nil
}

// queueStatements are the statements that name one queue.
type queueStatements struct {
	name queueName
	// receiveWait waits up to @timeout ms (int32) for a message; receiveNow
	// does not wait. Both take @max (int32). WAITFOR ... TIMEOUT and TOP take
	// variables: Microsoft's own SqlDependency sends "WAITFOR(RECEIVE TOP (1)
	// ...), TIMEOUT @p2"; the RECEIVE page's syntax shows TOP ( n ) and
	// TIMEOUT timeout without saying. "If the RECEIVE statement is not the
	// first statement in a batch ... the preceding statement must be ended
	// with a semi-colon": it is always first here.
	receiveWait, receiveNow string
	// status reads is_receive_enabled from sys.service_queues (by @schema
	// and @name) with the queue's depth and oldest enqueue time ("A queue
	// can be the target of a SELECT statement", CREATE QUEUE).
	status string
	// enable is ALTER QUEUE ... WITH STATUS = ON.
	enable string
}

func newQueueStatements(name string) (queueStatements, error) {
	q, err := parseQueueName(name)
	if err != nil {
		return queueStatements{}, err
	}
	return queueStatements{
		name:        q,
		receiveWait: `WAITFOR (RECEIVE TOP (@max) ` + receiveColumns + ` FROM ` + q.quoted + `), TIMEOUT @timeout;`,
		receiveNow:  `RECEIVE TOP (@max) ` + receiveColumns + ` FROM ` + q.quoted + `;`,
		status: `SELECT q.is_receive_enabled, d.depth, d.oldest
FROM sys.service_queues AS q
CROSS JOIN (SELECT COUNT_BIG(*) AS depth, MIN(message_enqueue_time) AS oldest FROM ` + q.quoted + `) AS d
WHERE q.name = @name AND q.schema_id = SCHEMA_ID(@schema);`,
		enable: `ALTER QUEUE ` + q.quoted + ` WITH STATUS = ON;`,
	}, nil
}

// dialogKey names one BEGIN DIALOG statement: the initiating service and the
// contract are identifiers in the statement; the target is a parameter.
type dialogKey struct{ from, contract string }

// dialogStatements begin a dialog from one service on one contract.
// BEGIN DIALOG CONVERSATION: "FROM SERVICE initiator_service_name" and "ON
// CONTRACT contract_name" are names; "TO SERVICE 'target_service_name'" is an
// nvarchar(256) string "matched byte by byte" (case-sensitive, whatever the
// collation), passed as @to. RELATED_CONVERSATION_GROUP takes a value
// "implicitly convertible to uniqueidentifier" (@group). ENCRYPTION defaults
// to ON, which needs a database master key even within one instance when the
// services are in different databases; ours are in one database: OFF.
// @h is declared in the batch and selected, rather than an output
// parameter, to read it back as a plain uniqueidentifier column.
type dialogStatements struct {
	plain, related string
}

func newDialogStatements(from, contract string) (dialogStatements, error) {
	f, err := QuoteName(from)
	if err != nil {
		return dialogStatements{}, fmt.Errorf("servicebroker: service %q: %w", from, err)
	}
	c, err := QuoteName(contract)
	if err != nil {
		return dialogStatements{}, fmt.Errorf("servicebroker: contract %q: %w", contract, err)
	}
	head := "DECLARE @h uniqueidentifier;\nBEGIN DIALOG CONVERSATION @h FROM SERVICE " + f + " TO SERVICE @to ON CONTRACT " + c
	return dialogStatements{
		plain:   head + " WITH ENCRYPTION = OFF;\nSELECT @h;",
		related: head + " WITH RELATED_CONVERSATION_GROUP = @group, ENCRYPTION = OFF;\nSELECT @h;",
	}, nil
}

// sendStatement sends one message of a type: "SEND ON CONVERSATION
// [(]conversation_handle[)] MESSAGE TYPE message_type_name
// (message_body_expression)"; the type is a name, the body a varbinary
// parameter that is never NULL (a NULL body fails the SEND).
func sendStatement(msgType string) (string, error) {
	t, err := QuoteName(msgType)
	if err != nil {
		return "", fmt.Errorf("servicebroker: message type %q: %w", msgType, err)
	}
	return "SEND ON CONVERSATION (@h) MESSAGE TYPE " + t + " (@body);", nil
}

// statements is every statement a Broker sends for its topology.
type statements struct {
	queues  map[string]queueStatements // by topology queue name
	dialogs map[dialogKey]dialogStatements
	sends   map[string]string // by message type
}

func newStatements(t broker.Topology) (*statements, error) {
	s := &statements{
		queues:  map[string]queueStatements{},
		dialogs: map[dialogKey]dialogStatements{},
		sends:   map[string]string{},
	}
	for _, q := range t.Queues {
		qs, err := newQueueStatements(q)
		if err != nil {
			return nil, err
		}
		s.queues[q] = qs
	}
	for _, svc := range t.Services {
		for _, c := range t.Contracts {
			ds, err := newDialogStatements(svc.Name, c.Name)
			if err != nil {
				return nil, err
			}
			s.dialogs[dialogKey{svc.Name, c.Name}] = ds
		}
	}
	for _, m := range t.MessageTypes {
		st, err := sendStatement(m)
		if err != nil {
			return nil, err
		}
		s.sends[m] = st
	}
	return s, nil
}

// labeled is one statement with a label saying what it is for.
type labeled struct{ label, text string }

// all lists every statement, sorted by label: the golden file of what the
// package sends.
func (s *statements) all() []labeled {
	out := []labeled{
		{"end", sqlEnd},
		{"end with error", sqlEndWithError},
		{"begin timer", sqlBeginTimer},
		{"savepoint", sqlSavepoint},
		{"rollback to savepoint", sqlRollbackTo},
		{"open: broker enabled", sqlBrokerEnabled},
		{"open: message types", sqlMessageTypes},
		{"open: contracts", sqlContracts},
		{"open: queues", sqlQueues},
		{"open: services", sqlServices},
	}
	for name, q := range s.queues {
		out = append(out,
			labeled{"queue " + name + ": receive, waiting", q.receiveWait},
			labeled{"queue " + name + ": receive, not waiting", q.receiveNow},
			labeled{"queue " + name + ": status", q.status},
			labeled{"queue " + name + ": enable", q.enable})
	}
	for k, d := range s.dialogs {
		out = append(out,
			labeled{"dialog from " + k.from + " on " + k.contract, d.plain},
			labeled{"dialog from " + k.from + " on " + k.contract + ", related group", d.related})
	}
	for m, st := range s.sends {
		out = append(out, labeled{"send " + m, st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].label < out[j].label })
	return out
}
