// Command oodactl operates the OODA daemon over its NATS control service:
// trigger cycles and follow them, read history, pause and resume the loop.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

const usage = `oodactl — operate the Hartonomous OODA daemon

Usage:
  oodactl [global flags] <command> [flags]

Commands:
  trigger [--reason R] [--key K] [--wait]   start a cycle; --wait follows it stage by stage
  status                                    loop, queues, outbox, NATS
  cycles [--limit N]                        recent cycles, newest first
  show [--json] CYCLE                       one cycle: steps, actions, results; --json prints the
                                            cycle's observation in the format whatif reads
  pause [--reason R]                        kill switch on: no action runs
  resume [--reason R]                       kill switch off
  deadletters [--limit N]                   messages the loop gave up on, with why
  redrive ID                                send a dead letter back to its queue
  approvals [--limit N]                     decisions waiting for an operator, pending first
  approve ID --reason R                     run a pending decision (recorded with who and why)
  reject ID --reason R                      close a pending decision without running it
  events [--last N] [--follow]              the last N events (from the JetStream stream); --follow keeps printing new ones
  policy                                    the effective policy, every field with its value
  whatif --observation FILE.json            run Orient and Decide on a recorded observation with the
                                            current policy; print hypotheses and decisions; change nothing

Global flags:
  --nats URL     control service address (default $OODA_NATS_URL, else nats://127.0.0.1:4222)
  --json         print JSON instead of tables
  --timeout D    how long to wait for the daemon to answer (default 10s)
`

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var e exitError
		if errors.As(err, &e) {
			code = e.code
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "oodactl:", err)
		} else {
			code = 2
		}
		os.Exit(code)
	}
}

