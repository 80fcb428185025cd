package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestPprofServesAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servePprofOn(ctx, ln, zerolog.New(zerolog.NewTestWriter(t))) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("cmdline: status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("goroutine profile: %q", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("servePprofOn: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pprof server did not stop")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("pprof listener still open after stop")
	}
}

func TestPprofBindFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = servePprof(context.Background(), ln.Addr().String(), zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "pprof") {
		t.Fatalf("bind on a used address: %v", err)
	}
}

func TestPprofOffByDefaultAndInHelp(t *testing.T) {
	if p := pprofParts("", zerolog.Nop()); p != nil {
		t.Fatalf("pprof part without --pprof: %d parts", len(p))
	}
	var out bytes.Buffer
	if code := realMain([]string{"-h"}, &out, &out); code != 2 {
		t.Fatalf("-h: exit %d", code)
	}
	if !strings.Contains(out.String(), "-pprof addr") {
		t.Fatalf("--help does not document --pprof:\n%s", out.String())
	}
}
