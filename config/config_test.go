package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
)

var update = flag.Bool("update", false, "rewrite the testdata/config/invalid/*.err golden files")

const testdata = "../testdata/config"

func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "valid", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Errorf("Load(%s):\n%v", f, err)
			}
		})
	}
}

func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "invalid", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatalf("Load(%s) = nil error, want one", f)
			}
			golden := strings.TrimSuffix(f, ".toml") + ".err"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test ./config -run TestInvalidFiles -update)", rerr)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Load(%s) error mismatch (-want +got):\n%s", f, diff)
			}
		})
	}
	// Every golden file belongs to an input.
	goldens, _ := filepath.Glob(filepath.Join(testdata, "invalid", "*.err"))
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".err") + ".toml"); err != nil {
			t.Errorf("stale golden file %s: %v", g, err)
		}
	}
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if !c.Standalone() {
		t.Error("Default() is not standalone")
	}
	if got := c.Transport.UDP; len(got) != 1 || got[0].Listen != "0.0.0.0:1884" {
		t.Errorf("default UDP = %+v", got)
	}
	if c.Broker.Listen != "127.0.0.1:1883" {
		t.Errorf("default broker listen = %q", c.Broker.Listen)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "[gateway]\n[log]\n"} {
		got, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", in, err)
		}
		if diff := cmp.Diff(Default(), got); diff != "" {
			t.Errorf("Parse(%q) differs from Default() (-want +got):\n%s", in, diff)
		}
	}
}

func TestDefaultsNotShared(t *testing.T) {
	a := Default()
	a.Transport.UDP[0].Listen = "changed"
	if b := Default(); b.Transport.UDP[0].Listen != DefaultUDPListen {
		t.Fatal("Default() shares its UDP slice between calls")
	}
}

