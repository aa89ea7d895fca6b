package servicebroker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Begin's retry policy: transient failures to start a transaction (a broken
// or refused connection, 4060 while a database comes online, Azure
// throttling and failover, see Classify) are retried with jittered
// exponential backoff, from beginInitialInterval up to beginMaxInterval
// between attempts, for at most beginMaxElapsed or beginMaxRetries retries,
// whichever comes first, and never after ctx is done. Errors inside a
// transaction are not retried here: the transaction is gone, and the caller
// (the engine) retries the whole step.
const (
	beginInitialInterval = 100 * time.Millisecond
	beginMaxInterval     = 5 * time.Second
	beginMaxElapsed      = 30 * time.Second
	beginMaxRetries      = 8
)

// newBeginBackOff returns a fresh policy for one Begin.
func newBeginBackOff() backoff.BackOff {
	return backoff.WithMaxRetries(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(beginInitialInterval),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMultiplier(2),
		backoff.WithMaxInterval(beginMaxInterval),
		backoff.WithMaxElapsedTime(beginMaxElapsed),
	), beginMaxRetries)
}

// retryTransient runs op until it succeeds, fails with an error Classify
// calls final, the policy gives up, or ctx is done. It returns op's last
// error, classified (or ctx's error if ctx ended the wait).
func retryTransient[T any](ctx context.Context, bo backoff.BackOff, op func() (T, error)) (T, error) {
	return backoff.RetryWithData(func() (T, error) {
		v, err := op()
		if err == nil {
			return v, nil
		}
		retry, classified := Classify(err)
		if !retry {
			return v, backoff.Permanent(classified)
		}
		return v, classified
	}, backoff.WithContext(bo, ctx))
}
