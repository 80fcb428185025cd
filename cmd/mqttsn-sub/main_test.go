package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client/clienttest"
	"github.com/snbridge/snbridge/transport/xbee"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clienttest.Cleanup()
	os.Exit(code)
}

// watch is a writer that lets a test wait for a substring to appear.
type watch struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newWatch() *watch { return &watch{changed: make(chan struct{}, 1)} }

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the output contains s n times.
func (w *watch) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	for strings.Count(w.String(), s) < n {
		select {
		case <-w.changed:
		case <-timer.C:
			t.Fatalf("%q did not appear %d times within 15s:\n%s", s, n, w.String())
		}
	}
}

type sub struct {
	stdout, stderr *watch
	code           chan int
}

// start runs mqttsn-sub in a goroutine; the test waits for its exit code.
func start(t *testing.T, args ...string) *sub {
	t.Helper()
	s := &sub{stdout: newWatch(), stderr: newWatch(), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.code <- run(ctx, args, s.stdout, s.stderr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *sub) exit(t *testing.T) int {
	t.Helper()
	select {
	case c := <-s.code:
		return c
	case <-time.After(20 * time.Second):
		t.Fatalf("mqttsn-sub did not exit; stdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		return -1
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"--help"}, exitOK, "Usage: mqttsn-sub"},
		{"no topic", nil, exitUsage, "at least one -t filter or -T id"},
		{"bad filter", []string{"-t", "a/#/b"}, exitUsage, "wildcard"},
		{"bad predefined", []string{"-T", "0"}, exitUsage, "not a topic id"},
		{"bad qos", []string{"-t", "a", "-q", "-1"}, exitUsage, "QoS is 0, 1 or 2"},
		{"wake without sleep", []string{"-t", "a", "--wake-every", "1s"}, exitUsage, "needs --sleep"},
		{"wake too slow", []string{"-t", "a", "--sleep", "10s", "--wake-every", "10s"}, exitUsage, "shorter than --sleep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tt.code, tt.want)
			}
		})
	}
}

func TestSubscribeEndToEnd(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	for _, mode := range []string{"transparent", "aggregating"} {
		t.Run(mode, func(t *testing.T) {
			gw := clienttest.StartGateway(t, clienttest.Options{
				Upstream: mq.URL(), Mode: mode, Predefined: map[uint16]string{1: "site/alarm"},
			})
			port := strconv.Itoa(gw.Port())

			t.Run("wildcard and count", func(t *testing.T) {
				s := start(t, "-h", "127.0.0.1", "-p", port, "-t", "site/+/temp", "-t", "other/#", "-q", "1", "-C", "3", "-v", "-d")
				s.stderr.waitFor(t, "received SUBACK", 2)
				bridgetest.Publish(t, mq.URL(), "site/a/temp", []byte("1"), 1, false)
				bridgetest.Publish(t, mq.URL(), "site/a/hum", []byte("skipped"), 1, false)
				bridgetest.Publish(t, mq.URL(), "site/b/temp", []byte("2"), 1, false)
				bridgetest.Publish(t, mq.URL(), "other/x/y", []byte("3"), 0, false)
				bridgetest.Publish(t, mq.URL(), "site/c/temp", []byte("after count"), 1, false)
				if code := s.exit(t); code != exitOK {
					t.Fatalf("exit %d: %s", code, s.stderr)
				}
				if got, want := s.stdout.String(), "site/a/temp 1\nsite/b/temp 2\nother/x/y 3\n"; got != want {
					t.Errorf("stdout %q, want %q", got, want)
				}
			})

			t.Run("predefined, short and format", func(t *testing.T) {
				s := start(t, "-h", "127.0.0.1", "-p", port, "-T", "1", "-t", "zz", "-q", "2", "-C", "2", "-F", `%t|%x|%q|%l\t%%`, "-N", "-d")
				s.stderr.waitFor(t, "received SUBACK", 2)
				bridgetest.Publish(t, mq.URL(), "site/alarm", []byte{0xde, 0xad}, 2, false)
				bridgetest.Publish(t, mq.URL(), "zz", []byte("ok"), 1, false)
				if code := s.exit(t); code != exitOK {
					t.Fatalf("exit %d: %s", code, s.stderr)
				}
				// Unknown predefined names print as predefined:ID.
				if got, want := s.stdout.String(), "predefined:1|dead|2|2\t%zz|6f6b|1|2\t%"; got != want {
					t.Errorf("stdout %q, want %q", got, want)
				}
			})

			t.Run("binary payload printed as hex", func(t *testing.T) {
				s := start(t, "-h", "127.0.0.1", "-p", port, "-t", "bin/#", "-C", "2", "-d")
				s.stderr.waitFor(t, "received SUBACK", 1)
				bridgetest.Publish(t, mq.URL(), "bin/a", []byte{0x1b, '[', '2', 'J'}, 0, false)
				bridgetest.Publish(t, mq.URL(), "bin/b", []byte("text ok"), 0, false)
				if code := s.exit(t); code != exitOK {
					t.Fatalf("exit %d: %s", code, s.stderr)
				}
				if got, want := s.stdout.String(), "0x1b5b324a\ntext ok\n"; got != want {
					t.Errorf("stdout %q, want %q", got, want)
				}
			})

			t.Run("retained only", func(t *testing.T) {
				bridgetest.Publish(t, mq.URL(), "ret/"+mode, []byte("old"), 1, true)
				s := start(t, "-h", "127.0.0.1", "-p", port, "-t", "ret/"+mode, "--retained-only", "-q", "1", "-d")
				s.stdout.waitFor(t, "old\n", 1)
				bridgetest.Publish(t, mq.URL(), "ret/"+mode, []byte("new"), 1, false)
				if code := s.exit(t); code != exitOK {
					t.Fatalf("exit %d: %s", code, s.stderr)
				}
				if got := s.stdout.String(); got != "old\n" {
					t.Errorf("stdout %q, want only the retained message", got)
				}
				bridgetest.Publish(t, mq.URL(), "ret/"+mode, nil, 1, true) // clear it
			})
		})
	}
}

