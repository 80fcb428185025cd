//go:build linux

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/snbridge/snbridge/bridge/bridgetest"
)

// TestProgressOnTerminal checks that the live progress line appears when
// stderr is a terminal (a pseudo-terminal here); TestBenchEndToEnd checks
// that it does not otherwise.
func TestProgressOnTerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	mq := bridgetest.StartMosquitto(t)
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer master.Close()
	got := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the slave is closed
		got <- b.String()
	}()
	var out bytes.Buffer
	code := run(t.Context(), []string{"--scenario", "broker", "--broker", mq.URL(), "--clients", "2", "--rate", "100", "--duration", "0.3s"}, &out, slave)
	slave.Close()
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if s := <-got; !strings.Contains(s, "sent ") || !strings.Contains(s, "delivered ") {
		t.Errorf("no progress line on the terminal: %q", s)
	}
	if !strings.Contains(out.String(), "latency ms") {
		t.Errorf("no report on stdout: %q", out.String())
	}
}
