package natsbus

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure the embedded server.
type EmbeddedOptions struct {
	Listen   string // host:port; default 127.0.0.1:4222
	StoreDir string // JetStream store; empty: JetStream off
}

// StartEmbedded starts an in-process NATS server and returns it with its
// client URL. Shut it down with Shutdown and WaitForShutdown.
func StartEmbedded(o EmbeddedOptions) (*server.Server, string, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	host, portText, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("natsbus: listen address %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, "", fmt.Errorf("natsbus: listen address %q: port must be 0–65535", o.Listen)
	}
	opts := &server.Options{Host: host, Port: port, NoSigs: true, NoLog: true, ServerName: "oodad-embedded"}
	if o.StoreDir != "" {
		opts.JetStream, opts.StoreDir = true, o.StoreDir
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("natsbus: embedded server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, "", fmt.Errorf("natsbus: embedded server did not start listening on %s (is the port taken?)", o.Listen)
	}
	return s, s.ClientURL(), nil
}
