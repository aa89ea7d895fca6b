package servicebroker

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

// ErrBrokerNotEnabled: the database has no active Service Broker (8442);
// ALTER DATABASE … SET ENABLE_BROKER, or NEW_BROKER on a restored copy.
var ErrBrokerNotEnabled = errors.New("service broker not enabled in this database")

// transient are the SQL Server errors that a new transaction may not meet
// again: deadlock victim, lock resources, lock timeout, database or
// resource temporarily unavailable, Azure throttling and failover
// (SERVICE_BROKER.md, "Errors").
var transient = map[int32]bool{
	1205: true, 1204: true, 1222: true, 4060: true, 4221: true,
	40143: true, 40197: true, 40501: true, 40540: true, 40613: true,
	49918: true, 49919: true, 49920: true, 10928: true, 10929: true,
}

// final maps the errors that retrying cannot fix to the contract's sentinels.
var final = map[int32]error{
	8426: broker.ErrConversationNotFound, // the conversation handle is not found
	8436: broker.ErrConversationNotFound, // the conversation group is not found
	8427: broker.ErrConversationClosed,   // not in a valid state for END CONVERSATION
	8429: broker.ErrConversationClosed,   // not in a valid state for SEND
	8458: broker.ErrConversationClosed,   // not in a valid state for BEGIN CONVERSATION TIMER
	8431: broker.ErrUnknownMessageType,   // the message type is not part of the service contract
	8428: broker.ErrUnknownMessageType,   // the message type is not found
	8432: broker.ErrWrongDirection,       // SENT BY TARGET, sent by the initiator
	8434: broker.ErrWrongDirection,       // SENT BY INITIATOR, sent by the target
	9617: broker.ErrQueueDisabled,        // the service queue is currently disabled
	8442: ErrBrokerNotEnabled,
	1105: broker.ErrStorageFull, // could not allocate space (filegroup full)
	9002: broker.ErrStorageFull, // the transaction log is full
}

// Classify tells whether err is worth retrying in a new transaction and
// wraps the final errors in the contract's sentinels (errors.Is works on
// the result; the driver's error stays in the chain). With several errors
// in one reply, go-mssqldb describes the last in the top fields and lists
// all in All: every one is considered, and a final error wins over a
// transient one.
func Classify(err error) (retry bool, classified error) {
	if err == nil {
		return false, nil
	}
	var me mssql.Error
	if errors.As(err, &me) {
		all := me.All
		if len(all) == 0 {
			all = []mssql.Error{me}
		}
		for _, e := range all {
			if sentinel, ok := final[e.Number]; ok {
				return false, fmt.Errorf("%w: %w", sentinel, err)
			}
		}
		for _, e := range all {
			if transient[e.Number] {
				return true, err
			}
		}
		return false, err
	}
	// The connection broke: the transaction is gone with it; a new one on
	// a new connection may succeed. A commit whose reply was lost has an
	// unknown outcome, which is why delivery downstream is at least once.
	var ne net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
		return true, err
	}
	return false, err
}
