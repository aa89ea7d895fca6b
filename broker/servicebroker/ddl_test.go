package servicebroker

import (
	"strings"
	"testing"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
	"github.com/hartonomous/ooda/ooda"
)

func TestTopologyDDLGolden(t *testing.T) {
	t.Parallel()
	for name, topo := range map[string]broker.Topology{
		"ddl_brokertest.sql": brokertest.Topology(),
		"ddl_ooda.sql":       ooda.Topology(),
	} {
		stmts, err := TopologyDDL(topo, "ooda_daemon")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, strings.Join(stmts, "\n\n")+"\n")
	}
}

// TestTopologyDDLShape: dependency order, idempotence guards, and the
// options that matter on every queue and service.
func TestTopologyDDLShape(t *testing.T) {
	t.Parallel()
	stmts, err := TopologyDDL(ooda.Topology(), "ooda_daemon")
	if err != nil {
		t.Fatal(err)
	}
	order := []string{"CREATE SCHEMA", "CREATE MESSAGE TYPE", "CREATE CONTRACT", "CREATE QUEUE", "CREATE SERVICE"}
	last := 0
	counts := map[string]int{}
	for _, s := range stmts {
		if !strings.HasPrefix(s, "IF ") {
			t.Errorf("not guarded, not idempotent: %s", s)
		}
		kind := -1
		for i, k := range order {
			if strings.Contains(s, k) {
				kind = i
			}
		}
		if kind < last {
			t.Errorf("%s after a %s", order[kind], order[last])
		}
		last = kind
		counts[order[kind]]++
		switch order[kind] {
		case "CREATE QUEUE":
			for _, want := range []string{"STATUS = ON", "RETENTION = OFF", "POISON_MESSAGE_HANDLING (STATUS = ON)"} {
				if !strings.Contains(s, want) {
					t.Errorf("queue without %s: %s", want, s)
				}
			}
			if strings.Contains(s, "ACTIVATION") {
				t.Errorf("queue with activation: %s", s)
			}
		case "CREATE SERVICE":
			if !strings.Contains(s, "AUTHORIZATION [ooda_daemon] ON QUEUE [ooda].") {
				t.Errorf("service not owned by the daemon's user: %s", s)
			}
		case "CREATE MESSAGE TYPE":
			if !strings.Contains(s, "VALIDATION = NONE") {
				t.Errorf("message type validated: %s", s)
			}
		}
	}
	want := map[string]int{"CREATE SCHEMA": 1, "CREATE MESSAGE TYPE": 5, "CREATE CONTRACT": 5, "CREATE QUEUE": 4, "CREATE SERVICE": 5}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d × %s, want %d", counts[k], k, n)
		}
	}
}

// TestTopologyDDLHostileNames: a name with quotes and brackets stays one
// name, both as identifier and inside the guards' string literals.
func TestTopologyDDLHostileNames(t *testing.T) {
	t.Parallel()
	topo := broker.Topology{
		MessageTypes: []string{"t'); DROP TABLE x; --"},
		Contracts:    []broker.Contract{{Name: "c]", Messages: map[string]broker.SentBy{"t'); DROP TABLE x; --": broker.SentByInitiator}}},
		Queues:       []string{"s'.q]"},
		Services:     []broker.Service{{Name: "svc'", Queue: "s'.q]", Contracts: []string{"c]"}}},
	}
	stmts, err := TopologyDDL(topo, "o]wner")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(stmts, "\n")
	for _, want := range []string{
		"WHERE name = N't''); DROP TABLE x; --')",
		"CREATE MESSAGE TYPE [t'); DROP TABLE x; --]",
		"CREATE CONTRACT [c]]] ([t'); DROP TABLE x; --] SENT BY INITIATOR)",
		"EXEC(N'CREATE SCHEMA [s''];')",
		"CREATE QUEUE [s'].[q]]]",
		"CREATE SERVICE [svc'] AUTHORIZATION [o]]wner] ON QUEUE [s'].[q]]] ([c]]])",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %s in\n%s", want, all)
		}
	}
	if _, err := TopologyDDL(topo, ""); err == nil {
		t.Error("empty owner accepted")
	}
}
