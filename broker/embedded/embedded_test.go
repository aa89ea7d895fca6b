package embedded_test

import (
	"context"
	"testing"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
	"github.com/hartonomous/ooda/broker/embedded"
)

const testMaxBody = 64 << 10

func openAt(t *testing.T, dir string, mod ...func(*embedded.Options)) *embedded.Broker {
	t.Helper()
	opts := embedded.Options{Dir: dir, Topology: brokertest.Topology(), MaxBodyBytes: testMaxBody}
	for _, m := range mod {
		m(&opts)
	}
	b, err := embedded.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	t.Parallel()
	brokertest.Exercise(t, brokertest.Harness{
		Open: func(t *testing.T) broker.Broker { return openAt(t, t.TempDir()) },
		Reopen: func(t *testing.T, b broker.Broker) broker.Broker {
			eb := b.(*embedded.Broker)
			if err := eb.Close(); err != nil {
				t.Fatal(err)
			}
			return openAt(t, eb.Dir())
		},
		MaxBodyBytes:  testMaxBody,
		StateTableDDL: "CREATE TABLE brokertest_state (k VARCHAR(100) PRIMARY KEY, v INT)",
	})
}
