package servicebroker

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

func utf16LE(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestDecodeRow(t *testing.T) {
	t.Parallel()
	group, _ := broker.ParseID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
	handle := broker.NewID()
	enq := time.Date(2026, 12, 4, 10, 11, 12, 0, time.UTC)
	row := func(msgType string, body []byte) *receivedRow {
		return &receivedRow{
			Group: Handle(group), Handle: Handle(handle), Sequence: 7, Type: msgType,
			Service:  sql.NullString{String: "//Hartonomous/Test/Target", Valid: true},
			Contract: sql.NullString{String: "//Hartonomous/Test/Contract", Valid: true},
			Body:     body, Enqueued: sql.NullTime{Time: enq, Valid: true},
		}
	}

	t.Run("Application", func(t *testing.T) {
		t.Parallel()
		m := decodeRow("ooda.ObserveQueue", row("//Hartonomous/Test/Request", []byte("hello")))
		want := broker.Message{Queue: "ooda.ObserveQueue", Service: "//Hartonomous/Test/Target", Contract: "//Hartonomous/Test/Contract",
			ConversationGroup: group, Conversation: handle, Sequence: 7, Type: "//Hartonomous/Test/Request", Body: []byte("hello"), EnqueuedAt: enq}
		if m.Queue != want.Queue || m.Service != want.Service || m.Contract != want.Contract || m.ConversationGroup != want.ConversationGroup ||
			m.Conversation != want.Conversation || m.Sequence != want.Sequence || m.Type != want.Type || !bytes.Equal(m.Body, want.Body) || !m.EnqueuedAt.Equal(enq) {
			t.Fatalf("got %+v\nwant %+v", m, want)
		}
	})
	t.Run("NullBodyIsEmpty", func(t *testing.T) {
		t.Parallel()
		// EndDialog and DialogTimer come with a NULL body; callers see an
		// empty, non-nil one (as from the embedded engine).
		m := decodeRow("q", row(broker.MessageTypeEndDialog, nil))
		if m.Body == nil || len(m.Body) != 0 {
			t.Fatalf("body = %#v, want empty non-nil", m.Body)
		}
	})
	t.Run("UTF16ErrorBody", func(t *testing.T) {
		t.Parallel()
		xml := `<?xml version="1.0" encoding="utf-16"?><Error xmlns="http://schemas.microsoft.com/SQL/ServiceBroker/Error"><Code>-8490</Code><Description>Cannot find the remote service 'x' because it does not exist.</Description></Error>`
		for _, bom := range []bool{true, false} {
			body := utf16LE(xml, bom)
			m := decodeRow("q", row(broker.MessageTypeError, body))
			if !bytes.Equal(m.Body, body) {
				t.Fatalf("bom=%v: body changed in decoding", bom)
			}
			code, desc, err := broker.ParseErrorBody(m.Body)
			if err != nil || code != -8490 || !strings.Contains(desc, "remote service 'x'") {
				t.Fatalf("bom=%v: ParseErrorBody = %d %q %v", bom, code, desc, err)
			}
		}
	})
	t.Run("NullNamesAndTime", func(t *testing.T) {
		t.Parallel()
		r := row(broker.MessageTypeDialogTimer, nil)
		r.Service, r.Contract, r.Enqueued = sql.NullString{}, sql.NullString{}, sql.NullTime{}
		m := decodeRow("q", r)
		if m.Service != "" || m.Contract != "" || !m.EnqueuedAt.IsZero() {
			t.Fatalf("got %+v", m)
		}
	})
}

// TestReceiveColumns: the scan destinations match the columns named, and
// the validation column (nchar(2), space-padded) is not read.
func TestReceiveColumns(t *testing.T) {
	t.Parallel()
	cols := strings.Split(receiveColumns, ", ")
	var r receivedRow
	if len(cols) != len(r.dest()) {
		t.Fatalf("%d columns, %d scan destinations", len(cols), len(r.dest()))
	}
	for _, c := range cols {
		if c == "validation" || c == "status" || c == "*" {
			t.Fatalf("RECEIVE reads %q", c)
		}
	}
	if _, ok := r.dest()[0].(*mssql.UniqueIdentifier); !ok {
		t.Fatal("conversation_group_id must scan into mssql.UniqueIdentifier (textual byte order)")
	}
	if _, ok := r.dest()[1].(*mssql.UniqueIdentifier); !ok {
		t.Fatal("conversation_handle must scan into mssql.UniqueIdentifier (textual byte order)")
	}
}

// TestScanHandleFromWire: a handle as the driver hands it over (wire byte
// order) scans into the ID that prints the same as on the server.
func TestScanHandleFromWire(t *testing.T) {
	t.Parallel()
	wire := []byte{0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff}
	var r receivedRow
	if err := r.dest()[1].(*mssql.UniqueIdentifier).Scan(wire); err != nil {
		t.Fatal(err)
	}
	if got := decodeRow("q", &r).Conversation.String(); got != "6f9619ff-8b86-d011-b42d-00c04fc964ff" {
		t.Fatalf("handle = %s", got)
	}
}
