package applock

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// fakeServer plays the database: one lock, any number of sessions. The test
// decides what each call answers; the fake records what the elector did.
type fakeServer struct {
	mu        sync.Mutex
	holder    *fakeSession  // the session holding the lock, if any
	opens     []time.Time   // when each session was opened
	openErr   error         // next open fails with this
	checkErr  error         // next Check fails with this (then clears)
	hang      chan struct{} // when set, Check blocks until it is closed, whatever its context says
	releases  int
	closes    int
	sessions  int
	leadingAt map[string]bool // Leading() seen at named moments
	elector   *Elector
}

type fakeSession struct {
	srv    *fakeServer
	id     string
	closed bool
}

func (f *fakeServer) open(context.Context) (session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens = append(f.opens, time.Now())
	if err := f.openErr; err != nil {
		f.openErr = nil
		return nil, err
	}
	f.sessions++
	return &fakeSession{srv: f, id: "s" + string(rune('0'+f.sessions))}, nil
}

func (s *fakeSession) ID() string { return s.id }

func (s *fakeSession) Acquire(context.Context) (bool, error) {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.closed {
		return false, errors.New("session closed")
	}
	if s.srv.holder != nil && s.srv.holder != s {
		return false, nil
	}
	s.srv.holder = s
	return true, nil
}

func (s *fakeSession) Check(context.Context) error {
	s.srv.mu.Lock()
	if h := s.srv.hang; h != nil {
		s.srv.mu.Unlock()
		<-h // a half-open connection: no answer, and no attention gets through
		return errors.New("connection reset")
	}
	defer s.srv.mu.Unlock()
	if err := s.srv.checkErr; err != nil {
		s.srv.checkErr = nil
		s.srv.leadingAt["check failed"] = s.srv.elector.Leading()
		return err
	}
	if s.srv.holder != s {
		return errLost
	}
	return nil
}

func (s *fakeSession) Release(context.Context) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.leadingAt["release"] = s.srv.elector.Leading()
	if s.srv.holder == s {
		s.srv.holder = nil
	}
	s.srv.releases++
	return nil
}

func (s *fakeSession) Close() error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.leadingAt["close"] = s.srv.elector.Leading()
	s.closed = true
	if s.srv.holder == s { // logout drops the session's locks
		s.srv.holder = nil
	}
	s.srv.closes++
	return nil
}

// logSink records log lines and, for each, whether the elector led when it
// was written.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	elector *Elector
	lines   []string
	leading []bool
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	l.leading = append(l.leading, l.elector.Leading())
	return l.buf.Write(p)
}

// find returns the first line containing msg and Leading() at its writing.
func (l *logSink) find(msg string) (line string, leading bool, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.lines {
		if strings.Contains(s, msg) {
			return s, l.leading[i], true
		}
	}
	return "", false, false
}

type bundle struct {
	srv  *fakeServer
	log  *logSink
	e    *Elector
	stop context.CancelFunc
	done chan error
}

const (
	retry = 15 * time.Second
	check = 5 * time.Second
)

// setup starts an elector on a fake server inside the synctest bubble.
func setup(t *testing.T, prepare func(*fakeServer)) *bundle {
	t.Helper()
	srv := &fakeServer{leadingAt: map[string]bool{}}
	sink := &logSink{}
	e := New(nil, Options{Retry: retry, Check: check, Logger: zerolog.New(sink).Level(zerolog.InfoLevel)})
	e.open = srv.open
	srv.elector, sink.elector = e, e
	if prepare != nil {
		prepare(srv)
	}
	ctx, cancel := context.WithCancel(t.Context())
	b := &bundle{srv: srv, log: sink, e: e, stop: cancel, done: make(chan error, 1)}
	go func() { b.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

func TestGainsLeadershipWhenTheLockIsFree(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil)
		synctest.Wait()
		if !b.e.Leading() {
			t.Fatal("not leading with a free lock")
		}
		line, _, ok := b.log.find("leadership gained")
		if !ok || !strings.Contains(line, `"session":"s1"`) {
			t.Fatalf("no gain line naming the session: %q", b.log.buf.String())
		}
		// Checks that succeed keep it leading and log nothing more.
		time.Sleep(10 * check)
		synctest.Wait()
		if !b.e.Leading() || len(b.log.lines) != 1 {
			t.Fatalf("leading=%v, log: %s", b.e.Leading(), b.log.buf.String())
		}
	})
}