type client struct {
	nc      *nats.Conn
	timeout time.Duration
	json    bool
	out     io.Writer
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("oodactl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	def := getenv("OODA_NATS_URL")
	if def == "" || def == "none" {
		def = "nats://127.0.0.1:4222"
	}
	url := fs.String("nats", def, "")
	asJSON := fs.Bool("json", false, "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2, errors.New("no command given")}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	known := map[string]bool{"trigger": true, "status": true, "cycles": true, "show": true, "pause": true, "resume": true, "deadletters": true, "events": true,
		"redrive": true, "approvals": true, "approve": true, "reject": true, "policy": true, "whatif": true}
	if cmd == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if !known[cmd] {
		fmt.Fprint(stderr, usage)
		return exitError{2, fmt.Errorf("unknown command %q", cmd)}
	}
	nc, err := nats.Connect(*url, nats.Name("oodactl"), nats.Timeout(*timeout))
	if err != nil {
		return fmt.Errorf("cannot reach NATS at %s (is oodad running? set --nats or OODA_NATS_URL): %w", *url, err)
	}
	defer nc.Close()
	c := &client{nc: nc, timeout: *timeout, json: *asJSON, out: stdout}
	switch cmd {
	case "trigger":
		return c.trigger(ctx, rest, stderr)
	case "status":
		return c.simple("status", nil, c.printStatus)
	case "cycles":
		sub := flag.NewFlagSet("cycles", flag.ContinueOnError)
		sub.SetOutput(stderr)
		limit := sub.Int("limit", 20, "how many cycles")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return c.simple("cycles", map[string]int{"limit": *limit}, c.printCycles)
	case "show":
		sub := flag.NewFlagSet("show", flag.ContinueOnError)
		sub.SetOutput(stderr)
		obsOnly := sub.Bool("json", false, "print the cycle's observation as JSON, the format oodactl whatif --observation reads")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if sub.NArg() != 1 {
			return exitError{2, errors.New("show needs one cycle id: oodactl show [--json] CYCLE")}
		}
		if *obsOnly {
			data, err := c.request("cycle", map[string]string{"id": sub.Arg(0)})
			if err != nil {
				return err
			}
			return printObservation(c.out, sub.Arg(0), data)
		}
		return c.simple("cycle", map[string]string{"id": sub.Arg(0)}, c.printCycle)
	case "policy":
		data, err := c.request("policy", nil)
		if err != nil {
			return err
		}
		return printIndented(c.out, data)
	case "whatif":
		sub := flag.NewFlagSet("whatif", flag.ContinueOnError)
		sub.SetOutput(stderr)
		file := sub.String("observation", "", "an observation as JSON (oodactl show --json CYCLE prints one; see ooda/observation.schema.json)")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if *file == "" || sub.NArg() > 0 {
			return exitError{2, errors.New("whatif needs --observation FILE.json (and nothing else)")}
		}
		raw, err := os.ReadFile(*file)
		if err != nil {
			return exitError{2, fmt.Errorf("whatif: %w", err)}
		}
		if !json.Valid(raw) {
			return exitError{2, fmt.Errorf("whatif: %s is not valid JSON", *file)}
		}
		data, err := c.request("whatif", map[string]json.RawMessage{"observation": raw})
		if err != nil {
			return err
		}
		return printIndented(c.out, data)
	case "pause", "resume":
		sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
		sub.SetOutput(stderr)
		reason := sub.String("reason", "", "why (recorded and published)")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return c.simple(cmd, map[string]string{"by": who(getenv), "reason": *reason}, func(b []byte) error {
			fmt.Fprintf(c.out, "loop %sd\n", cmd)
			return nil
		})
	case "deadletters":
		sub := flag.NewFlagSet("deadletters", flag.ContinueOnError)
		sub.SetOutput(stderr)
		limit := sub.Int("limit", 20, "how many")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return c.simple("deadletters", map[string]int{"limit": *limit}, c.printDeadLetters)
	case "redrive":
		if len(rest) != 1 {
			return exitError{2, errors.New("redrive needs one dead-letter id: oodactl redrive ID")}
		}
		var id int64
		if _, err := fmt.Sscan(rest[0], &id); err != nil {
			return exitError{2, fmt.Errorf("redrive: %q is not a dead-letter id (a number, see oodactl deadletters)", rest[0])}
		}
		return c.simple("redrive", map[string]any{"id": id, "by": who(getenv)}, func([]byte) error {
			fmt.Fprintf(c.out, "dead letter %d sent back to its queue\n", id)
			return nil
		})
	case "approvals":
		sub := flag.NewFlagSet("approvals", flag.ContinueOnError)
		sub.SetOutput(stderr)
		limit := sub.Int("limit", 20, "how many")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return c.simple("approvals", map[string]int{"limit": *limit}, c.printApprovals)
	case "approve", "reject":
		sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
		sub.SetOutput(stderr)
		reason := sub.String("reason", "", "why (required; recorded with the decision)")
		// The id may come before or after the flags.
		var id string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			id, rest = rest[0], rest[1:]
		}
		if err := sub.Parse(rest); err != nil {
			return err
		}
		if id == "" && sub.NArg() == 1 {
			id = sub.Arg(0)
		}
		if id == "" || strings.TrimSpace(*reason) == "" {
			return exitError{2, fmt.Errorf("%s needs an approval id and a reason: oodactl %s ID --reason \"why\"", cmd, cmd)}
		}
		return c.simple(cmd, map[string]string{"id": id, "by": who(getenv), "reason": *reason}, func([]byte) error {
			fmt.Fprintf(c.out, "approval %s %s\n", id, map[string]string{"approve": "approved: the action runs now", "reject": "rejected"}[cmd])
			return nil
		})
	case "events":
		sub := flag.NewFlagSet("events", flag.ContinueOnError)
		sub.SetOutput(stderr)
		last := sub.Int("last", 20, "how many past events to print first")
		follow := sub.Bool("follow", false, "keep printing new events until interrupted")
		count := sub.Int("count", 0, "with --follow: stop after N new events (0: until interrupted)")
		if err := sub.Parse(rest); err != nil {
			return err
		}
		return c.events(ctx, *last, *follow, *count)
	}
	return nil
}

