package embedded

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"

	"github.com/hartonomous/ooda/broker"
)

// SQLite primary result codes we translate (https://sqlite.org/rescode.html).
const (
	sqliteCorrupt = 11
	sqliteFull    = 13
	sqliteNotADB  = 26
)

// translate maps driver errors to the broker's sentinels, keeping the
// original text.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqliteFull:
		return fmt.Errorf("%w: %w (the disk or the configured size limit is full; nothing of this transaction was written)", broker.ErrStorageFull, err)
	case sqliteCorrupt, sqliteNotADB:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}
