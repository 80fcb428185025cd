package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/client/clienttest"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
	"github.com/snbridge/snbridge/transport/xbee"
)

const testVersion = "v0.0.0-test"

// binary is the snbridge built once for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "snbridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "snbridge")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build snbridge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs snbridge with args to completion.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run snbridge %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "snbridge.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersion(t *testing.T) {
	out, _, code := runBinary(t, "--version")
	if code != 0 || strings.TrimSpace(out) != "snbridge "+testVersion {
		t.Fatalf("--version: exit %d, output %q; want 0, %q", code, out, "snbridge "+testVersion)
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name     string
		config   string
		wantCode int
		want     []string // substrings of the output
	}{
		{
			name:     "valid",
			config:   "[gateway]\nid = 3\nmode = \"aggregating\"\n\n[[transport.udp]]\nlisten = \"127.0.0.1:1884\"\n\n[[predefined]]\nid = 1\ntopic = \"site/alarm\"\n",
			wantCode: 0,
			want:     []string{"configuration valid"},
		},
		{
			name:     "every problem listed",
			config:   "[gateway]\nid = 300\nmode = \"sideways\"\nadvertize = \"1m\"\n\n[log]\nlevel = \"loud\"\n",
			wantCode: 1,
			want:     []string{"invalid configuration", "gateway.id", "gateway.mode", "unknown key gateway.advertize", "log.level"},
		},
		{
			name:     "bad xbee radio",
			config:   "[[transport.xbee]]\ndevice = \"/dev/ttyUSB0\"\napi_mode = 3\nparity = \"mark\"\nbaud = 12345\n",
			wantCode: 1,
			want:     []string{"transport.xbee[0].api_mode", "transport.xbee[0].parity", "transport.xbee[0].baud"},
		},
		{
			name:     "syntax error",
			config:   "[gateway\nid = 1\n",
			wantCode: 1,
			want:     []string{"invalid configuration", "line"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBinary(t, "--check", "-c", writeConfig(t, tt.config))
			all := out + errOut
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.wantCode, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, errOut, code := runBinary(t, "--check", "-c", filepath.Join(t.TempDir(), "nope.toml"))
		if code == 0 || !strings.Contains(errOut, "nope.toml") {
			t.Fatalf("exit %d, output %q; want non-zero naming the file", code, errOut)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		if _, _, code := runBinary(t, "--no-such-flag"); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
	})
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
}

// daemon is a running snbridge process.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
	logs   *syncBuffer
}

// startDaemon runs snbridge -c on config text and waits for its "snbridge
// running" log line; the process is killed at cleanup if still running.
func startDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binary, "-c", writeConfig(t, config)), exited: make(chan error, 1), logs: &syncBuffer{}}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			d.logs.add(sc.Text())
			var line struct{ Message string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "snbridge running" && !once {
				once = true
				close(running)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.exited
	})
	select {
	case <-running:
	case err := <-d.exited:
		d.exited <- err
		t.Fatalf("snbridge exited early: %v\n%s", err, d.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("snbridge did not start\n%s", d.logs.String())
	}
	return d
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		d.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("snbridge exit after SIGTERM: %v\n%s", err, d.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("snbridge did not stop on SIGTERM")
	}
}

