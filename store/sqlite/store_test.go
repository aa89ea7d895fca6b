package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store/sqlite"
	"github.com/hartonomous/ooda/store/storetest"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, storetest.Harness{Open: func(t *testing.T) (broker.Broker, storetest.Store) {
		dir := t.TempDir()
		b, err := embedded.Open(context.Background(), embedded.Options{Dir: dir, Topology: ooda.Topology()})
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(); b.Close() })
		return b, s
	}})
}
