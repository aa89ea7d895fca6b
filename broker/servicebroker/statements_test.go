package servicebroker

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
	"github.com/hartonomous/ooda/ooda"
)

func render(stmts []labeled) string {
	var b strings.Builder
	for _, s := range stmts {
		b.WriteString("-- " + s.label + "\n" + s.text + "\n\n")
	}
	return b.String()
}

// TestStatementsGolden: every statement the package sends for the loop's
// topology, so that a change to any of them shows in review.
func TestStatementsGolden(t *testing.T) {
	t.Parallel()
	s, err := newStatements(ooda.Topology())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "statements_ooda.sql", render(s.all()))
}

// TestStatementsCarryNoValues: apart from bracket-quoted names, every
// statement is fixed text whose inputs are @parameters; no string literal
// appears in any of them.
func TestStatementsCarryNoValues(t *testing.T) {
	t.Parallel()
	hostile := broker.Topology{
		MessageTypes: []string{"//x/Type'; DROP TABLE t; --", "]'"},
		Contracts:    []broker.Contract{{Name: "c'] --", Messages: map[string]broker.SentBy{"]'": broker.SentByAny}}},
		Queues:       []string{"s'x.q]'; --"},
		Services:     []broker.Service{{Name: "svc' --", Queue: "s'x.q]'; --", Contracts: []string{"c'] --"}}},
	}
	s, err := newStatements(hostile)
	if err != nil {
		t.Fatal(err)
	}
	brackets := regexp.MustCompile(`\[(?:[^\]]|\]\])*\]`)
	for _, st := range s.all() {
		rest := brackets.ReplaceAllString(st.text, "[]")
		if strings.ContainsAny(rest, "'") || strings.Contains(rest, "--") || strings.Contains(rest, "DROP") {
			t.Errorf("%s: text outside quoted names: %s", st.label, rest)
		}
	}
	q := s.queues["s'x.q]'; --"]
	if q.name.schema != "s'x" || q.name.object != "q]'; --" || q.name.quoted != "[s'x].[q]]'; --]" {
		t.Fatalf("queue name parts: %+v", q.name)
	}
}

func TestParseQueueName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][3]string{
		"ooda.ObserveQueue": {"ooda", "ObserveQueue", "[ooda].[ObserveQueue]"},
		"TestTargetQueue":   {"dbo", "TestTargetQueue", "[dbo].[TestTargetQueue]"},
		"a.b.c":             {"a", "b.c", "[a].[b.c]"},
	} {
		n, err := parseQueueName(in)
		if err != nil || [3]string{n.schema, n.object, n.quoted} != want || n.topology != in {
			t.Errorf("parseQueueName(%q) = %+v, %v; want %v", in, n, err, want)
		}
	}
	for _, bad := range []string{".q", "s.", ""} {
		if _, err := parseQueueName(bad); err == nil {
			t.Errorf("parseQueueName(%q) accepted", bad)
		}
	}
}

func TestReceiveWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		wait   time.Duration
		dl     time.Time
		ms     int32
		waitOK bool
	}{
		{"NoWait", 0, time.Time{}, 0, false},
		{"Millis", 50 * time.Millisecond, time.Time{}, 50, true},
		{"RoundsToNearest", 1499 * time.Microsecond, time.Time{}, 1, true},
		{"RoundsUpHalf", 1500 * time.Microsecond, time.Time{}, 2, true},
		{"SubMillisecondStillWaits", 10 * time.Microsecond, time.Time{}, 1, true},
		{"CappedAtInt", 1000 * time.Hour, time.Time{}, math.MaxInt32, true},
		// The server's wait ends a margin before the caller's deadline, so
		// that the deadline never has to interrupt it.
		{"ClampedByDeadline", time.Hour, now.Add(10 * time.Second), 9000, true},
		{"DeadlineLeavesRoom", 5 * time.Second, now.Add(60 * time.Second), 5000, true},
		{"DeadlineTooClose", time.Hour, now.Add(receiveMargin / 2), 0, false},
	} {
		ms, ok := receiveWait(c.wait, c.dl, now)
		if ms != c.ms || ok != c.waitOK {
			t.Errorf("%s: receiveWait(%s) = %d, %v; want %d, %v", c.name, c.wait, ms, ok, c.ms, c.waitOK)
		}
	}
}

func TestTimerSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int32{
		time.Nanosecond:         1, // a sub-second timer fires after 1 s, never earlier than asked
		50 * time.Millisecond:   1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		time.Hour:               3600,
		math.MaxInt64:           math.MaxInt32,
	} {
		if got := timerSeconds(d); got != want {
			t.Errorf("timerSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

// TestCompareCatalog: each object the database lacks or holds differently
// is one error naming it and the fix.
func TestCompareCatalog(t *testing.T) {
	t.Parallel()
	topo := brokertest.Topology()
	full := func() *catalog {
		cat := &catalog{messageTypes: map[string]bool{}, contracts: map[string]map[string]broker.SentBy{},
			queues: map[[2]string]bool{}, services: map[string]catalogService{}}
		for _, m := range topo.MessageTypes {
			cat.messageTypes[m] = true
		}
		for _, c := range topo.Contracts {
			cat.contracts[c.Name] = map[string]broker.SentBy{}
			for m, by := range c.Messages {
				cat.contracts[c.Name][m] = by
			}
		}
		for _, q := range topo.Queues {
			cat.queues[[2]string{"dbo", q}] = true
		}
		for _, s := range topo.Services {
			cat.services[s.Name] = catalogService{queue: [2]string{"dbo", s.Queue}, contracts: append([]string(nil), s.Contracts...)}
		}
		return cat
	}
	if errs := compareCatalog(topo, full()); len(errs) != 0 {
		t.Fatalf("complete catalog: %v", errs)
	}
	cat := full()
	delete(cat.messageTypes, brokertest.TypeAny)
	cat.contracts[brokertest.ContractName][brokertest.TypeReply] = broker.SentByAny
	delete(cat.queues, [2]string{"dbo", brokertest.OtherQueue})
	cat.services[brokertest.Target] = catalogService{queue: [2]string{"dbo", brokertest.OtherQueue}}
	delete(cat.services, brokertest.Initiator)
	errs := compareCatalog(topo, cat)
	for _, want := range []string{
		`message type "` + brokertest.TypeAny + `" does not exist`,
		`message type "` + brokertest.TypeReply + `" is SENT BY ANY, want TARGET`,
		`queue [dbo].[` + brokertest.OtherQueue + `] does not exist`,
		`service "` + brokertest.Target + `" is on queue [dbo].[` + brokertest.OtherQueue + `], want [dbo].[` + brokertest.TargetQueue + `]`,
		`service "` + brokertest.Target + `" does not accept contract "` + brokertest.ContractName + `"`,
		`service "` + brokertest.Initiator + `" does not exist`,
	} {
		found := false
		for _, err := range errs {
			if strings.Contains(err.Error(), want) {
				found = true
				if !errors.Is(err, ErrTopologyMismatch) || !strings.Contains(err.Error(), "oodad migrate") {
					t.Errorf("%v: want ErrTopologyMismatch and the fix", err)
				}
			}
		}
		if !found {
			t.Errorf("no error says %s; got %v", want, errs)
		}
	}
	if len(errs) != 6 {
		t.Errorf("%d errors, want 6: %v", len(errs), errs)
	}
}
