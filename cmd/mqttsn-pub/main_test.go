package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn/client/clienttest"
	"github.com/snbridge/snbridge/transport/xbee"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clienttest.Cleanup()
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func pub(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"--help"}, exitOK, "Usage: mqttsn-pub"},
		{"no topic", []string{"-m", "x"}, exitUsage, "exactly one of -t topic and -T id"},
		{"no message", []string{"-t", "a/b"}, exitUsage, "exactly one of -m, -f, -s, -l and -n"},
		{"two messages", []string{"-t", "a/b", "-m", "x", "-n"}, exitUsage, "exactly one of -m"},
		{"bad qos", []string{"-t", "a/b", "-m", "x", "-q", "3"}, exitUsage, "QoS is -1, 0, 1 or 2"},
		{"qos -1 long topic", []string{"-t", "a/b", "-m", "x", "-q", "-1"}, exitUsage, "use -T id or a 2-character"},
		{"wildcard", []string{"-t", "a/#", "-m", "x"}, exitUsage, "wildcard"},
		{"long client id", []string{"-t", "a/b", "-m", "x", "-i", strings.Repeat("x", 24), "-p", "9"}, exitFail, "1..23 characters"},
		{"bad node id", []string{"-t", "a/b", "-m", "x", "--encapsulate", "0xZZ", "-p", "9"}, exitFail, "not hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pub(t, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}

// TestPublishEndToEnd publishes at every QoS and topic kind through the
// real gateway, in both modes, and checks what a real mosquitto delivers.
func TestPublishEndToEnd(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	for _, mode := range []string{"transparent", "aggregating"} {
		t.Run(mode, func(t *testing.T) {
			gw := clienttest.StartGateway(t, clienttest.Options{
				Upstream: mq.URL(), Mode: mode, Predefined: map[uint16]string{1: "site/alarm"},
			})
			port := strconv.Itoa(gw.Port())
			msgs := bridgetest.Subscribe(t, mq.URL(), "#", 2)
			for _, qos := range []string{"-1", "0", "1", "2"} {
				for _, topic := range []struct{ flag, value, mqtt string }{
					{"-t", "site/" + mode + "/temp", "site/" + mode + "/temp"},
					{"-T", "1", "site/alarm"},
					{"-t", "ab", "ab"},
				} {
					if qos == "-1" && topic.value != "1" && topic.value != "ab" {
						continue // a registered topic needs CONNECT
					}
					payload := fmt.Sprintf("%s q%s %s", mode, qos, topic.value)
					r := pub(t, "", "-h", "127.0.0.1", "-p", port, "-q", qos, topic.flag, topic.value, "-m", payload)
					if r.code != exitOK {
						t.Fatalf("QoS %s %s %s: exit %d: %s", qos, topic.flag, topic.value, r.code, r.stderr)
					}
					m := bridgetest.Recv(t, msgs, 10*time.Second)
					if m.Topic != topic.mqtt || string(m.Payload) != payload {
						t.Errorf("QoS %s %s %s: broker got %q %q, want %q %q", qos, topic.flag, topic.value, m.Topic, m.Payload, topic.mqtt, payload)
					}
				}
			}
		})
	}
}

func TestPublishSourcesAndOptions(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	gw := clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL()})
	port := strconv.Itoa(gw.Port())
	msgs := bridgetest.Subscribe(t, mq.URL(), "src/#", 2)
	file := t.TempDir() + "/payload.bin"
	if err := os.WriteFile(file, []byte{0, 1, 2, 0xFF}, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"lines", "one\ntwo\nthree\n", []string{"-t", "src/l", "-l", "-q", "1"}, []string{"one", "two", "three"}},
		{"stdin", "all\nof it", []string{"-t", "src/s", "-s"}, []string{"all\nof it"}},
		{"file", "", []string{"-t", "src/f", "-f", file, "-q", "2"}, []string{"\x00\x01\x02\xff"}},
		{"empty", "", []string{"-t", "src/n", "-n", "-q", "1"}, []string{""}},
		{"repeat", "", []string{"-t", "src/r", "-m", "again", "--repeat", "3", "--repeat-delay", "0.01"}, []string{"again", "again", "again"}},
		{"no clean session, keepalive, will", "", []string{"-t", "src/w", "-m", "w", "-c", "-i", "pub-will", "-k", "5",
			"--will-topic", "src/dead", "--will-payload", "bye", "--will-qos", "1", "--will-retain"}, []string{"w"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := pub(t, tt.stdin, append([]string{"-h", "127.0.0.1", "-p", port}, tt.args...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range tt.want {
				m := bridgetest.Recv(t, msgs, 10*time.Second)
				if string(m.Payload) != want {
					t.Errorf("broker got %q on %s, want %q", m.Payload, m.Topic, want)
				}
			}
		})
	}
	t.Run("retain", func(t *testing.T) {
		if r := pub(t, "", "-h", "127.0.0.1", "-p", port, "-t", "src/retained", "-m", "kept", "-r", "-q", "1"); r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		bridgetest.Recv(t, msgs, 10*time.Second)
		late := bridgetest.Subscribe(t, mq.URL(), "src/retained", 1)
		if m := bridgetest.Recv(t, late, 10*time.Second); !m.Retained || string(m.Payload) != "kept" {
			t.Errorf("late subscriber got %+v, want the retained message", m)
		}
	})
}

