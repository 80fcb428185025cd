package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
	"github.com/snbridge/snbridge/config"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
	"github.com/snbridge/snbridge/transport/xbee"
)

// TestPlan: the TOML keys reach the parts' configurations.
func TestPlan(t *testing.T) {
	for _, tt := range []struct {
		name  string
		toml  string
		check func(t *testing.T, p plan)
	}{
		{
			name: "gateway, session and udp keys",
			toml: `[gateway]
id = 4
max_clients = 77
max_topics = 12
max_inflight = 3
sleep_buffer = 7
buffer_qos0 = true
retry_interval = "3s"
retry_count = 5
advertise_interval = "1m"

[[transport.udp]]
listen = "0.0.0.0:1884"
broadcast = "255.255.255.255:1884"
recv_buffer = "1MiB"

[[transport.udp]]
listen = "[::1]:1885"

[[predefined]]
id = 9
topic = "site/alarm"
client_id = "s1"
`,
			check: func(t *testing.T, p plan) {
				want := bridge.Config{
					Session: session.Config{
						RetryInterval: 3 * time.Second, RetryCount: 5, SleepBuffer: 7, BufferQoS0: true,
						MaxTopics: 12, MaxInflight: 3,
					},
					GatewayID: 4, MaxClients: 77, AdvertiseInterval: time.Minute,
					Predefined: []bridge.PredefinedTopic{{ID: 9, Topic: "site/alarm", ClientID: "s1"}},
				}
				if diff := cmp.Diff(want, p.Gateway, ignoreLogger()); diff != "" {
					t.Errorf("bridge.Config (-want +got):\n%s", diff)
				}
				wantUDP := []udp.Config{
					{Listen: "0.0.0.0:1884", Broadcast: "255.255.255.255:1884", RecvBuffer: 1 << 20},
					{Listen: "[::1]:1885"},
				}
				if diff := cmp.Diff(wantUDP, p.UDP, ignoreLogger()); diff != "" {
					t.Errorf("udp.Config (-want +got):\n%s", diff)
				}
				if p.Remote != nil || p.Failover != nil {
					t.Errorf("standalone: Remote %v, Failover %v; want none", p.Remote, p.Failover)
				}
				if p.Broker.MaxPending != embedded.DefaultMaxPending {
					t.Errorf("broker MaxPending %d, want %d", p.Broker.MaxPending, embedded.DefaultMaxPending)
				}
			},
		},
		{
			name: "xbee",
			toml: `[[transport.xbee]]
device = "/dev/ttyUSB3"
baud = 57600
api_mode = 2
max_payload = 72
`,
			check: func(t *testing.T, p plan) {
				if len(p.XBee) != 1 {
					t.Fatalf("%d xbee configs", len(p.XBee))
				}
				x := p.XBee[0]
				if x.Device != "/dev/ttyUSB3" || x.Baud != 57600 || x.APIMode != 2 || x.MaxPayload != 72 {
					t.Errorf("xbee.Config %+v", x)
				}
			},
		},
		{
			name: "upstream aggregating with credentials",
			toml: `[gateway]
id = 12
mode = "aggregating"

[upstream]
url = "tcp://broker.example:1883"
username = "gw"
password = "pw"
client_id_prefix = "site7-"

[[upstream.credentials]]
client_id = "s1"
username = "u1"
password = "p1"
`,
			check: func(t *testing.T, p plan) {
				if p.Remote == nil {
					t.Fatal("no remote")
				}
				want := paho.Config{
					URL: "tcp://broker.example:1883", Username: "gw", Password: "pw", ClientIDPrefix: "site7-",
					Credentials:        map[string]paho.Credential{"s1": {Username: "u1", Password: "p1"}},
					Mode:               paho.Aggregating,
					AggregatorClientID: "snbridge-gw12-aggregator",
					MaxPending:         paho.DefaultMaxPending,
				}
				if diff := cmp.Diff(want, *p.Remote, ignoreLogger()); diff != "" {
					t.Errorf("paho.Config (-want +got):\n%s", diff)
				}
				if p.Failover != nil {
					t.Error("failover without [fallback] enabled")
				}
			},
		},
		{
			name: "fallback",
			toml: `[gateway]
id = 3

[upstream]
url = "tcp://broker.example:1883"
client_id_prefix = "site7-"
username = "gw"

[fallback]
enabled = true
data_dir = "/var/lib/snbridge"
spool_max_bytes = "1MiB"
spool_max_age = "2h"
overflow = "drop-oldest"
spool_qos0 = true
replay_rate = 50
status_topic = "$SYS/site7/upstream"
`,
			check: func(t *testing.T, p plan) {
				if p.Remote == nil || p.Failover == nil {
					t.Fatalf("Remote %v, Failover %v", p.Remote, p.Failover)
				}
				if p.Remote.CloseTimeout != failoverCloseTimeout {
					t.Errorf("paho CloseTimeout %v, want %v", p.Remote.CloseTimeout, failoverCloseTimeout)
				}
				f := p.Failover
				wantSpool := spool.Config{Path: "/var/lib/snbridge/spool.db", MaxBytes: 1 << 20, MaxAge: 2 * time.Hour, Overflow: spool.DropOldest}
				if diff := cmp.Diff(wantSpool, f.Spool, ignoreLogger(), cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Now" }, cmp.Ignore())); diff != "" {
					t.Errorf("spool.Config (-want +got):\n%s", diff)
				}
				if f.Probe.URL != "tcp://broker.example:1883" || f.Probe.ClientID != "site7-snbridge-gw3-probe" || f.Probe.Username != "gw" {
					t.Errorf("probe %+v", f.Probe)
				}
				fc := f.Failover
				if !fc.SpoolQoS0 || fc.ReplayRate != 50 || fc.StatusTopic != "$SYS/site7/upstream" ||
					fc.ReplayClientID != "snbridge-gw3-replay" || !fc.RunPrimary {
					t.Errorf("failover.Config %+v", fc)
				}
			},
		},
		{
			name: "fallback reject",
			toml: "[upstream]\nurl = \"tcp://b:1883\"\n[fallback]\nenabled = true\ndata_dir = \"d\"\noverflow = \"reject\"\n",
			check: func(t *testing.T, p plan) {
				if p.Failover.Spool.Overflow != spool.Reject {
					t.Errorf("overflow %v, want Reject", p.Failover.Spool.Overflow)
				}
				if p.Failover.Failover.ReplayRate != 1000 || p.Failover.Probe.ClientID != "snbridge-gw1-probe" {
					t.Errorf("defaults: %+v %+v", p.Failover.Failover, p.Failover.Probe)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.toml))
			if err != nil {
				t.Fatal(err)
			}
			p, err := newPlan(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func ignoreLogger() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().Type() == reflect.TypeFor[zerolog.Logger]()
	}, cmp.Ignore())
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"TxOversize":         "tx_oversize",
		"QoSMinus1In":        "qos_minus1_in",
		"UnsupportedNodeIDs": "unsupported_node_ids",
		"GWInfosSent":        "gw_infos_sent",
		"DatagramsIn":        "datagrams_in",
		"Opens":              "opens",
		"ReplayFail":         "replay_fail",
		"PerDest":            "per_dest",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatsLines: one line per component with its non-zero counters
// (nested structs flattened, maps by length), all-zero ones at debug;
// reportStats logs them every interval.
func TestStatsLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := zerolog.New(&buf).Level(zerolog.InfoLevel)
		var n uint64
		sources := []statsSource{
			{Msg: "XBee transport stats", Tags: func(e *zerolog.Event) { e.Str("device", "/dev/x") }, Snapshot: func() any {
				n++
				return xbee.Stats{TxOversize: n, Unplugs: 2, Decoder: xbee.DecoderStats{BadChecksum: 4}, PerDest: map[transport.Addr]xbee.DestStats{{}: {}}}
			}},
			{Msg: "failover stats", Snapshot: func() any { return failover.Stats{} }},
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- reportStats(ctx, log, 5*time.Minute, sources) }()
		time.Sleep(5*time.Minute + time.Second) // fake time: one period
		synctest.Wait()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines, want 2 (the zero failover line is at debug):\n%s", len(lines), buf.String())
		}
		for i, line := range lines {
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"level": "info", "message": "XBee transport stats", "device": "/dev/x",
				"tx_oversize": float64(i + 1), "unplugs": float64(2), "decoder_bad_checksum": float64(4), "per_dest": float64(1)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("line %d (-want +got):\n%s", i, diff)
			}
		}
	})
}
