package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/brokertest"
	"github.com/hartonomous/ooda/broker/embedded"
)

// The test binary doubles as the child process of the crash tests: with
// OODA_EMBEDDED_CHILD set it runs that role instead of the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv("OODA_EMBEDDED_CHILD"); role != "" {
		if err := runChild(role, os.Getenv("OODA_EMBEDDED_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func runChild(role, dir string) error {
	ctx := context.Background()
	b, err := embedded.Open(ctx, embedded.Options{Dir: dir, Topology: brokertest.Topology()})
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	switch role {
	case "hold": // hold the data directory until killed
		say("ready")
		select {}
	case "hold-receive": // receive one message and never finish the transaction
		tx, err := b.Begin(ctx)
		if err != nil {
			return err
		}
		msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 1, Wait: 10 * time.Second})
		if err != nil || len(msgs) != 1 {
			return fmt.Errorf("receive: %d messages, %v", len(msgs), err)
		}
		say("received")
		select {}
	case "work": // send and receive forever, reporting each commit after it returns
		var h broker.ID
		tx, err := b.Begin(ctx)
		if err != nil {
			return err
		}
		if h, err = tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: brokertest.Target, Contract: brokertest.ContractName}); err != nil {
			return err
		}
		if err := tx.BeginTimer(ctx, h, 1500*time.Millisecond); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		say("timer %s", h)
		for i := 0; ; i++ {
			tx, err := b.Begin(ctx)
			if err != nil {
				return err
			}
			body := fmt.Sprintf("%s-%06d", h, i)
			if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: []byte(body)}); err != nil {
				return err
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			say("sent %s", body)
			if i%2 == 1 {
				tx, err := b.Begin(ctx)
				if err != nil {
					return err
				}
				msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 3})
				if err != nil {
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				for _, m := range msgs {
					say("recv %s", m.Body)
				}
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// child starts the test binary in a role and returns it with its stdout.
func child(t *testing.T, role, dir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OODA_EMBEDDED_CHILD="+role, "OODA_EMBEDDED_DIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child stderr: %s", stderr.String())
		}
	})
	return cmd, bufio.NewScanner(stdout)
}

func expectLine(t *testing.T, sc *bufio.Scanner, want string) {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("child ended before saying %q: %v", want, sc.Err())
	}
	if sc.Text() != want {
		t.Fatalf("child said %q, want %q", sc.Text(), want)
	}
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func TestSecondProcessOnSameDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd, out := child(t, "hold", dir)
	expectLine(t, out, "ready")
	_, err := embedded.Open(context.Background(), embedded.Options{Dir: dir, Topology: brokertest.Topology()})
	if !errors.Is(err, embedded.ErrLocked) {
		t.Fatalf("open while another process holds %s: %v", dir, err)
	}
	for _, want := range []string{dir, "process " + strconv.Itoa(cmd.Process.Pid), "oodad.lock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// The holder dies without cleaning up; its lock file does not block a restart.
	kill9(t, cmd)
	openAt(t, dir)
}

func TestCorruptDatabaseFileIsLeftUntouched(t *testing.T) {
	t.Parallel()
	for name, content := range map[string][]byte{
		"Garbage":   []byte("this is not a database, it is a grocery list\n"),
		"Truncated": []byte("SQLite for"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, embedded.DatabaseFile)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := embedded.Open(context.Background(), embedded.Options{Dir: dir, Topology: brokertest.Topology()})
			if !errors.Is(err, embedded.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("open: %v, want ErrCorrupt naming %s", err, path)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Fatalf("the file was changed to %q", got)
			}
			// And the lock was released: after moving the file aside, open works.
			if err := os.Rename(path, path+".bad"); err != nil {
				t.Fatal(err)
			}
			openAt(t, dir)
		})
	}
}

func TestUnreadableDatabasePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, embedded.DatabaseFile)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := embedded.Open(context.Background(), embedded.Options{Dir: dir, Topology: brokertest.Topology()})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("open with a directory where the database belongs: %v", err)
	}
}

func TestSchemaNewerThanBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openAt(t, dir)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, embedded.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = embedded.Open(context.Background(), embedded.Options{Dir: dir, Topology: brokertest.Topology()})
	if !errors.Is(err, embedded.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("open: %v, want ErrSchemaTooNew naming version 999", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	topo := brokertest.Topology()
	long := topo
	long.Queues = append([]string{strings.Repeat("q", 70)}, topo.Queues...)
	for _, c := range []struct {
		name string
		opts embedded.Options
		want string
	}{
		{"NoDir", embedded.Options{Topology: topo}, "Options.Dir"},
		{"SyncOff", embedded.Options{Dir: t.TempDir(), Topology: topo, Synchronous: "off"}, `Options.Synchronous: "OFF"`},
		{"NegativeBody", embedded.Options{Dir: t.TempDir(), Topology: topo, MaxBodyBytes: -1}, "Options.MaxBodyBytes: -1"},
		{"NegativeSize", embedded.Options{Dir: t.TempDir(), Topology: topo, MaxSizeBytes: -5}, "Options.MaxSizeBytes: -5"},
		{"LongQueueName", embedded.Options{Dir: t.TempDir(), Topology: long}, "longer than"},
		{"BadTopology", embedded.Options{Dir: t.TempDir(), Topology: broker.Topology{Services: []broker.Service{{Name: "s", Queue: "missing"}}}}, `"missing"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := embedded.Open(context.Background(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("open: %v, want an error naming %q", err, c.want)
			}
		})
	}
}

func TestStorageFullFailsCleanly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openAt(t, t.TempDir(), func(o *embedded.Options) { o.MaxSizeBytes = 512 << 10 })
	tx, _ := b.Begin(ctx)
	h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: brokertest.Target, Contract: brokertest.ContractName})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("z"), 16<<10)
	committed := 0
	var fullErr error
	for i := 0; i < 1000 && fullErr == nil; i++ {
		tx, _ := b.Begin(ctx)
		err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: body})
		if err == nil {
			err = tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: body})
		}
		if err != nil {
			fullErr = err
			_ = tx.Rollback()
			break
		}
		if err := tx.Commit(); err != nil {
			fullErr = err
			break
		}
		committed += 2
	}
	if !errors.Is(fullErr, broker.ErrStorageFull) || !strings.Contains(fullErr.Error(), "full") {
		t.Fatalf("filling a 512 KiB database: %v after %d messages, want ErrStorageFull", fullErr, committed)
	}
	if committed == 0 {
		t.Fatal("nothing fit before the limit")
	}
	// Every committed message is there, none of the failed transaction's.
	st, err := b.QueueStatus(ctx, brokertest.TargetQueue)
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != int64(committed) {
		t.Fatalf("queue depth %d, want the %d committed messages", st.Depth, committed)
	}
	// The engine keeps working: receiving frees space, and sending works again.
	for got := 0; got < committed; {
		tx, _ := b.Begin(ctx)
		msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("draining a full database: %v", err)
		}
		got += len(msgs)
	}
	tx, _ = b.Begin(ctx)
	if err := tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: body}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("sending after space was freed: %v", err)
	}
}

// TestKillNineLosesNothing kills a busy writer at arbitrary moments and
// checks, after each restart, that every commit it reported is there, that no
// message it reported received comes back, and that its timer still fires.
func TestKillNineLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sent, recv := map[string]bool{}, map[string]bool{}
	for round, after := range []int{17, 61, 143} {
		cmd, out := child(t, "work", dir)
		if !out.Scan() || !strings.HasPrefix(out.Text(), "timer ") {
			t.Fatalf("round %d: child did not start: %q", round, out.Text())
		}
		timerHandle, err := broker.ParseID(strings.TrimPrefix(out.Text(), "timer "))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for n < after && out.Scan() {
			kind, body, _ := strings.Cut(out.Text(), " ")
			switch kind {
			case "sent":
				sent[body] = true
				n++
			case "recv":
				recv[body] = true
			}
		}
		kill9(t, cmd)
		for out.Scan() { // lines written before the kill
			if kind, body, _ := strings.Cut(out.Text(), " "); kind == "recv" {
				recv[body] = true
			} else if kind == "sent" {
				sent[body] = true
			}
		}

		b := openAt(t, dir)
		ctx := context.Background()
		remaining := map[string]bool{}
		var timerFired bool
		deadline := time.Now().Add(30 * time.Second)
		for !timerFired && time.Now().Before(deadline) {
			tx, _ := b.Begin(ctx)
			msgs, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				msgs, err = tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.InitiatorQueue, Max: 10, Wait: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range msgs {
				if m.Type == broker.MessageTypeDialogTimer {
					if m.Conversation != timerHandle {
						t.Fatalf("round %d: a timer fired on %s, want %s", round, m.Conversation, timerHandle)
					}
					timerFired = true
					continue
				}
				body := string(m.Body)
				if remaining[body] || recv[body] {
					t.Fatalf("round %d: %s delivered twice", round, body)
				}
				remaining[body] = true
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if !timerFired {
			t.Fatalf("round %d: the timer armed before the kill never fired", round)
		}
		for body := range sent {
			if !remaining[body] && !recv[body] {
				t.Fatalf("round %d: %s was committed and is lost", round, body)
			}
		}
		// The one commit that may have landed without being reported.
		unreported := 0
		for body := range remaining {
			if !sent[body] {
				unreported++
				sent[body] = true
			}
		}
		if unreported > 1 {
			t.Fatalf("round %d: %d messages appeared that were never sent", round, unreported)
		}
		for body := range remaining {
			recv[body] = true
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashWhileReceivingCountsTowardPoison: a process that dies holding a
// received message counts as a rolled-back receive, as a dropped connection
// does on SQL Server; five such crashes disable the queue, so a message that
// kills its consumer every time cannot loop forever.
func TestCrashWhileReceivingCountsTowardPoison(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	b := openAt(t, dir)
	tx, _ := b.Begin(ctx)
	h, err := tx.BeginDialog(ctx, &broker.BeginDialogParams{From: brokertest.Initiator, To: brokertest.Target, Contract: brokertest.ContractName})
	if err == nil {
		err = tx.Send(ctx, &broker.SendParams{Conversation: h, MessageType: brokertest.TypeAny, Body: []byte("kills its consumer")})
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for crash := 1; crash <= broker.PoisonThreshold; crash++ {
		cmd, out := child(t, "hold-receive", dir)
		expectLine(t, out, "received")
		kill9(t, cmd)
		b := openAt(t, dir)
		st, err := b.QueueStatus(ctx, brokertest.TargetQueue)
		if err != nil {
			t.Fatal(err)
		}
		if st.ConsecutiveRollbacks != crash || st.Depth != 1 || st.ReceiveEnabled != (crash < broker.PoisonThreshold) {
			t.Fatalf("after crash %d: %+v", crash, st)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b = openAt(t, dir)
	tx, _ = b.Begin(ctx)
	defer tx.Rollback()
	if _, err := tx.Receive(ctx, &broker.ReceiveParams{Queue: brokertest.TargetQueue, Max: 1}); !errors.Is(err, broker.ErrQueueDisabled) {
		t.Fatalf("receive after %d crashes: %v", broker.PoisonThreshold, err)
	}
}
