package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked is returned by Open when another process holds the data directory.
var ErrLocked = errors.New("data directory in use")

const lockFileName = "oodad.lock"

// lockDir takes an exclusive flock on dir/oodad.lock and writes our PID in it.
// The kernel drops the lock when the process dies, however it dies, so a stale
// file never blocks a restart.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if _, convErr := strconv.Atoi(holder); convErr != nil {
				holder = "unknown"
			}
			return nil, fmt.Errorf("embedded: data directory %s is in use by process %s (lock file %s); stop that process or choose another directory: %w", dir, holder, path, ErrLocked)
		}
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: lock file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded: lock file: %w", err)
	}
	return f, nil
}