func TestUDPArrayReplacesDefault(t *testing.T) {
	tests := []struct {
		name, in string
		want     []UDP
	}{
		{"absent keeps default", "[gateway]\nid = 2\n", []UDP{{Listen: DefaultUDPListen}}},
		{"xbee only keeps default", "[[transport.xbee]]\ndevice = \"/dev/ttyUSB0\"\n", []UDP{{Listen: DefaultUDPListen}}},
		{"one replaces", "[[transport.udp]]\nlisten = \"[::]:1884\"\n", []UDP{{Listen: "[::]:1884"}}},
		{"two replace", "[[transport.udp]]\nlisten = \"127.0.0.1:1\"\n[[transport.udp]]\nlisten = \"127.0.0.1:2\"\nbroadcast = \"255.255.255.255:2\"\n",
			[]UDP{{Listen: "127.0.0.1:1"}, {Listen: "127.0.0.1:2", Broadcast: "255.255.255.255:2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Transport.UDP); diff != "" {
				t.Errorf("UDP (-want +got):\n%s", diff)
			}
		})
	}
	c, err := Parse([]byte("[transport]\nudp = []\n[[transport.xbee]]\ndevice = \"/dev/ttyUSB0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Transport.UDP) != 0 {
		t.Errorf("udp = [] left %+v", c.Transport.UDP)
	}
}

func TestXBeeDefaultsPerEntry(t *testing.T) {
	c, err := Load(filepath.Join(testdata, "valid", "xbee-only.toml"))
	if err != nil {
		t.Fatal(err)
	}
	first := DefaultXBee()
	first.Device = "/dev/ttyUSB0"
	second := DefaultXBee()
	second.Device, second.Baud, second.APIMode, second.FlowControl = "/dev/ttyAMA0", 115200, 1, FlowRTSCTS
	if diff := cmp.Diff([]XBee{first, second}, c.Transport.XBee); diff != "" {
		t.Errorf("xbee (-want +got):\n%s", diff)
	}
}

func TestFullValues(t *testing.T) {
	path := filepath.Join(testdata, "valid", "full.toml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tls := filepath.Join(testdata, "tls")
	want := Config{
		Gateway: Gateway{ID: 1, Mode: ModeTransparent, MaxClients: 10000, MaxTopics: 1000, MaxInflight: 32,
			AdvertiseInterval: Duration(15 * time.Minute), RetryInterval: Duration(10 * time.Second),
			RetryCount: 3, SleepBuffer: 100},
		Transport: Transport{
			UDP: []UDP{
				{Listen: "0.0.0.0:1884", Broadcast: "255.255.255.255:1884", RecvBuffer: 4 << 20},
				{Listen: "[::]:1884", Broadcast: "[ff02::1]:1884"},
			},
			XBee: []XBee{{Device: "/dev/ttyUSB0", Baud: 9600, APIMode: 2, DataBits: 8, Parity: ParityNone,
				StopBits: 1, FlowControl: FlowNone, MaxPayload: 84}},
		},
		Upstream: Upstream{URL: "tls://broker.example:8883", Username: "gateway", Password: "secret",
			ClientIDPrefix: "sn-", CAFile: filepath.Join(tls, "ca.pem"), CertFile: filepath.Join(tls, "client.pem"),
			KeyFile: filepath.Join(tls, "client.key"), ServerName: "broker.example",
			Credentials: []Credential{{ClientID: "sensor-17", Username: "sensor17", Password: "s17"}}},
		Broker: Broker{Listen: "127.0.0.1:1883"},
		Fallback: Fallback{DataDir: "/var/lib/snbridge", SpoolMaxBytes: 256 << 20, SpoolMaxAge: Duration(168 * time.Hour),
			Overflow: OverflowReject, ReplayRate: 1000, StatusTopic: "$SYS/snbridge/upstream"},
		Predefined: []Predefined{{ID: 1, Topic: "site/alarm"}, {ID: 1, Topic: "site/sensor-17/alarm", ClientID: "sensor-17"}},
		Log:        Log{Level: "info", Format: "console"},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("full.toml (-want +got):\n%s", diff)
	}
	if !c.Upstream.TLS() || c.Standalone() {
		t.Errorf("TLS() = %v, Standalone() = %v", c.Upstream.TLS(), c.Standalone())
	}
}

// TestFullDefinesEveryKey keeps full.toml, the reference config, complete:
// every key of the schema appears in it.
func TestFullDefinesEveryKey(t *testing.T) {
	var raw map[string]any
	if _, err := toml.DecodeFile(filepath.Join(testdata, "valid", "full.toml"), &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type, []string)
	walk = func(typ reflect.Type, prefix []string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			key := append(append([]string(nil), prefix...), f.Tag.Get("toml"))
			if !defined(raw, key) {
				t.Errorf("full.toml lacks %s", strings.Join(key, "."))
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), nil)
}

// defined reports whether key exists in raw, in any element of an array
// of tables on the way.
func defined(node any, key []string) bool {
	if len(key) == 0 {
		return true
	}
	switch n := node.(type) {
	case map[string]any:
		v, ok := n[key[0]]
		return ok && defined(v, key[1:])
	case []map[string]any:
		for _, e := range n {
			if defined(e, key) {
				return true
			}
		}
	}
	return false
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	inputs := map[string]Config{"default": Default()}
	for _, name := range []string{"full.toml", "xbee-only.toml", "sizes.toml", "aggregating-mqtts.toml"} {
		c, err := Load(filepath.Join(testdata, "valid", name))
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = c
	}
	for name, c := range inputs {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.WriteTOML(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := Parse(buf.Bytes())
			if err != nil {
				t.Fatalf("Parse(WriteTOML) = %v\n%s", err, buf.String())
			}
			if diff := cmp.Diff(c, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s\n%s", diff, buf.String())
			}
		})
	}
}

func TestValidateReportsAllAtOnce(t *testing.T) {
	c := Default()
	c.Gateway.ID = 300
	c.Gateway.Mode = "foo"
	c.Transport.XBee = []XBee{{Device: "/dev/x", Baud: 12345, APIMode: 1, DataBits: 8, Parity: "none", StopBits: 1, FlowControl: "none", MaxPayload: 84}}
	c.Log.Format = "xml"
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate() = %v, want a joined error", err)
	}
	want := []string{
		`gateway.id: 300 out of range 0..255`,
		`gateway.mode: "foo" is not "transparent" or "aggregating"`,
		`transport.xbee[0].baud: unsupported rate 12345 (use one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)`,
		`log.format: "xml" is not "console" or "json"`,
	}
	var got []string
	for _, e := range joined.Unwrap() {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestFallbackEnabled: offline fallback is implemented; an enabled
// [fallback] with an upstream and a data_dir is valid.
func TestFallbackEnabled(t *testing.T) {
	c := Default()
	c.Upstream.URL = "tcp://127.0.0.1:1883"
	c.Fallback.Enabled = true
	c.Fallback.DataDir = "/var/lib/snbridge"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestParseKeepsRelativePaths(t *testing.T) {
	c, err := Parse([]byte("[upstream]\nurl = \"tls://b:8883\"\nca_file = \"../testdata/config/tls/ca.pem\"\n[fallback]\ndata_dir = \"state\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream.CAFile != "../testdata/config/tls/ca.pem" || c.Fallback.DataDir != "state" {
		t.Errorf("paths rewritten: %q %q", c.Upstream.CAFile, c.Fallback.DataDir)
	}
}

func TestLoadResolvesPathsAgainstFileDir(t *testing.T) {
	dir := t.TempDir()
	ca, err := os.ReadFile(filepath.Join(testdata, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "[upstream]\nurl = \"tls://b:8883\"\nca_file = \"ca.pem\"\n[fallback]\ndata_dir = \"/abs/state\"\n"
	if err := os.WriteFile(filepath.Join(dir, "s.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(filepath.Join(dir, "s.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream.CAFile != filepath.Join(dir, "ca.pem") || c.Fallback.DataDir != "/abs/state" {
		t.Errorf("paths: %q %q", c.Upstream.CAFile, c.Fallback.DataDir)
	}
}

func TestZerologLevel(t *testing.T) {
	for name, want := range map[string]zerolog.Level{
		"trace": zerolog.TraceLevel, "debug": zerolog.DebugLevel, "info": zerolog.InfoLevel,
		"warn": zerolog.WarnLevel, "error": zerolog.ErrorLevel,
	} {
		if got, err := (Log{Level: name}).ZerologLevel(); err != nil || got != want {
			t.Errorf("ZerologLevel(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := (Log{Level: "INFO"}).ZerologLevel(); err == nil {
		t.Error("ZerologLevel(INFO) accepted")
	}
}

func TestCredentialFor(t *testing.T) {
	u := Upstream{Username: "gw", Password: "gwpw", Credentials: []Credential{{ClientID: "a", Username: "ua", Password: "pa"}}}
	if user, pw := u.CredentialFor("a"); user != "ua" || pw != "pa" {
		t.Errorf("CredentialFor(a) = %q %q", user, pw)
	}
	if user, pw := u.CredentialFor("b"); user != "gw" || pw != "gwpw" {
		t.Errorf("CredentialFor(b) = %q %q", user, pw)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Upstream.Password = "secret"
	c.Upstream.Credentials = []Credential{{ClientID: "a", Username: "a", Password: "pa"}, {ClientID: "b", Username: "b"}}
	r := c.Redacted()
	if r.Upstream.Password != "REDACTED" || r.Upstream.Credentials[0].Password != "REDACTED" || r.Upstream.Credentials[1].Password != "" {
		t.Errorf("Redacted() = %+v", r.Upstream)
	}
	if c.Upstream.Credentials[0].Password != "pa" {
		t.Error("Redacted() changed the original")
	}
}

func TestUpstreamTLS(t *testing.T) {
	for url, want := range map[string]bool{
		"": false, "tcp://a:1": false, "mqtt://a:1": false, "tls://a:1": true, "ssl://a:1": true, "mqtts://a:1": true,
	} {
		if got := (Upstream{URL: url}).TLS(); got != want {
			t.Errorf("TLS(%q) = %v", url, got)
		}
	}
}

func TestInlineArrays(t *testing.T) {
	c, err := Parse([]byte("[transport]\nudp = [{ listen = \"127.0.0.1:1\" }]\nxbee = [{ device = \"/dev/ttyUSB0\", baud = 115200 }]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultXBee()
	want.Device, want.Baud = "/dev/ttyUSB0", 115200
	if diff := cmp.Diff([]XBee{want}, c.Transport.XBee); diff != "" {
		t.Errorf("inline xbee (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]UDP{{Listen: "127.0.0.1:1"}}, c.Transport.UDP); diff != "" {
		t.Errorf("inline udp (-want +got):\n%s", diff)
	}
	_, err = Parse([]byte("[transport]\nudp = [{ listen = \"127.0.0.1:1\" }, { listen = \"127.0.0.1:2\", bad = 1 }]\n"))
	if err == nil || err.Error() != "unknown key transport.udp[1].bad" {
		t.Errorf("inline unknown key: %v", err)
	}
}
