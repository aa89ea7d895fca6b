package applock

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"
	"github.com/rs/zerolog"
)

// DefaultResource names the lock when Options.Resource is empty.
const DefaultResource = "hartonomous-ooda-scheduler"

// Leadership is what the scheduler needs of an elector.
type Leadership interface {
	// Run takes part in the election until ctx ends; it returns nil then.
	Run(ctx context.Context) error
	// Leading reports whether this process leads now. Safe for concurrent use.
	Leading() bool
}

var (
	_ Leadership = (*Elector)(nil)
	_ Leadership = Always{}
)

// Always leads. It is the elector of the embedded state, where a lock file
// already makes the daemon the only one on its data directory.
type Always struct{}

// Run waits for ctx to end and returns nil.
func (Always) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Leading is always true.
func (Always) Leading() bool { return true }

// Options configure an Elector. The zero value takes every default.
type Options struct {
	// Resource is the application lock's name, shared by every daemon of one
	// state database. Default DefaultResource. At most 255 characters: the
	// server truncates longer names (nvarchar(255)) and compares them byte
	// for byte, case included ("sp_getapplock (Transact-SQL)").
	Resource string
	// Retry is the longest wait between two attempts to take the lock
	// (default 15 s). After a loss or an error the attempts start at
	// min(1 s, Retry) and double up to Retry, with ±20 % jitter.
	Retry time.Duration
	// Check is how often the leader confirms it still holds the lock
	// (default 2 s): a leader whose session the server dropped stands down
	// at most this long later. Keep it well below Retry.
	Check time.Duration
	// ReleaseTimeout bounds the release at shutdown (default 5 s).
	ReleaseTimeout time.Duration
	// Logger receives one line when leadership is gained and one when it is
	// lost or released; attempts that find another leader log at debug.
	Logger zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.Resource == "" {
		o.Resource = DefaultResource
	}
	if o.Retry == 0 {
		o.Retry = 15 * time.Second
	}
	if o.Check == 0 {
		o.Check = 2 * time.Second
	}
	if o.ReleaseTimeout == 0 {
		o.ReleaseTimeout = 5 * time.Second
	}
	return o
}

func (o Options) validate() error {
	switch {
	case utf8.RuneCountInString(o.Resource) > 255:
		return fmt.Errorf("applock: Resource %.40q… is longer than 255 characters (sp_getapplock would truncate it)", o.Resource)
	case o.Retry < 0:
		return fmt.Errorf("applock: Retry %s must be positive", o.Retry)
	case o.Check < 0:
		return fmt.Errorf("applock: Check %s must be positive", o.Check)
	case o.ReleaseTimeout < 0:
		return fmt.Errorf("applock: ReleaseTimeout %s must be positive", o.ReleaseTimeout)
	}
	return nil
}

// Elector takes part in the election of the scheduler's leader over one SQL
// Server database. Create it with New; call Run once.
type Elector struct {
	opts    Options
	open    func(ctx context.Context) (session, error)
	leading atomic.Bool
	// until is when the last successful check stops vouching for the lock
	// (unix nanoseconds): a check that hangs (a half-open connection) must
	// not leave Leading() true while another session takes the lock.
	until atomic.Int64
	log   zerolog.Logger
}

// New returns an elector over db, whose connections must be to the state
// database (application locks belong to the current database). Options are
// checked when Run starts.
func New(db *sql.DB, opts Options) *Elector {
	opts = opts.withDefaults()
	e := &Elector{opts: opts, log: opts.Logger.With().Str("component", "applock").Str("resource", opts.Resource).Logger()}
	e.open = func(ctx context.Context) (session, error) { return openSQLSession(ctx, db, opts.Resource) }
	return e
}

// Leading reports whether this process holds the lock as of its last
// check, and that check is recent: at most two check intervals old.
func (e *Elector) Leading() bool {
	return e.leading.Load() && time.Now().UnixNano() < e.until.Load()
}

// vouch records a successful grant or check.
func (e *Elector) vouch() { e.until.Store(time.Now().Add(2 * e.opts.Check).UnixNano()) }

