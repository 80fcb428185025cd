package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/client/cli"
	"github.com/snbridge/snbridge/transport"
)

// Options configure [StartGateway].
type Options struct {
	// Upstream is the broker URL ("tcp://127.0.0.1:PORT"); required.
	Upstream string
	// Mode is "transparent" (default) or "aggregating".
	Mode string
	// Predefined maps predefined topic ids to names.
	Predefined map[uint16]string
	// Extra is appended to the [gateway] table (e.g. "sleep_buffer = 10").
	Extra string
	// LogLevel is the gateway's log level (default "warn").
	LogLevel string
	// XBeeDevice, when set, adds an XBee transport on this serial device
	// (see [Air]) in API mode XBeeAPIMode (default 2), beside UDP.
	XBeeDevice  string
	XBeeAPIMode int
}

// Gateway is a running snbridge process.
type Gateway struct {
	Addr netip.AddrPort // its MQTT-SN UDP address
	cmd  *exec.Cmd
	logs *syncBuffer
	exit chan struct{}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binary builds cmd/snbridge (once per test binary) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "snbridge-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", buildDir, "github.com/snbridge/snbridge/cmd/snbridge").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/snbridge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "snbridge")
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Config returns the gateway's TOML configuration for a UDP port.
func Config(port int, o Options) string {
	var b strings.Builder
	mode := o.Mode
	if mode == "" {
		mode = "transparent"
	}
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	fmt.Fprintf(&b, "[gateway]\nmode = %q\n%s\n", mode, o.Extra)
	fmt.Fprintf(&b, "[[transport.udp]]\nlisten = \"127.0.0.1:%d\"\n\n", port)
	if o.XBeeDevice != "" {
		mode := o.XBeeAPIMode
		if mode == 0 {
			mode = 2
		}
		fmt.Fprintf(&b, "[[transport.xbee]]\ndevice = %q\napi_mode = %d\n\n", o.XBeeDevice, mode)
	}
	fmt.Fprintf(&b, "[upstream]\nurl = %q\n\n[broker]\nlisten = \"\"\n\n", o.Upstream)
	for id, name := range o.Predefined {
		fmt.Fprintf(&b, "[[predefined]]\nid = %d\ntopic = %q\n\n", id, name)
	}
	fmt.Fprintf(&b, "[log]\nlevel = %q\nformat = \"json\"\n", level)
	return b.String()
}

// StartGateway starts snbridge and waits until it accepts a CONNECT. The
// gateway is stopped (SIGTERM, then SIGKILL) when the test ends, and its
// log is shown if the test failed.
func StartGateway(t testing.TB, o Options) *Gateway {
	t.Helper()
	if o.Upstream == "" {
		t.Fatal("clienttest: Options.Upstream is required")
	}
	bin := Binary(t)
	port := FreeUDPPort(t)
	conf := filepath.Join(t.TempDir(), "snbridge.toml")
	if err := os.WriteFile(conf, []byte(Config(port, o)), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{
		Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)),
		logs: &syncBuffer{},
		exit: make(chan struct{}),
	}
	g.cmd = exec.Command(bin, "-c", conf)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start snbridge: %v", err)
	}
	go func() { g.cmd.Wait(); close(g.exit) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("snbridge log:\n%s", g.logs.String())
		}
	})
	if err := g.waitReady(); err != nil {
		t.Fatalf("snbridge not ready: %v\n%s", err, g.logs.String())
	}
	return g
}

// Pid returns the gateway's process id.
func (g *Gateway) Pid() int { return g.cmd.Process.Pid }

// Logs returns what the gateway wrote so far.
func (g *Gateway) Logs() string { return g.logs.String() }

// Port is the gateway's UDP port.
func (g *Gateway) Port() int { return int(g.Addr.Port()) }

func (g *Gateway) stop() {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exit:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.exit
	}
}

// waitReady sends CONNECT every 200ms until a CONNACK comes back (15s at
// most), then DISCONNECTs.
func (g *Gateway) waitReady() error {
	conn, err := cli.ListenUDP(g.Addr)
	if err != nil {
		return err
	}
	c := client.Open(conn, client.Config{Gateway: transport.UDPAddr(g.Addr), ClientID: "clienttest-probe", CleanSession: true})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.exit:
			return errors.New("snbridge exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Connect(ctx)
		cancel()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return c.Disconnect(ctx)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return fmt.Errorf("no CONNACK within 15s: %w", err)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