func TestFollowsWhileAnotherSessionHoldsTheLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		other := &fakeSession{id: "other"}
		b := setup(t, func(f *fakeServer) { other.srv = f; f.holder = other })
		for range 5 {
			time.Sleep(retry)
			synctest.Wait()
			if b.e.Leading() {
				t.Fatal("leads while another session holds the lock")
			}
		}
		// The follower keeps its session and asks again on it; it does
		// not open a new connection per attempt.
		if len(b.srv.opens) != 1 {
			t.Fatalf("opened %d sessions", len(b.srv.opens))
		}
		// The other leader goes away: leadership follows within Retry (+jitter).
		b.srv.mu.Lock()
		b.srv.holder = nil
		b.srv.mu.Unlock()
		time.Sleep(retry * 12 / 10)
		synctest.Wait()
		if !b.e.Leading() {
			t.Fatal("did not take the freed lock within Retry")
		}
	})
}

func TestFailedCheckDropsLeadershipBeforeAnythingElse(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil)
		synctest.Wait()
		if !b.e.Leading() {
			t.Fatal("not leading")
		}
		b.srv.mu.Lock()
		b.srv.checkErr = errors.New("read tcp: connection reset by peer")
		b.srv.mu.Unlock()
		lostAt := time.Now()
		time.Sleep(check) // the next check fails
		synctest.Wait()
		if b.e.Leading() {
			t.Fatal("still leading after a failed check")
		}
		line, leadingWhenLogged, ok := b.log.find("leadership lost")
		if !ok || !strings.Contains(line, "connection reset by peer") {
			t.Fatalf("no loss line with the reason: %s", b.log.buf.String())
		}
		if leadingWhenLogged || b.srv.leadingAt["close"] {
			t.Fatal("Leading() was still true when the loss was logged or the session closed")
		}
		if b.srv.closes != 1 {
			t.Fatalf("the broken session was closed %d times, want 1", b.srv.closes)
		}
		// Re-acquire on a new session after a backoff, not at once.
		for !b.e.Leading() {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if len(b.srv.opens) != 2 {
			t.Fatalf("opens = %d, want 2", len(b.srv.opens))
		}
		gap := b.srv.opens[1].Sub(lostAt.Add(check))
		if gap < 800*time.Millisecond || gap > 1200*time.Millisecond {
			t.Fatalf("re-opened %s after the loss; want the first backoff, 1 s ± 20 %%", gap)
		}
		if n := strings.Count(b.log.buf.String(), "leadership gained"); n != 2 {
			t.Fatalf("gain lines = %d, want 2", n)
		}
	})
}

func TestLockTakenAwayIsNoticedAtTheNextCheck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil)
		synctest.Wait()
		// Someone else now holds it (say, a DBA released it by hand and a
		// follower took it): APPLOCK_MODE answers NoLock.
		other := &fakeSession{srv: b.srv, id: "other"}
		b.srv.mu.Lock()
		b.srv.holder = other
		b.srv.mu.Unlock()
		time.Sleep(check)
		synctest.Wait()
		if b.e.Leading() {
			t.Fatal("still leading without the lock")
		}
		line, _, _ := b.log.find("leadership lost")
		if !strings.Contains(line, errLost.Error()) {
			t.Fatalf("reason missing: %q", line)
		}
	})
}

func TestOpenErrorsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(f *fakeServer) { f.openErr = errors.New("login failed") })
		synctest.Wait()
		if b.e.Leading() {
			t.Fatal("leading without a session")
		}
		if _, _, ok := b.log.find("login failed"); !ok {
			t.Fatalf("the open error was not logged: %s", b.log.buf.String())
		}
		time.Sleep(1200 * time.Millisecond)
		synctest.Wait()
		if !b.e.Leading() || len(b.srv.opens) != 2 {
			t.Fatalf("leading=%v opens=%d after the first backoff", b.e.Leading(), len(b.srv.opens))
		}
	})
}

func TestShutdownReleasesTheLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil)
		synctest.Wait()
		b.stop()
		synctest.Wait()
		select {
		case err := <-b.done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			b.done <- nil // for the cleanup
		default:
			t.Fatal("Run did not return after cancel")
		}
		if b.srv.releases != 1 || b.srv.closes != 1 || b.srv.holder != nil {
			t.Fatalf("releases=%d closes=%d holder=%v", b.srv.releases, b.srv.closes, b.srv.holder)
		}
		if b.srv.leadingAt["release"] || b.e.Leading() {
			t.Fatal("Leading() true during or after the release")
		}
		if _, _, ok := b.log.find("leadership released"); !ok {
			t.Fatalf("no release line: %s", b.log.buf.String())
		}
	})
}

func TestAcquireReturnCodes(t *testing.T) {
	t.Parallel()
	for rc, want := range map[int32]struct {
		granted bool
		err     bool
	}{0: {true, false}, 1: {true, false}, -1: {false, false}, -2: {false, true}, -3: {false, true}, -999: {false, true}, 7: {false, true}} {
		granted, err := acquireResult(rc)
		if granted != want.granted || (err != nil) != want.err {
			t.Errorf("rc %d: granted=%v err=%v", rc, granted, err)
		}
	}
	if err := checkResult("Exclusive"); err != nil {
		t.Error(err)
	}
	for _, m := range []string{"NoLock", "Shared", ""} {
		if err := checkResult(m); !errors.Is(err, errLost) {
			t.Errorf("mode %q: %v", m, err)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	if o.Resource != DefaultResource || o.Retry != 15*time.Second || o.Check != 2*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
	long := Options{Resource: strings.Repeat("r", 256)}.withDefaults()
	if err := New(nil, long).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "255") {
		t.Fatalf("a 256-character resource: %v", err)
	}
	if err := New(nil, Options{Retry: -time.Second}).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "Retry") {
		t.Fatalf("negative Retry: %v", err)
	}
}

func TestAlwaysLeads(t *testing.T) {
	t.Parallel()
	var a Leadership = Always{}
	if !a.Leading() {
		t.Fatal("Always does not lead")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// The statements keep the resource a parameter and the rest constant.
func TestStatementsTakeTheResourceAsAParameter(t *testing.T) {
	t.Parallel()
	for name, q := range map[string]string{"acquire": acquireSQL, "check": checkSQL, "release": releaseSQL} {
		if !strings.Contains(q, "@Resource") || strings.Contains(q, DefaultResource) {
			t.Errorf("%s: %s", name, q)
		}
		if name != "check" && !strings.Contains(q, "@LockOwner = N'Session'") {
			t.Errorf("%s does not name the Session owner: a Transaction lock would go at the first commit", name)
		}
	}
	if !strings.Contains(acquireSQL, "@LockTimeout = 0") {
		t.Error("acquire would wait for the lock instead of returning -1")
	}
}

// TestHungCheckEndsLeadershipByItself: a check that never answers (a
// half-open connection) must not leave this process leading while the
// server may already have given the lock to another: the lease of the
// last good check runs out.
func TestHungCheckEndsLeadershipByItself(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil)
		synctest.Wait()
		if !b.e.Leading() {
			t.Fatal("not leading with a free lock")
		}
		hang := make(chan struct{})
		b.srv.mu.Lock()
		b.srv.hang = hang
		b.srv.mu.Unlock()
		time.Sleep(check + time.Second) // the next check starts and hangs
		synctest.Wait()
		time.Sleep(2 * check) // past the lease of the last good check
		if b.e.Leading() {
			t.Fatal("still leading on a check that never answered")
		}
		b.srv.mu.Lock()
		b.srv.hang = nil
		b.srv.mu.Unlock()
		close(hang)
	})
}