// errLost: the session answered but no longer holds the lock.
var errLost = errors.New("the session no longer holds the lock")

// session is one dedicated server session. Close must discard it, never
// return it to a pool.
type session interface {
	// Acquire tries once, without waiting: true when granted, false when
	// another session holds the lock.
	Acquire(ctx context.Context) (bool, error)
	// Check returns nil while the session still holds the lock, errLost
	// (wrapped) when it answers that it does not, any other error when it
	// cannot tell.
	Check(ctx context.Context) error
	// Release gives the lock back.
	Release(ctx context.Context) error
	// Close ends the session; the server drops its locks with it.
	Close() error
	// ID names the session in logs (the server's session id).
	ID() string
}

// Run takes part in the election until ctx ends, then releases the lock if
// it holds it and returns nil. It returns an error only for invalid Options.
func (e *Elector) Run(ctx context.Context) error {
	if err := e.opts.validate(); err != nil {
		return err
	}
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(min(time.Second, e.opts.Retry)),
		backoff.WithMaxInterval(e.opts.Retry),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxElapsedTime(0), // never give up
	)
	var s session
	defer func() {
		if s != nil {
			_ = s.Close()
		}
	}()
	for ctx.Err() == nil {
		if s == nil {
			var err error
			if s, err = e.open(ctx); err != nil {
				s = nil
				if ctx.Err() == nil {
					e.log.Warn().Err(err).Msg("cannot open a session for the leader lock; retrying")
				}
				wait(ctx, bo.NextBackOff())
				continue
			}
		}
		actx, cancel := context.WithTimeout(ctx, e.opts.Check)
		granted, err := s.Acquire(actx)
		cancel()
		if err != nil {
			_ = s.Close()
			s = nil
			if ctx.Err() == nil {
				e.log.Warn().Err(err).Msg("leader lock request failed; retrying")
			}
			wait(ctx, bo.NextBackOff())
			continue
		}
		if !granted {
			e.log.Debug().Msg("another process leads")
			wait(ctx, bo.NextBackOff())
			continue
		}
		e.vouch()
		e.leading.Store(true)
		e.log.Info().Str("session", s.ID()).Msg("leadership gained")
		reason := e.hold(ctx, s)
		if reason == nil { // ctx ended while leading
			e.release(s)
			s = nil
			return nil
		}
		// hold has already set Leading() false.
		_ = s.Close()
		s = nil
		if ctx.Err() != nil {
			e.log.Info().Err(reason).Msg("leadership ended with shutdown")
			return nil
		}
		e.log.Warn().Err(reason).Msg("leadership lost")
		bo.Reset()
		wait(ctx, bo.NextBackOff())
	}
	return nil
}

// hold checks the lock every Check interval. It returns nil when ctx ends
// and the check's error when the lock may be lost, having set Leading()
// false first.
func (e *Elector) hold(ctx context.Context, s session) error {
	t := time.NewTicker(e.opts.Check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// Bounded: a check that hangs lets the lease run out (Leading()
		// turns false by itself) and is then given up.
		cctx, cancel := context.WithTimeout(ctx, e.opts.Check)
		err := s.Check(cctx)
		cancel()
		if err != nil {
			e.leading.Store(false) // first: the scheduler must stop firing now
			return err
		}
		e.vouch()
	}
}

