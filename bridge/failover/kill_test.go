package failover_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
)

const (
	helperEnv   = "SNBRIDGE_FAILOVER_KILL_HELPER"
	helperSpool = "SNBRIDGE_FAILOVER_KILL_SPOOL"
	helperURL   = "SNBRIDGE_FAILOVER_KILL_URL"
)

// TestKillHelper is the process that TestKill kills: a failover with the
// upstream down, two sensors publishing QoS 1 and 2 messages, one line
// "acked CLIENT N" on stdout per acknowledged message. It runs only when
// started by TestKill.
func TestKillHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return // not a test of its own
	}
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel)
	b, err := embedded.New(embedded.Config{Logger: log})
	check(err)
	sp, err := spool.Open(spool.Config{Path: os.Getenv(helperSpool), MaxBytes: 64 << 20, Logger: log})
	check(err)
	primary, err := paho.New(paho.Config{URL: os.Getenv(helperURL), ClientIDPrefix: "gw-", ConnectTimeout: time.Second, Logger: log})
	check(err)
	probe, err := failover.NewProbe(failover.ProbeConfig{URL: os.Getenv(helperURL), Interval: 100 * time.Millisecond, Logger: log})
	check(err)
	f, err := failover.New(failover.Config{Primary: primary, Fallback: b, Health: probe, Spool: sp, RunPrimary: true, Logger: log})
	check(err)
	ctx := context.Background()
	go b.Run(ctx) //nolint:errcheck // killed
	go f.Run(ctx) //nolint:errcheck // killed
	out := bufio.NewWriter(os.Stdout)
	acks := make(chan string, 64)
	for _, id := range []string{"sensor0", "sensor1"} {
		opened := make(chan bridge.Session, 1)
		f.Open(bridge.ClientInfo{ClientID: id, CleanSession: true}, func(bridge.Message) {}, func(s bridge.Session, err error) {
			check(err)
			opened <- s
		})
		s := <-opened
		go func() {
			for n := 0; ; n++ {
				done := make(chan error, 1)
				s.Publish(msg(id, n, 1+byte(n%2)), func(err error) { done <- err })
				check(<-done)
				acks <- fmt.Sprintf("acked %s %d", id, n)
			}
		}()
	}
	for line := range acks {
		fmt.Fprintln(out, line)
		out.Flush()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
}

// TestKill kills (SIGKILL) a process running the failover while its
// sensors publish with the upstream down, then runs the failover again on
// the same spool with the upstream up: every message acknowledged to a
// sensor before the kill arrives upstream, in order per sensor.
func TestKill(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		return
	}
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	path := filepath.Join(t.TempDir(), "spool.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperSpool+"="+path, helperURL+"="+mq.URL())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{"sensor0": -1, "sensor1": -1}
	lines := bufio.NewScanner(stdout)
	for total := 0; total < 300 && lines.Scan(); total++ {
		var id string
		var n int
		if _, err := fmt.Sscanf(lines.Text(), "acked %s %d", &id, &n); err != nil {
			t.Fatalf("helper said %q: %v", lines.Text(), err)
		}
		acked[id] = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked["sensor0"] < 0 || acked["sensor1"] < 0 {
		t.Fatalf("helper acknowledged %v before the kill; stderr:\n%s", acked, stderr.String())
	}
	t.Logf("killed after acknowledgements up to %v", acked)

	mq.Start()
	r := &rig{t: t, mq: mq, broker: startBroker(t)}
	s := newSink(t)
	s.attach(mq.URL(), 2)
	r.start(rigConfig{spoolPath: path})
	for id, n := range acked {
		s.waitFor("acknowledged messages of "+id, inOrder([]string{id}, n+1))
		s.mu.Lock()
		got := distinct(s.got[id])
		s.mu.Unlock()
		for i := 0; i <= n; i++ {
			if got[i] != i {
				t.Errorf("%s: first arrivals out of order: %v", id, got[:n+1])
				break
			}
		}
	}
}
