package servicebroker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
)

// offlineBroker is a Broker as Open builds it, without its pool: what is
// tested with it must be refused before any statement is sent.
func offlineBroker(t *testing.T) *Broker {
	t.Helper()
	topo := brokertest.Topology()
	stmts, err := newStatements(topo)
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{opts: Options{Topology: topo, MaxBodyBytes: 16}.withDefaults(), stmts: stmts,
		services: map[string]broker.Service{}, contracts: map[string]broker.Contract{}}
	for _, s := range topo.Services {
		b.services[s.Name] = s
	}
	for _, c := range topo.Contracts {
		b.contracts[c.Name] = c
	}
	b.closing, b.close = context.WithCancel(context.Background())
	t.Cleanup(b.close)
	return b
}

// TestRefusedWithoutRoundTrip: what the topology and the arguments already
// rule out is refused with the contract's sentinel, naming the culprit, and
// the refusal aborts the transaction like any error: the next call returns
// it again.
func TestRefusedWithoutRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := broker.NewID()
	for _, c := range []struct {
		name     string
		sentinel error
		mention  string
		call     func(tx *tx) error
	}{
		{"UnknownTarget", broker.ErrUnknownService, "//nowhere", func(tx *tx) error {
			_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: "//nowhere", Contract: brokertest.ContractName})
			return err
		}},
		{"TargetNameIsExact", broker.ErrUnknownService, "//hartonomous/test/target", func(tx *tx) error {
			_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: "//hartonomous/test/target", Contract: brokertest.ContractName})
			return err
		}},
		{"UnknownFrom", broker.ErrUnknownService, "//from/nowhere", func(tx *tx) error {
			_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: "//from/nowhere", To: brokertest.Target, Contract: brokertest.ContractName})
			return err
		}},
		{"UnknownContract", broker.ErrUnknownContract, "//no/contract", func(tx *tx) error {
			_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: brokertest.Target, Contract: "//no/contract"})
			return err
		}},
		{"TargetWithoutContract", broker.ErrUnknownContract, brokertest.Other, func(tx *tx) error {
			_, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: brokertest.Other, Contract: brokertest.ContractName})
			return err
		}},
		{"UndeclaredType", broker.ErrUnknownMessageType, brokertest.TypeUndeclared, func(tx *tx) error {
			return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeUndeclared})
		}},
		{"BodyTooLarge", broker.ErrBodyTooLarge, "16", func(tx *tx) error {
			return tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: make([]byte, 17)})
		}},
		{"UnknownQueue", broker.ErrUnknownQueue, "NoSuchQueue", func(tx *tx) error {
			_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: "NoSuchQueue", Max: 1})
			return err
		}},
		{"MaxBelowOne", broker.ErrInvalidArgument, "max", func(tx *tx) error {
			_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue})
			return err
		}},
		{"NegativeWait", broker.ErrInvalidArgument, "wait", func(tx *tx) error {
			_, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 1, Wait: -time.Second})
			return err
		}},
		{"NegativeErrorCode", broker.ErrInvalidArgument, h.String(), func(tx *tx) error {
			return tx.End(ctx, &broker.EndParams{Conversation: h, ErrorCode: -1})
		}},
		{"DescriptionWithoutCode", broker.ErrInvalidArgument, "description", func(tx *tx) error {
			return tx.End(ctx, &broker.EndParams{Conversation: h, Description: "why"})
		}},
		{"DescriptionTooLong", broker.ErrInvalidArgument, "3000", func(tx *tx) error {
			return tx.End(ctx, &broker.EndParams{Conversation: h, ErrorCode: 1, Description: strings.Repeat("𝄞", 1501)}) // 3002 UTF-16 units
		}},
		{"TimerNotPositive", broker.ErrInvalidArgument, h.String(), func(tx *tx) error {
			return tx.BeginTimer(ctx, h, 0)
		}},
		{"UnknownSavepoint", broker.ErrUnknownSavepoint, "never_saved", func(tx *tx) error {
			return tx.RollbackTo(ctx, "never_saved")
		}},
		{"EmptySavepoint", broker.ErrInvalidArgument, "savepoint", func(tx *tx) error {
			return tx.Savepoint(ctx, "")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tx := &tx{b: offlineBroker(t)}
			err := c.call(tx)
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("err = %v, want %v naming %q", err, c.sentinel, c.mention)
			}
			again := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny})
			if !errors.Is(again, c.sentinel) || !strings.Contains(again.Error(), "aborted") {
				t.Fatalf("next call: %v, want the first error again", again)
			}
			if _, err := tx.SQL(ctx); !errors.Is(err, c.sentinel) {
				t.Fatalf("SQL after the error: %v", err)
			}
		})
	}
}

// TestClosedBroker: after Close, Begin and every call of an open
// transaction fail with ErrClosed, before any statement.
func TestClosedBroker(t *testing.T) {
	t.Parallel()
	b := offlineBroker(t)
	tx := &tx{b: b}
	b.close()
	if _, err := b.Begin(context.Background()); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Receive(context.Background(), &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 1}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("receive: %v", err)
	}
	if _, err := b.QueueStatus(context.Background(), brokertest.TargetQueue); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("queue status: %v", err)
	}
	if err := b.EnableQueue(context.Background(), "NoSuchQueue"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Fatalf("enable unknown queue: %v", err)
	}
}