func TestSubscribeTimeoutAndRejection(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	gw := clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL()})
	port := strconv.Itoa(gw.Port())

	s := start(t, "-h", "127.0.0.1", "-p", port, "-t", "quiet/#", "-W", "0.5")
	if code := s.exit(t); code != exitTimeout {
		t.Errorf("-W: exit %d, want %d; stderr %s", code, exitTimeout, s.stderr)
	}
	s = start(t, "-h", "127.0.0.1", "-p", port, "-T", "77")
	if code := s.exit(t); code != exitFail || !strings.Contains(s.stderr.String(), "rejected: invalid topic id") {
		t.Errorf("unknown predefined id: exit %d, stderr %q", code, s.stderr)
	}
}

// TestSleepingClient subscribes, goes to sleep, and collects messages
// published while it slept on its next wake-up.
func TestSleepingClient(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	for _, mode := range []string{"transparent", "aggregating"} {
		t.Run(mode, func(t *testing.T) {
			gw := clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL(), Mode: mode})
			s := start(t, "-h", "127.0.0.1", "-p", strconv.Itoa(gw.Port()), "-t", "sleep/"+mode, "-q", "1",
				"-c", "-i", "sleepy-"+mode, "--sleep", "30s", "--wake-every", "1s", "-C", "3", "-d")
			s.stderr.waitFor(t, "received DISCONNECT", 1) // asleep
			for _, p := range []string{"a", "b", "c"} {
				bridgetest.Publish(t, mq.URL(), "sleep/"+mode, []byte(p), 1, false)
			}
			if code := s.exit(t); code != exitOK {
				t.Fatalf("exit %d: %s", code, s.stderr)
			}
			if got, want := s.stdout.String(), "a\nb\nc\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			e := s.stderr.String()
			for _, want := range []string{"sent     DISCONNECT duration=30", `sent     PINGREQ client_id="sleepy-` + mode + `"`, "received PINGRESP"} {
				if !strings.Contains(e, want) {
					t.Errorf("debug output lacks %q:\n%s", want, e)
				}
			}
			// Every message came in a wake-up, before its PINGRESP.
			if i, j := strings.Index(e, "received PUBLISH"), strings.Index(e, `sent     PINGREQ client_id=`); i < j {
				t.Errorf("a PUBLISH arrived before the first wake-up:\n%s", e)
			}
		})
	}
}

// TestXBeeSubscribe receives through an XBee radio (a pseudo-terminal
// played by clienttest.Air) from the gateway's coordinator radio.
func TestXBeeSubscribe(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	air := clienttest.NewAir(t, xbee.APIMode2)
	clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL(), XBeeDevice: air.GatewayDevice})
	s := start(t, "--xbee", air.ClientDevice, "-t", "radio/in", "-q", "1", "-C", "1", "-v", "-d")
	s.stderr.waitFor(t, "received SUBACK", 1)
	bridgetest.Publish(t, mq.URL(), "radio/in", []byte("over the air"), 1, false)
	if code := s.exit(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr)
	}
	if got, want := s.stdout.String(), "radio/in over the air\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
}

// TestGatewayDisconnects plays a gateway on a UDP socket that accepts the
// client and its subscription, then disconnects it: mqttsn-sub exits 1.
func TestGatewayDisconnects(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer pc.Close()
	wg.Go(func() {
		buf := make([]byte, 512)
		var p mqttsn.Packet
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if mqttsn.Parse(buf[:n], &p) != nil {
				continue
			}
			var answers []mqttsn.Packet
			switch p.Type {
			case mqttsn.TypeConnect:
				answers = []mqttsn.Packet{{Type: mqttsn.TypeConnack}}
			case mqttsn.TypeSubscribe:
				answers = []mqttsn.Packet{
					{Type: mqttsn.TypeSuback, Suback: mqttsn.Suback{TopicID: 1, MsgID: p.Subscribe.MsgID}},
					{Type: mqttsn.TypeDisconnect},
				}
			}
			for _, a := range answers {
				b, _ := a.AppendBinary(nil)
				pc.WriteToUDPAddrPort(b, from)
			}
		}
	})
	s := start(t, "-h", "127.0.0.1", "-p", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port), "-t", "a/b")
	if code := s.exit(t); code != exitFail || !strings.Contains(s.stderr.String(), "the gateway disconnected this client") {
		t.Errorf("exit %d, stderr %q; want 1 and the reason", code, s.stderr)
	}
}
