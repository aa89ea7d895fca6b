package main

import (
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's notify protocol: one datagram per state change
// to $NOTIFY_SOCKET. Without the variable (not under systemd) it does nothing.
type notifier struct{ addr string }

func newNotifier(getenv func(string) string) notifier {
	return notifier{addr: getenv("NOTIFY_SOCKET")}
}

func (n notifier) send(state string) error {
	if n.addr == "" {
		return nil
	}
	addr := n.addr
	if addr[0] == '@' { // abstract namespace
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogInterval is how often to send WATCHDOG=1: half of WATCHDOG_USEC,
// when the variable is set for this process.
func watchdogInterval(getenv func(string) string) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}