// sensor connects an MQTT-SN client to the gateway at snAddr, publishes a
// reading on site/temp at QoS 1 and an alarm at QoS -1 on predefined id 5.
func sensor(t *testing.T, snAddr string) {
	t.Helper()
	conn, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := netipAddr(snAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := client.Open(conn, client.Config{Gateway: gw, ClientID: "sensor-7", KeepAlive: time.Minute, CleanSession: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	id, err := c.Register(ctx, "site/temp")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := c.Publish(ctx, client.Registered(id), mqttsn.QoS1, false, []byte("21.5")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := c.Publish(ctx, client.Predefined(5), mqttsn.QoSMinus1, false, []byte("fire")); err != nil {
		t.Fatalf("publish QoS -1: %v", err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
}

func expectReadings(t *testing.T, sub <-chan bridgetest.Message) {
	t.Helper()
	if m := bridgetest.Recv(t, sub, 10*time.Second); m.Topic != "site/temp" || string(m.Payload) != "21.5" {
		t.Fatalf("subscriber got %q %q, want site/temp 21.5", m.Topic, m.Payload)
	}
	if m := bridgetest.Recv(t, sub, 10*time.Second); m.Topic != "site/alarm" || string(m.Payload) != "fire" {
		t.Fatalf("subscriber got %q %q, want site/alarm fire", m.Topic, m.Payload)
	}
}

const daemonConfig = `[gateway]
id = 9
mode = %q

[[transport.udp]]
listen = %q

[broker]
listen = %q

[upstream]
%s

[[predefined]]
id = 5
topic = "site/alarm"

[log]
level = "debug"
format = "json"
`

// TestRunStandalone starts the binary on a temp config (standalone on the
// embedded broker) and sees a sensor's publish arrive at an MQTT
// subscriber of the embedded broker, and an MQTT client's publish arrive
// at an MQTT-SN subscriber; SIGTERM then stops it cleanly.
func TestRunStandalone(t *testing.T) {
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	d := startDaemon(t, fmt.Sprintf(daemonConfig, "transparent", snAddr, mqttAddr, `url = ""`))
	sub := bridgetest.Subscribe(t, "tcp://"+mqttAddr, "site/#", 1)
	sensor(t, snAddr)
	expectReadings(t, sub)
	downlink(t, snAddr, "tcp://"+mqttAddr)
	d.stop(t)
}

// downlink subscribes an MQTT-SN client to cmd/actuator-3 (QoS 1) through
// the gateway at snAddr and sees an MQTT client's publish to brokerURL
// arrive on the subscribed topic id.
func downlink(t *testing.T, snAddr, brokerURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	c, msgs := snClientAt(t, snAddr, client.Config{ClientID: "actuator-3", KeepAlive: time.Minute, CleanSession: true, Retry: time.Second})
	must(t, "connect", c.Connect(ctx))
	ack, err := c.Subscribe(ctx, client.FilterName("cmd/actuator-3"), mqttsn.QoS1)
	must(t, "subscribe", err)
	bridgetest.Publish(t, brokerURL, "cmd/actuator-3", []byte("open"), 1, false)
	select {
	case m := <-msgs:
		if string(m.Payload) != "open" || m.TopicID != ack.TopicID || m.QoS != mqttsn.QoS1 {
			t.Fatalf("actuator got %+v, want \"open\" at QoS 1 on topic id %d", m, ack.TopicID)
		}
	case <-ctx.Done():
		t.Fatal("no downlink message within 15s")
	}
	must(t, "disconnect", c.Disconnect(ctx))
}

// TestRunUpstream: the binary in front of a real mosquitto, in both
// modes; the embedded broker's listener runs too.
func TestRunUpstream(t *testing.T) {
	for _, mode := range []string{"transparent", "aggregating"} {
		t.Run(mode, func(t *testing.T) {
			mosq := bridgetest.StartMosquitto(t)
			snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
			d := startDaemon(t, fmt.Sprintf(daemonConfig, mode, snAddr, mqttAddr, fmt.Sprintf("url = %q", mosq.URL())))
			sub := bridgetest.Subscribe(t, mosq.URL(), "site/#", 1)
			sensor(t, snAddr)
			expectReadings(t, sub)
			d.stop(t)
		})
	}
}

func netipAddr(s string) (transport.Addr, error) {
	ap, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return transport.Addr{}, err
	}
	return transport.UDPAddr(ap.AddrPort()), nil
}

// syncBuffer collects log lines from one goroutine for another.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) add(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(line)
	s.b.WriteByte('\n')
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunUpstreamTLS: the binary reaches a mosquitto that requires TLS
// with a client certificate and a password, through the [upstream] keys
// (url tls://, ca_file, cert_file, key_file, username, password).
func TestRunUpstreamTLS(t *testing.T) {
	files := bridgetest.WriteTLSFiles(t)
	pw := bridgetest.WritePasswordFile(t, map[string]string{"gw": "s3cret"})
	mosq := bridgetest.StartMosquittoWith(t, bridgetest.Options{
		Listener: files.MosquittoListener(true), Extra: "password_file " + pw, DenyAnonymous: true, Scheme: "tls",
	})
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	upstream := fmt.Sprintf("url = %q\nusername = \"gw\"\npassword = \"s3cret\"\nca_file = %q\ncert_file = %q\nkey_file = %q",
		mosq.URL(), files.CAFile, files.ClientCert, files.ClientKey)
	cfg := fmt.Sprintf(daemonConfig, "transparent", snAddr, mqttAddr, upstream)
	d := startDaemon(t, cfg)

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(files.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	c := bridgetest.Connect(t, mosq.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
		o.SetUsername("gw").SetPassword("s3cret")
	})
	sub := bridgetest.SubscribeClient(t, c, "site/#", 1)
	sensor(t, snAddr)
	expectReadings(t, sub)
	d.stop(t)
}

// TestRunXBee: the binary with a [[transport.xbee]] radio beside UDP (the
// dongle played on a pty by clienttest.Air): a radio sensor's publish
// reaches an MQTT subscriber of the upstream mosquitto, and a UDP sensor's
// too.
func TestRunXBee(t *testing.T) {
	air := clienttest.NewAir(t, xbee.APIMode2)
	mosq := bridgetest.StartMosquitto(t)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	cfg := fmt.Sprintf(daemonConfig, "transparent", snAddr, mqttAddr, fmt.Sprintf("url = %q", mosq.URL())) +
		fmt.Sprintf("\n[[transport.xbee]]\ndevice = %q\nbaud = 115200\napi_mode = 2\n", air.GatewayDevice)
	d := startDaemon(t, cfg)
	sub := bridgetest.Subscribe(t, mosq.URL(), "site/#", 1)

	conn, err := xbee.New(xbee.Config{Device: air.ClientDevice, Baud: 115200, APIMode: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	runCtx, stopRadio := context.WithCancel(context.Background())
	radioDone := make(chan error, 1)
	go func() { radioDone <- conn.Run(runCtx) }()
	defer func() { stopRadio(); <-radioDone }()
	if err := conn.WaitConnected(ctx); err != nil {
		t.Fatalf("client radio: %v", err)
	}
	c := client.Open(conn, client.Config{Gateway: transport.XBeeAddr(0), ClientID: "radio-7", KeepAlive: time.Minute, CleanSession: true, Retry: time.Second})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("radio connect: %v", err)
	}
	id, err := c.Register(ctx, "site/radio")
	if err != nil {
		t.Fatalf("radio register: %v", err)
	}
	if err := c.Publish(ctx, client.Registered(id), mqttsn.QoS1, false, []byte{0x7e, 0x7d, 0x11, 0x13}); err != nil {
		t.Fatalf("radio publish: %v", err)
	}
	if m := bridgetest.Recv(t, sub, 10*time.Second); m.Topic != "site/radio" || !bytes.Equal(m.Payload, []byte{0x7e, 0x7d, 0x11, 0x13}) {
		t.Fatalf("subscriber got %q % x", m.Topic, m.Payload)
	}
	sensor(t, snAddr)
	expectReadings(t, sub)
	d.stop(t)
	// The radio's counters are logged at shutdown.
	logs := d.logs.String()
	for _, frag := range []string{`"message":"XBee transport stats"`, `"opens":1`, `"tx_frames":`, `"decoder_frames":`} {
		if !strings.Contains(logs, frag) {
			t.Errorf("no %s in the shutdown logs:\n%s", frag, logs)
		}
	}
}
