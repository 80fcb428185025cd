package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn/client/clienttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clienttest.Cleanup()
	os.Exit(code)
}

func runBench(t *testing.T, args ...string) (Report, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), append(args, "--json"), &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	for _, key := range []string{`"sent"`, `"delivered"`, `"lost"`, `"duplicates"`, `"out_of_order"`, `"rate"`, `"latency_ms"`, `"p50"`, `"p90"`, `"p99"`, `"max"`} {
		if !strings.Contains(out.String(), key) {
			t.Errorf("JSON report lacks %s:\n%s", key, out.String())
		}
	}
	return r, errb.String()
}

// consistent checks what every report must satisfy.
func consistent(t *testing.T, r Report) {
	t.Helper()
	if r.Sent == 0 || r.Delivered == 0 {
		t.Errorf("nothing measured: %+v", r)
	}
	if r.Delivered+r.Lost != r.Sent {
		t.Errorf("delivered %d + lost %d != sent %d", r.Delivered, r.Lost, r.Sent)
	}
	l := r.Latency
	if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, exitOK, "Usage: mqttsn-bench"},
		{[]string{"--scenario", "x"}, exitUsage, "publish, connections, fanout or broker"},
		{[]string{"--topic-kind", "x"}, exitUsage, "registered, predefined or short"},
		{[]string{"--qos", "-1"}, exitUsage, "QoS -1 publishes without CONNECT"},
		{[]string{"--size", "8"}, exitUsage, "--size must be 16..60000"},
		{[]string{"--clients", "0"}, exitUsage, "at least 1"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
	}
}

// TestBenchEndToEnd runs small, paced runs of every scenario against the
// real gateway and a real mosquitto and checks each report for
// consistency.
func TestBenchEndToEnd(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	for _, mode := range []string{"transparent", "aggregating"} {
		t.Run(mode, func(t *testing.T) {
			gw := clienttest.StartGateway(t, clienttest.Options{
				Upstream: mq.URL(), Mode: mode, Predefined: map[uint16]string{1: "bench/predefined"},
			})
			common := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(gw.Port()), "--broker", mq.URL(),
				"--pid", strconv.Itoa(gw.Pid()), "--drain", "5s"}
			for _, tt := range []struct {
				name string
				args []string
			}{
				{"publish qos0 registered", []string{"--qos", "0", "--clients", "4", "--rate", "400", "--duration", "0.5s"}},
				{"publish qos1 predefined", []string{"--qos", "1", "--clients", "3", "--rate", "300", "--duration", "0.5s", "--topic-kind", "predefined"}},
				{"publish qos2 short", []string{"--qos", "2", "--clients", "2", "--rate", "100", "--duration", "0.5s", "--topic-kind", "short"}},
				{"publish qos-1 predefined", []string{"--qos", "-1", "--clients", "2", "--rate", "100", "--duration", "0.5s", "--topic-kind", "predefined"}},
				{"fanout qos1", []string{"--scenario", "fanout", "--qos", "1", "--clients", "3", "--rate", "50", "--duration", "0.5s"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r, stderr := runBench(t, append(common, tt.args...)...)
					consistent(t, r)
					if stderr != "" {
						t.Errorf("progress output on a non-terminal: %q", stderr)
					}
					if r.Gateway == nil || r.Gateway.Pid != gw.Pid() || r.Gateway.RSSMB <= 0 || r.Gateway.UDPDrops < 0 {
						t.Errorf("gateway figures missing: %+v", r.Gateway)
					}
					// Paced at these rates on loopback, QoS >= 1 loses nothing.
					if r.QoS >= 1 && (r.Lost != 0 || r.Errors != 0) {
						t.Errorf("QoS %d lost %d, errors %d (%s)", r.QoS, r.Lost, r.Errors, r.FirstError)
					}
					if r.QoS == 2 && r.Duplicates != 0 {
						t.Errorf("QoS 2 delivered %d duplicates", r.Duplicates)
					}
				})
			}
			t.Run("connections sleeping", func(t *testing.T) {
				r, _ := runBench(t, append(common, "--scenario", "connections", "--clients", "30", "--sleep-clients", "--duration", "0.2s")...)
				consistent(t, r)
				if r.Delivered != 30 || r.ConnectRate <= 0 || r.Errors != 0 {
					t.Errorf("connections: %+v", r)
				}
				if r.Gateway == nil || r.Gateway.RSSMB <= 0 {
					t.Errorf("gateway figures missing: %+v", r.Gateway)
				}
			})
		})
	}
}

// TestBrokerBaseline publishes straight to mosquitto, without a gateway.
func TestBrokerBaseline(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	r, _ := runBench(t, "--scenario", "broker", "--broker", mq.URL(), "--clients", "3", "--qos", "1", "--rate", "300", "--duration", "0.5s")
	consistent(t, r)
	if r.Lost != 0 || r.Duplicates != 0 || r.OutOfOrder != 0 {
		t.Errorf("QoS 1 straight to the broker: %+v", r)
	}
}

func TestTextReport(t *testing.T) {
	var b bytes.Buffer
	writeText(&b, &Report{Scenario: "publish", Clients: 10, Size: 32, TopicKind: "registered", DurationS: 1,
		Sent: 100, Delivered: 99, Lost: 1, LossPercent: 1, Rate: 99, Latency: Latency{P50: 1, P90: 2, P99: 3, Max: 4},
		Gateway: &Gateway{Pid: 7, CPUPercent: 12.5, RSSMB: 20}})
	for _, want := range []string{"sent          100", "delivered     99", "lost          1 (1.0000%)", "p99 3.000", "cpu 12.5%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker(2)
	now := time.Unix(100, 0)
	p := make([]byte, 32)
	for _, m := range []struct{ src, seq uint32 }{{0, 0}, {0, 1}, {0, 1}, {1, 5}, {1, 3}, {0, 200}} {
		putHeader(p, m.src, m.seq, now.Add(-time.Millisecond))
		tr.record(p, now)
	}
	tr.record([]byte("short"), now)
	d, dups, ooo, foreign, lat, _ := tr.snapshot()
	if d != 5 || dups != 1 || ooo != 1 || foreign != 1 || lat.P50 != 1 || lat.Max != 1 {
		t.Errorf("delivered %d dups %d ooo %d foreign %d lat %+v; want 5 1 1 1 1ms", d, dups, ooo, foreign, lat)
	}
}

func TestReadProc(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rss <= 0 || s.rssMax < s.rss {
		t.Errorf("rss %d peak %d", s.rss, s.rssMax)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of a missing pid succeeded")
	}
}

// TestUDPDrops overflows a socket that nobody reads and finds the drops in
// /proc/net/udp.
func TestUDPDrops(t *testing.T) {
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	port := rc.LocalAddr().(*net.UDPAddr).Port
	before, err := udpDrops(port)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for range 200 {
		sc.Write(make([]byte, 1000))
	}
	after, err := udpDrops(port)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100 {
		t.Errorf("drops %d -> %d after 200 KB into a 4 KB buffer", before, after)
	}
	if _, err := udpDrops(0); err == nil {
		t.Error("udpDrops found a socket on port 0")
	}
}