// printObservation prints the observation recorded by a cycle's observe
// step: exactly what whatif --observation reads.
func printObservation(w io.Writer, id string, cycle []byte) error {
	var d struct {
		Steps []struct {
			Stage   string          `json:"stage"`
			Payload json.RawMessage `json:"payload"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(cycle, &d); err != nil {
		return err
	}
	for _, s := range d.Steps {
		if s.Stage == "observe" {
			return printIndented(w, s.Payload)
		}
	}
	return exitError{1, fmt.Errorf("cycle %s has no observation yet (it has not passed its observe stage)", id)}
}

func printIndented(w io.Writer, data []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}

func who(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	return "oodactl"
}

// request calls a control endpoint and returns its JSON answer; a service
// error comes back as an error with the daemon's message.
func (c *client) request(endpoint string, body any) ([]byte, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	msg, err := c.nc.Request("hartonomous.ooda.ctl."+endpoint, data, c.timeout)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, errors.New("no OODA daemon answers on this NATS server (is oodad running, with NATS on?)")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, exitError{1, fmt.Errorf("%s: %s", endpoint, msg.Header.Get(micro.ErrorHeader))}
	}
	return msg.Data, nil
}

func (c *client) simple(endpoint string, body any, print func([]byte) error) error {
	data, err := c.request(endpoint, body)
	if err != nil {
		return err
	}
	if c.json {
		_, err := fmt.Fprintln(c.out, string(data))
		return err
	}
	return print(data)
}

func (c *client) trigger(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reason := fs.String("reason", "manual trigger", "why (recorded and published)")
	key := fs.String("key", "", "idempotency key: a second trigger with it starts nothing while the first runs")
	wait := fs.Bool("wait", false, "follow the cycle stage by stage; exit 0 only if it completes")
	waitFor := fs.Duration("wait-timeout", 10*time.Minute, "give up following after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var events chan *nats.Msg
	if *wait {
		// Subscribe before triggering so that no event of the cycle is missed.
		events = make(chan *nats.Msg, 256)
		sub, err := c.nc.ChanSubscribe("hartonomous.ooda.evt.>", events)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		if err := c.nc.Flush(); err != nil {
			return err
		}
	}
	data, err := c.request("trigger", map[string]string{"reason": *reason, "key": *key})
	if err != nil {
		return err
	}
	var res struct {
		CycleID string `json:"cycle_id"`
		Started bool   `json:"started"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("trigger: unexpected answer %q", data)
	}
	if c.json {
		fmt.Fprintln(c.out, string(data))
	} else if res.Started {
		fmt.Fprintf(c.out, "cycle %s started\n", res.CycleID)
	} else {
		fmt.Fprintf(c.out, "cycle %s is already running with key %q; nothing new started\n", res.CycleID, *key)
	}
	if !*wait {
		return nil
	}
	deadline := time.After(*waitFor)
	for {
		select {
		case <-ctx.Done():
			return exitError{130, errors.New("interrupted; the cycle goes on in the daemon")}
		case <-deadline:
			return exitError{1, fmt.Errorf("cycle %s did not finish within %s", res.CycleID, *waitFor)}
		case m := <-events:
			if m.Header.Get("ce-subject") != res.CycleID {
				continue
			}
			kind := strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt.")
			if c.json {
				fmt.Fprintf(c.out, "{\"kind\":%q,\"data\":%s}\n", kind, m.Data)
			} else {
				fmt.Fprintf(c.out, "%s  %-18s %s\n", m.Header.Get("ce-time"), kind, summarize(kind, m.Data))
			}
			switch kind {
			case "cycle.completed":
				return nil
			case "cycle.failed":
				return exitError{1, fmt.Errorf("cycle %s failed", res.CycleID)}
			}
		}
	}
}

// summarize turns an event into one human line.
func summarize(kind string, data []byte) string {
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	switch kind {
	case "observation":
		if o, ok := m["observation"].(map[string]any); ok {
			rs, _ := o["readings"].([]any)
			return fmt.Sprintf("%d readings of %v", len(rs), o["target"])
		}
	case "orientation":
		hs, _ := m["hypotheses"].([]any)
		return fmt.Sprintf("%d hypotheses", len(hs))
	case "decision":
		ds, _ := m["decisions"].([]any)
		return fmt.Sprintf("%d decisions", len(ds))
	case "action":
		return fmt.Sprintf("%v %v: %v (%v)", m["type"], m["target"], m["status"], m["detail"])
	case "cycle.failed":
		return fmt.Sprint(m["error"])
	case "cycle.started":
		return fmt.Sprint(m["reason"])
	}
	return ""
}

func (c *client) printEvent(m *nats.Msg) {
	kind := strings.TrimPrefix(m.Subject, "hartonomous.ooda.evt.")
	if c.json {
		fmt.Fprintf(c.out, "{\"kind\":%q,\"id\":%q,\"cycle_id\":%q,\"data\":%s}\n", kind, m.Header.Get("ce-id"), m.Header.Get("ce-subject"), m.Data)
		return
	}
	fmt.Fprintf(c.out, "%s  %-18s %-36s %s\n", m.Header.Get("ce-time"), kind, m.Header.Get("ce-subject"), summarize(kind, m.Data))
}

// events prints the last events kept in the JetStream stream, then, with
// follow, new ones as they come (subscribed first, so none falls between).
func (c *client) events(ctx context.Context, last int, follow bool, count int) error {
	var live chan *nats.Msg
	if follow {
		live = make(chan *nats.Msg, 256)
		sub, err := c.nc.ChanSubscribe("hartonomous.ooda.evt.>", live)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
	}
	printed := map[string]bool{}
	if last > 0 {
		js, err := jetstream.New(c.nc)
		if err != nil {
			return err
		}
		jctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		stream, err := js.Stream(jctx, "HARTONOMOUS_OODA")
		if err != nil && !follow {
			return fmt.Errorf("no event stream HARTONOMOUS_OODA on this NATS server (%v); use --follow to watch live events", err)
		}
		if err == nil {
			info, err := stream.Info(jctx)
			if err != nil {
				return err
			}
			first := info.State.FirstSeq
			if info.State.LastSeq >= uint64(last) && info.State.LastSeq-uint64(last)+1 > first {
				first = info.State.LastSeq - uint64(last) + 1
			}
			for seq := first; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
				m, err := stream.GetMsg(jctx, seq)
				if err != nil {
					continue // deleted by the stream's limits
				}
				msg := &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
				printed[msg.Header.Get("ce-id")] = true
				c.printEvent(msg)
			}
		}
	}
	for n := 0; follow && (count == 0 || n < count); {
		select {
		case <-ctx.Done():
			return nil
		case m := <-live:
			if printed[m.Header.Get("ce-id")] {
				continue
			}
			c.printEvent(m)
			n++
		}
	}
	return nil
}

