package servicebroker

import (
	"database/sql"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

// receivedRow is one row of RECEIVE as scanned, in the order of
// receiveColumns.
type receivedRow struct {
	Group    mssql.UniqueIdentifier // conversation_group_id
	Handle   mssql.UniqueIdentifier // conversation_handle
	Sequence int64                  // message_sequence_number
	Type     string                 // message_type_name
	Service  sql.NullString         // service_name
	Contract sql.NullString         // service_contract_name
	Body     []byte                 // message_body: NULL for EndDialog and DialogTimer
	Enqueued sql.NullTime           // message_enqueue_time
}

// dest returns the scan destinations for one row.
func (r *receivedRow) dest() []any {
	return []any{&r.Group, &r.Handle, &r.Sequence, &r.Type, &r.Service, &r.Contract, &r.Body, &r.Enqueued}
}

// decodeRow turns a scanned row into a Message of the topology queue named
// queue. A NULL body becomes an empty one; the body's bytes are passed on
// untouched (an Error message's XML may be UTF-16: broker.ParseErrorBody
// reads both). The enqueue time is a datetime without a zone; go-mssqldb
// reads it in the DSN's time zone (UTC unless set).
func decodeRow(queue string, r *receivedRow) broker.Message {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	m := broker.Message{
		Queue:             queue,
		Service:           r.Service.String,
		Contract:          r.Contract.String,
		ConversationGroup: ID(r.Group),
		Conversation:      ID(r.Handle),
		Sequence:          r.Sequence,
		Type:              r.Type,
		Body:              body,
	}
	if r.Enqueued.Valid {
		m.EnqueuedAt = r.Enqueued.Time
	}
	return m
}
