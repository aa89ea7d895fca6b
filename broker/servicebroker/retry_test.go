package servicebroker

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

// failing returns an operation that fails with errs in turn, then succeeds,
// and counts its calls.
func failing(calls *int, errs ...error) func() (string, error) {
	return func() (string, error) {
		*calls++
		if *calls <= len(errs) {
			return "", errs[*calls-1]
		}
		return "tx", nil
	}
}

func TestBeginRetryPolicy(t *testing.T) {
	t.Parallel()
	transient := fmt.Errorf("login: %w", mssql.Error{Number: 4060, Message: "cannot open database"})

	t.Run("TransientThenSuccess", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			start := time.Now()
			v, err := retryTransient(t.Context(), newBeginBackOff(), failing(&calls, transient, driver.ErrBadConn, transient))
			if err != nil || v != "tx" || calls != 4 {
				t.Fatalf("got %q %v after %d calls", v, err, calls)
			}
			// Three waits of about 100, 200, 400 ms, each ±50%: jittered, not immediate, not long.
			if el := time.Since(start); el < 350*time.Millisecond || el > 1050*time.Millisecond {
				t.Fatalf("waited %s in all", el)
			}
		})
	})
	t.Run("FinalErrorNotRetried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			_, err := retryTransient(t.Context(), newBeginBackOff(), failing(&calls, mssql.Error{Number: 8442, Message: "broker disabled"}))
			if calls != 1 || !errors.Is(err, ErrBrokerNotEnabled) {
				t.Fatalf("%d calls, %v", calls, err)
			}
		})
	})
	t.Run("NotTransientNotRetried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			_, err := retryTransient(t.Context(), newBeginBackOff(), failing(&calls, broker.ErrClosed))
			if calls != 1 || !errors.Is(err, broker.ErrClosed) {
				t.Fatalf("%d calls, %v", calls, err)
			}
		})
	})
	t.Run("Bounded", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			calls := 0
			always := make([]error, 1000)
			for i := range always {
				always[i] = transient
			}
			start := time.Now()
			_, err := retryTransient(t.Context(), newBeginBackOff(), failing(&calls, always...))
			var me mssql.Error
			if !errors.As(err, &me) || me.Number != 4060 {
				t.Fatalf("gave up with %v, want the last error", err)
			}
			if calls != beginMaxRetries+1 {
				t.Fatalf("%d calls, want %d", calls, beginMaxRetries+1)
			}
			if el := time.Since(start); el > beginMaxElapsed+beginMaxInterval {
				t.Fatalf("retried for %s", el)
			}
		})
	})
	t.Run("ContextEndsTheWait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			calls := 0
			always := []error{transient, transient, transient, transient, transient, transient}
			start := time.Now()
			_, err := retryTransient(ctx, newBeginBackOff(), failing(&calls, always...))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if el := time.Since(start); el > 300*time.Millisecond {
				t.Fatalf("returned %s after the deadline passed", el-300*time.Millisecond)
			}
		})
	})
}
