package servicebroker

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hartonomous/ooda/broker"
)

// TopologyDDL returns idempotent statements that create the objects of t
// that do not exist yet, each to be run as a batch of its own, in order:
// schemas, message types (VALIDATION = NONE), contracts (SENT BY), queues
// (STATUS = ON, RETENTION = OFF, no activation, POISON_MESSAGE_HANDLING
// (STATUS = ON)) and services, owned by owner (AUTHORIZATION), each on its
// queue with the contracts it accepts. Objects that exist are left as they
// are, even if they differ: Open reports the differences.
//
// Owning the services matters: END CONVERSATION needs the conversation's
// owner (or db_owner), so the daemon's database user should own both ends.
func TopologyDDL(t broker.Topology, owner string) ([]string, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("servicebroker: topology DDL: %w", err)
	}
	own, err := QuoteName(owner)
	if err != nil {
		return nil, fmt.Errorf("servicebroker: topology DDL: owner: %w", err)
	}
	var out []string
	// Schemas of the queues, owned by whoever runs the DDL (the daemon's
	// user owns its services, not the schema: least privilege). CREATE
	// SCHEMA "must be the only statement in the batch", hence EXEC.
	seen := map[string]bool{}
	for _, q := range t.Queues {
		n, err := parseQueueName(q)
		if err != nil {
			return nil, err
		}
		if seen[n.schema] || n.schema == "dbo" {
			continue
		}
		seen[n.schema] = true
		s, _ := QuoteName(n.schema)
		out = append(out, "IF SCHEMA_ID("+nameLiteral(n.schema)+") IS NULL\n    EXEC("+nameLiteral("CREATE SCHEMA "+s+";")+");")
	}
	for _, m := range t.MessageTypes {
		qm, err := QuoteName(m)
		if err != nil {
			return nil, err
		}
		out = append(out, "IF NOT EXISTS (SELECT 1 FROM sys.service_message_types WHERE name = "+nameLiteral(m)+")\n    CREATE MESSAGE TYPE "+qm+" VALIDATION = NONE;")
	}
	for _, c := range t.Contracts {
		qc, err := QuoteName(c.Name)
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, m := range slices.Sorted(maps.Keys(c.Messages)) {
			qm, _ := QuoteName(m) // validated above: every contract message is a declared type
			parts = append(parts, qm+" SENT BY "+sentBy(c.Messages[m]))
		}
		out = append(out, "IF NOT EXISTS (SELECT 1 FROM sys.service_contracts WHERE name = "+nameLiteral(c.Name)+")\n    CREATE CONTRACT "+qc+" ("+strings.Join(parts, ", ")+");")
	}
	for _, q := range t.Queues {
		n, _ := parseQueueName(q)
		// No ACTIVATION clause: the daemon receives; an activation
		// procedure would compete with it (CREATE QUEUE: ACTIVATION needs
		// PROCEDURE_NAME, so leaving it out is how a queue has none).
		out = append(out, "IF NOT EXISTS (SELECT 1 FROM sys.service_queues WHERE name = "+nameLiteral(n.object)+" AND schema_id = SCHEMA_ID("+nameLiteral(n.schema)+"))\n    CREATE QUEUE "+n.quoted+" WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING (STATUS = ON);")
	}
	for _, s := range t.Services {
		qs, err := QuoteName(s.Name)
		if err != nil {
			return nil, err
		}
		n, _ := parseQueueName(s.Queue)
		stmt := "IF NOT EXISTS (SELECT 1 FROM sys.services WHERE name = " + nameLiteral(s.Name) + ")\n    CREATE SERVICE " + qs + " AUTHORIZATION " + own + " ON QUEUE " + n.quoted
		if len(s.Contracts) > 0 {
			var cs []string
			for _, c := range s.Contracts {
				qc, _ := QuoteName(c)
				cs = append(cs, qc)
			}
			stmt += " (" + strings.Join(cs, ", ") + ")"
		}
		out = append(out, stmt+";")
	}
	return out, nil
}

// nameLiteral writes an object name (never a value) as an N'…' string
// literal, doubling each single quote as QUOTENAME with a quote character does. DDL takes no
// parameters, and the statements TopologyDDL returns are printed and run
// as they are; the names come from the topology, checked by QuoteName.
func nameLiteral(name string) string {
	return "N'" + strings.ReplaceAll(name, "'", "''") + "'"
}
