package natsbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/broker/natsbus"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
	"github.com/hartonomous/ooda/store/sqlite"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRelayOnCoreNATS: against a server without JetStream the relay
// publishes every outbox event, in order, as CloudEvents, and trims the outbox.
func TestRelayOnCoreNATS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns, url, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{Listen: freeAddr(t)}) // no store: no JetStream
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	dir := t.TempDir()
	b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: ooda.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := sqlite.Open(filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 100)
	sub, err := nc.ChanSubscribe(natsbus.EventPrefix+">", got)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 20
	err = broker.InTx(ctx, b, func(_ broker.Tx, q broker.Querier) error {
		for i := range n {
			data, _ := json.Marshal(map[string]int{"i": i})
			if err := st.AddEvent(ctx, q, store.Event{ID: fmt.Sprintf("ev-%02d", i), Kind: "test.event", CycleID: "cycle-1", CreatedAt: time.Now(), Data: data}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	relay := natsbus.NewRelay(natsbus.Relay{NC: nc, Reader: st, Source: "oodad/test", Logger: zerolog.Nop(),
		Trim: func(ctx context.Context, seqs []int64) error {
			return broker.InTx(ctx, b, func(_ broker.Tx, q broker.Querier) error { return st.DeleteEvents(ctx, q, seqs) })
		}})
	if err := relay.Flush(ctx); err != nil {
		t.Fatalf("flush to core NATS: %v", err)
	}
	for i := range n {
		select {
		case m := <-got:
			if want := fmt.Sprintf("ev-%02d", i); m.Header.Get("ce-id") != want || m.Header.Get(nats.MsgIdHdr) != want || m.Subject != natsbus.EventPrefix+"test.event" || m.Header.Get("ce-subject") != "cycle-1" {
				t.Fatalf("event %d: %s %v", i, m.Subject, m.Header)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events arrived", i, n)
		}
	}
	if depth, err := st.OutboxDepth(ctx); err != nil || depth != 0 {
		t.Fatalf("outbox after the flush: %d %v", depth, err)
	}
}
