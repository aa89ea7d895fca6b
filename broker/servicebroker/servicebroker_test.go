package servicebroker_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/servicebroker"
)

func sqlErr(numbers ...int32) error {
	var all []mssql.Error
	for _, n := range numbers {
		all = append(all, mssql.Error{Number: n, Message: fmt.Sprintf("error %d", n)})
	}
	last := all[len(all)-1]
	last.All = all
	return fmt.Errorf("receive: %w", last)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		err      error
		retry    bool
		sentinel error
	}{
		{"Deadlock", sqlErr(1205), true, nil},
		{"LockTimeout", sqlErr(1222), true, nil},
		{"AzureThrottle", sqlErr(40501), true, nil},
		{"ConversationGone", sqlErr(8426), false, broker.ErrConversationNotFound},
		{"SendOnClosed", sqlErr(8429), false, broker.ErrConversationClosed},
		{"EndTwice", sqlErr(8427), false, broker.ErrConversationClosed},
		{"TimerOnClosed", sqlErr(8458), false, broker.ErrConversationClosed},
		{"NotInContract", sqlErr(8431), false, broker.ErrUnknownMessageType},
		{"WrongSide", sqlErr(8434), false, broker.ErrWrongDirection},
		{"QueueDisabled", sqlErr(9617), false, broker.ErrQueueDisabled},
		{"NoBroker", sqlErr(8442), false, servicebroker.ErrBrokerNotEnabled},
		{"LogFull", sqlErr(9002), false, broker.ErrStorageFull},
		// The last error is a generic one; the queue-disabled error before it decides.
		{"FinalEarlierInAll", sqlErr(9617, 3621), false, broker.ErrQueueDisabled},
		{"FinalWinsOverTransient", sqlErr(1205, 8426), false, broker.ErrConversationNotFound},
		{"Syntax", sqlErr(102), false, nil},
		{"BadConn", fmt.Errorf("exec: %w", driver.ErrBadConn), true, nil},
		{"EOF", io.EOF, true, nil},
		{"NetError", &net.OpError{Op: "read", Err: errors.New("connection reset")}, true, nil},
		{"Other", errors.New("something else"), false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			retry, got := servicebroker.Classify(c.err)
			if retry != c.retry {
				t.Fatalf("retry = %v, want %v", retry, c.retry)
			}
			if c.sentinel != nil && !errors.Is(got, c.sentinel) {
				t.Fatalf("%v is not %v", got, c.sentinel)
			}
			var me mssql.Error
			if errors.As(c.err, &me) && !errors.As(got, &me) {
				t.Fatal("the driver's error left the chain")
			}
		})
	}
	if retry, err := servicebroker.Classify(nil); retry || err != nil {
		t.Fatal("nil")
	}
}

func TestQuoteNameAgainstHostileNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ObserveQueue":                  "[ObserveQueue]",
		"x]; DROP TABLE dbo.Users; --":  "[x]]; DROP TABLE dbo.Users; --]",
		"]]":                            "[]]]]]",
		"IX_ooda_Atom Embeddings (geo)": "[IX_ooda_Atom Embeddings (geo)]",
		"名前":                            "[名前]",
	} {
		got, err := servicebroker.QuoteName(in)
		if err != nil || got != want {
			t.Errorf("QuoteName(%q) = %q, %v; want %q", in, got, err, want)
		}
		// Whatever the input, the quoted name is one bracketed identifier:
		// every ] inside is doubled, so none can close it early.
		inner := got[1 : len(got)-1]
		if strings.Count(inner, "]")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "]]", ""), "]") {
			t.Errorf("QuoteName(%q) = %q leaves a lone ]", in, got)
		}
	}
	for _, bad := range []string{"", strings.Repeat("n", 129), "a\x00b", "\xff"} {
		if _, err := servicebroker.QuoteName(bad); err == nil {
			t.Errorf("QuoteName(%q) accepted", bad)
		}
	}
	if got, err := servicebroker.QuoteQualified("ooda", "ObserveQueue"); err != nil || got != "[ooda].[ObserveQueue]" {
		t.Errorf("QuoteQualified: %q %v", got, err)
	}
}

// TestHandleRoundTrip: a handle read from RECEIVE and passed back as a
// parameter must name the same conversation, although the wire order of a
// uniqueidentifier differs from its textual order.
func TestHandleRoundTrip(t *testing.T) {
	t.Parallel()
	id, _ := broker.ParseID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
	u := servicebroker.Handle(id)
	if !strings.EqualFold(u.String(), id.String()) {
		t.Fatalf("text: %s vs %s", u, id)
	}
	wire, err := u.Value()
	if err != nil {
		t.Fatal(err)
	}
	b := wire.([]byte)
	// The first three groups travel little-endian: ff 19 96 6f, 86 8b, 11 d0.
	if fmt.Sprintf("% x", b[:8]) != "ff 19 96 6f 86 8b 11 d0" {
		t.Fatalf("wire order: % x", b)
	}
	var back mssql.UniqueIdentifier
	if err := back.Scan(b); err != nil || servicebroker.ID(back) != id {
		t.Fatalf("round trip: %s %v", servicebroker.ID(back), err)
	}
}