func (c *client) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (c *client) printStatus(b []byte) error {
	var s struct {
		Version, Uptime, NATS string
		Paused                bool
		OutboxDepth           int64 `json:"outbox_depth"`
		Queues                []struct {
			Name                 string
			ReceiveEnabled       bool
			ConsecutiveRollbacks int
			Depth                int64
			OldestAgeSeconds     float64 `json:"oldest_age_seconds"`
		}
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "oodad %s, up %s, paused %v, NATS %s, outbox %d\n\n", s.Version, s.Uptime, s.Paused, s.NATS, s.OutboxDepth)
	var rows [][]string
	for _, q := range s.Queues {
		rows = append(rows, []string{q.Name, fmt.Sprint(q.ReceiveEnabled), fmt.Sprint(q.Depth), fmt.Sprintf("%.0fs", q.OldestAgeSeconds), fmt.Sprint(q.ConsecutiveRollbacks)})
	}
	return c.table("QUEUE\tENABLED\tDEPTH\tOLDEST\tROLLBACKS", rows)
}

type cycleRow struct {
	ID, Source, Reason, Status, Stage, Error string
	StartedAt                                time.Time  `json:"started_at"`
	FinishedAt                               *time.Time `json:"finished_at"`
}

func (r cycleRow) row() []string {
	took := "-"
	if r.FinishedAt != nil {
		took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	return []string{r.ID, r.StartedAt.Local().Format(time.DateTime), r.Status, r.Stage, took, r.Source, r.Reason}
}

func (c *client) printCycles(b []byte) error {
	var cs []cycleRow
	if err := json.Unmarshal(b, &cs); err != nil {
		return err
	}
	var rows [][]string
	for _, r := range cs {
		rows = append(rows, r.row())
	}
	return c.table("CYCLE\tSTARTED\tSTATUS\tSTAGE\tTOOK\tSOURCE\tREASON", rows)
}

func (c *client) printCycle(b []byte) error {
	var d struct {
		cycleRow
		Steps []struct {
			Stage   string
			Payload json.RawMessage
		}
		Actions []struct{ ID, Type, Target, Status, Detail, Result string }
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "cycle   %s\nstatus  %s (last stage %s)\nsource  %s: %s\n", d.ID, d.Status, d.Stage, d.Source, d.Reason)
	if d.Error != "" {
		fmt.Fprintf(c.out, "error   %s\n", d.Error)
	}
	fmt.Fprintln(c.out, "\nSTEPS")
	for _, s := range d.Steps {
		fmt.Fprintf(c.out, "  %-8s %s\n", s.Stage, s.Payload)
	}
	fmt.Fprintln(c.out, "\nACTIONS")
	var rows [][]string
	for _, a := range d.Actions {
		result := a.Result
		if result == "" {
			result = "-"
		}
		rows = append(rows, []string{"  " + a.Type, a.Target, a.Status, result, a.Detail})
	}
	return c.table("  TYPE\tOBJECT\tSTATUS\tRESULT\tDETAIL", rows)
}

func (c *client) printDeadLetters(b []byte) error {
	var ds []struct {
		ID            int64
		Queue, Reason string
		MessageType   string `json:"message_type"`
		Attempts      int
		CreatedAt     time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(b, &ds); err != nil {
		return err
	}
	var rows [][]string
	for _, d := range ds {
		rows = append(rows, []string{fmt.Sprint(d.ID), d.CreatedAt.Local().Format(time.DateTime), d.Queue, fmt.Sprint(d.Attempts), d.Reason})
	}
	return c.table("ID\tAT\tQUEUE\tATTEMPTS\tREASON", rows)
}

func (c *client) printApprovals(b []byte) error {
	var as []struct {
		ID, Action, Object, Status, Reason string
		Tier                               int
		DecidedBy                          string    `json:"decided_by"`
		ExpiresAt                          time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &as); err != nil {
		return err
	}
	var rows [][]string
	for _, a := range as {
		rows = append(rows, []string{a.ID, a.Status, a.Action, a.Object, fmt.Sprint(a.Tier), a.ExpiresAt.Local().Format(time.DateTime), a.DecidedBy, a.Reason})
	}
	return c.table("ID\tSTATUS\tACTION\tOBJECT\tTIER\tEXPIRES\tDECIDED BY\tWHY", rows)
}