func TestPublishDebugAndRejection(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	gw := clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL(), Predefined: map[uint16]string{1: "site/alarm"}})
	port := strconv.Itoa(gw.Port())

	r := pub(t, "", "-h", "127.0.0.1", "-p", port, "-t", "dbg/x", "-m", "x", "-q", "2", "-d")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"sent     CONNECT", "received CONNACK", "sent     REGISTER", "received REGACK",
		"sent     PUBLISH qos=2", "received PUBREC", "sent     PUBREL", "received PUBCOMP", "sent     DISCONNECT", "received DISCONNECT"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("debug output lacks %q:\n%s", want, r.stderr)
		}
	}

	// An unknown predefined id is refused with "invalid topic id", at QoS 1
	// by its PUBACK and at QoS 0 by a PUBACK the tool waits for up to its
	// DISCONNECT.
	for _, qos := range []string{"1", "0"} {
		r = pub(t, "", "-h", "127.0.0.1", "-p", port, "-T", "99", "-m", "x", "-q", qos)
		if r.code != exitFail || !strings.Contains(r.stderr, "rejected: invalid topic id") {
			t.Errorf("QoS %s: exit %d, stderr %q; want 1 and the refusal in words", qos, r.code, r.stderr)
		}
	}

	// No gateway at all: the timeout is reported, exit 1.
	r = pub(t, "", "-h", "127.0.0.1", "-p", strconv.Itoa(clienttest.FreeUDPPort(t)), "-t", "a/b", "-m", "x", "-W", "0.3")
	if r.code != exitFail || !strings.Contains(r.stderr, "CONNACK") {
		t.Errorf("no gateway: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEncapsulatedPublish(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	gw := clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL()})
	msgs := bridgetest.Subscribe(t, mq.URL(), "fw/#", 1)
	r := pub(t, "", "-h", "127.0.0.1", "-p", strconv.Itoa(gw.Port()), "-t", "fw/node", "-m", "via forwarder",
		"-q", "1", "--encapsulate", "0x0013a20041523301", "-d")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if m := bridgetest.Recv(t, msgs, 10*time.Second); string(m.Payload) != "via forwarder" {
		t.Errorf("broker got %q", m.Payload)
	}
}

// TestXBeePublish publishes through an XBee radio (a pseudo-terminal
// played by clienttest.Air) to the gateway's coordinator radio, in both
// API modes, with payload bytes that API mode 2 must escape.
func TestXBeePublish(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	for _, mode := range []int{1, 2} {
		t.Run("api mode "+strconv.Itoa(mode), func(t *testing.T) {
			air := clienttest.NewAir(t, xbee.APIMode(mode))
			clienttest.StartGateway(t, clienttest.Options{Upstream: mq.URL(), XBeeDevice: air.GatewayDevice, XBeeAPIMode: mode})
			msgs := bridgetest.Subscribe(t, mq.URL(), "radio/#", 2)
			file := t.TempDir() + "/escaped"
			payload := []byte{0x7E, 0x7D, 0x11, 0x13, 'o', 'k'}
			if err := os.WriteFile(file, payload, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, qos := range []string{"0", "1", "2"} {
				r := pub(t, "", "--xbee", air.ClientDevice, "--api-mode", strconv.Itoa(mode), "--baud", "115200",
					"-t", "radio/x", "-f", file, "-q", qos, "-W", "5")
				if r.code != exitOK {
					t.Fatalf("QoS %s: exit %d: %s", qos, r.code, r.stderr)
				}
				if m := bridgetest.Recv(t, msgs, 10*time.Second); !bytes.Equal(m.Payload, payload) || m.Topic != "radio/x" {
					t.Errorf("QoS %s: broker got %q %x", qos, m.Topic, m.Payload)
				}
			}
		})
	}
}
