package broker_test

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/hartonomous/ooda/broker"
)

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	server := `<?xml version="1.0" encoding="utf-16"?><Error xmlns="http://schemas.microsoft.com/SQL/ServiceBroker/Error"><Code>-8490</Code><Description>Cannot find the remote service &apos;x&apos;.</Description></Error>`
	docPage := `<Error xmlns="https://schemas.microsoft.com/SQL/ServiceBroker"><Code>12</Code><Message>peer said no</Message></Error>`
	cases := []struct {
		name    string
		body    []byte
		code    int
		desc    string
		wantErr string
	}{
		{"UTF16WithBOM", utf16le(server, true), -8490, "Cannot find the remote service 'x'.", ""},
		{"UTF16NoBOM", utf16le(server, false), -8490, "Cannot find the remote service 'x'.", ""},
		{"UTF8", []byte(server), -8490, "Cannot find the remote service 'x'.", ""},
		{"OtherNamespaceAndMessageElement", []byte(docPage), 12, "peer said no", ""},
		{"RoundTrip", broker.ErrorBody(42, `a <b> & "c"`), 42, `a <b> & "c"`, ""},
		{"NoCode", []byte(`<Error><Description>x</Description></Error>`), 0, "", "no <Error><Code>"},
		{"BadCode", []byte(`<Error><Code>abc</Code></Error>`), 0, "", `code "abc" is not a number`},
		{"NotXML", []byte(`{"json":true}`), 0, "", "error message body"},
		{"Truncated", []byte(`<Error><Code>1</Co`), 0, "", "error message body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, desc, err := broker.ParseErrorBody(c.body)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != c.code || desc != c.desc {
				t.Fatalf("got (%d, %q), want (%d, %q)", code, desc, c.code, c.desc)
			}
		})
	}
}

func TestIDRoundTrip(t *testing.T) {
	t.Parallel()
	for range 100 {
		id := broker.NewID()
		got, err := broker.ParseID(id.String())
		if err != nil || got != id {
			t.Fatalf("ParseID(%s) = %v, %v", id, got, err)
		}
		if got, err := broker.ParseID("{" + strings.ToUpper(id.String()) + "}"); err != nil || got != id {
			t.Fatalf("braced upper case: %v, %v", got, err)
		}
	}
	if a, b := broker.NewID(), broker.NewID(); a == b || a.IsZero() {
		t.Fatal("NewID repeats or is zero")
	}
	for _, bad := range []string{"", "xyz", "00000000-0000-0000-0000-00000000000g", "0000000000000000000000000000000000000"} {
		if _, err := broker.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestTopologyValidate(t *testing.T) {
	t.Parallel()
	good := broker.Topology{
		MessageTypes: []string{"m"},
		Contracts:    []broker.Contract{{Name: "c", Messages: map[string]broker.SentBy{"m": broker.SentByAny}}},
		Queues:       []string{"q"},
		Services:     []broker.Service{{Name: "s", Queue: "q", Contracts: []string{"c"}}},
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Services = []broker.Service{{Name: "s", Queue: "nope"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown queue: %v", err)
	}
	bad = good
	bad.Contracts = []broker.Contract{{Name: "c", Messages: map[string]broker.SentBy{"zzz": broker.SentByAny}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `"zzz"`) {
		t.Fatalf("unknown message type: %v", err)
	}
}