// release gives the lock back at shutdown and ends the session. Leading()
// turns false before the release, which may take a while.
func (e *Elector) release(s session) {
	e.leading.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.ReleaseTimeout)
	defer cancel()
	err := s.Release(ctx)
	_ = s.Close() // logs the session out: the lock goes even if Release failed
	if err != nil {
		e.log.Warn().Err(err).Msg("leadership released by closing the session (sp_releaseapplock failed)")
		return
	}
	e.log.Info().Msg("leadership released")
}

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// The statements. The resource is always a parameter; the lock mode, owner
// and timeout are constants. Each sp_getapplock on a session must be matched
// by one sp_releaseapplock ("sp_getapplock (Transact-SQL)", Remarks), which
// is why the leader confirms its lock with APPLOCK_MODE rather than by
// asking for it again.
const (
	// @LockTimeout = 0: return -1 at once instead of waiting when another
	// session holds the lock. Return codes: 0 granted, 1 granted after a
	// wait, -1 timed out, -2 cancelled, -3 deadlock victim, -999 parameter
	// or other call error ("sp_getapplock (Transact-SQL)", Return Code
	// Values). The lock lives in the session's current database.
	acquireSQL = `DECLARE @rc int;
EXEC @rc = sys.sp_getapplock @Resource = @Resource, @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = 0;
SELECT @rc, @@SPID;`
	// APPLOCK_MODE returns the mode the owner holds, NoLock when none
	// ("APPLOCK_MODE (Transact-SQL)"); 'public' is sp_getapplock's default
	// @DbPrincipal.
	checkSQL = `SELECT APPLOCK_MODE(N'public', @Resource, N'Session');`
	// 0 released, -999 error ("sp_releaseapplock (Transact-SQL)").
	releaseSQL = `DECLARE @rc int;
EXEC @rc = sys.sp_releaseapplock @Resource = @Resource, @LockOwner = N'Session';
SELECT @rc;`
)

// acquireResult interprets sp_getapplock's return code.
func acquireResult(rc int32) (granted bool, err error) {
	switch rc {
	case 0, 1:
		return true, nil
	case -1:
		return false, nil
	case -2:
		return false, errors.New("sp_getapplock: the lock request was cancelled (-2)")
	case -3:
		return false, errors.New("sp_getapplock: the lock request was chosen as a deadlock victim (-3)")
	case -999:
		return false, errors.New("sp_getapplock: parameter validation or other call error (-999)")
	}
	return false, fmt.Errorf("sp_getapplock: unexpected return code %d", rc)
}

// checkResult interprets APPLOCK_MODE's answer.
func checkResult(mode string) error {
	if mode == "Exclusive" {
		return nil
	}
	return fmt.Errorf("%w (APPLOCK_MODE = %s)", errLost, mode)
}

// sqlSession is a session on one *sql.Conn taken out of the pool.
type sqlSession struct {
	conn     *sql.Conn
	resource string
	spid     int32
}

func openSQLSession(ctx context.Context, db *sql.DB, resource string) (session, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("applock: take a connection: %w", err)
	}
	return &sqlSession{conn: c, resource: resource}, nil
}

func (s *sqlSession) ID() string { return fmt.Sprint(s.spid) }

func (s *sqlSession) Acquire(ctx context.Context) (bool, error) {
	var rc int32
	if err := s.conn.QueryRowContext(ctx, acquireSQL, sql.Named("Resource", s.resource)).Scan(&rc, &s.spid); err != nil {
		return false, fmt.Errorf("applock: sp_getapplock: %w", err)
	}
	return acquireResult(rc)
}

func (s *sqlSession) Check(ctx context.Context) error {
	var mode sql.NullString
	if err := s.conn.QueryRowContext(ctx, checkSQL, sql.Named("Resource", s.resource)).Scan(&mode); err != nil {
		return fmt.Errorf("applock: APPLOCK_MODE: %w", err)
	}
	return checkResult(mode.String)
}

func (s *sqlSession) Release(ctx context.Context) error {
	var rc int32
	if err := s.conn.QueryRowContext(ctx, releaseSQL, sql.Named("Resource", s.resource)).Scan(&rc); err != nil {
		return fmt.Errorf("applock: sp_releaseapplock: %w", err)
	}
	if rc != 0 {
		return fmt.Errorf("applock: sp_releaseapplock returned %d", rc)
	}
	return nil
}

// Close discards the connection: returning driver.ErrBadConn from Raw makes
// database/sql close it instead of pooling it, so the server logs the
// session out and drops any session lock it still holds. A pooled
// connection would keep the lock for whichever caller took it next.
func (s *sqlSession) Close() error {
	_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	if err := s.conn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return err
	}
	return nil
}
