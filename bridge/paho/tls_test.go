package paho

import (
	"strings"
	"testing"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

func TestTLS(t *testing.T) {
	f := bridgetest.WriteTLSFiles(t, "broker.test")
	other := bridgetest.WriteTLSFiles(t) // a CA the broker's certificate is not from
	m := bridgetest.StartMosquittoWith(t, bridgetest.Options{Listener: f.MosquittoListener(true), Scheme: "tls"})
	ok := Config{URL: m.URL(), CAFile: f.CAFile, CertFile: f.ClientCert, KeyFile: f.ClientKey}

	for _, tt := range []struct {
		name    string
		change  func(c *Config)
		wantErr string
	}{
		{"ip in certificate", func(c *Config) {}, ""},
		{"server name", func(c *Config) { c.ServerName = "broker.test" }, ""},
		{"ssl scheme", func(c *Config) { c.URL = strings.Replace(c.URL, "tls://", "ssl://", 1) }, ""},
		{"mqtts scheme", func(c *Config) { c.URL = strings.Replace(c.URL, "tls://", "mqtts://", 1) }, ""},
		{"wrong server name", func(c *Config) { c.ServerName = "elsewhere.test" }, "certificate"},
		{"unknown CA", func(c *Config) { c.CAFile = other.CAFile }, "certificate"},
		{"no client certificate", func(c *Config) { c.CertFile, c.KeyFile = "", "" }, "connect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			u := newUpstream(t, cfg)
			s, err := upstreamtest.TryOpen(t, u, info("tls-"+strings.ReplaceAll(tt.name, " ", "-"), true))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("open: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			s.MustSubscribe("tls/echo", 1)
			s.MustPublish(bridge.Message{Topic: "tls/echo", Payload: []byte("over tls"), QoS: 1})
			if got := s.Recv(timeout); string(got.Payload) != "over tls" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	pw := bridgetest.WritePasswordFile(t, map[string]string{"gw": "gwpass", "alice": "alicepw", "bob": "bobpw"})
	m := bridgetest.StartMosquittoWith(t, bridgetest.Options{DenyAnonymous: true, Extra: "password_file " + pw})
	u := newUpstream(t, Config{
		URL:      m.URL(),
		Username: "gw", Password: "gwpass",
		Credentials: map[string]Credential{
			"sensor-a": {Username: "alice", Password: "alicepw"},
			"sensor-x": {Username: "alice", Password: "wrong"},
		},
	})
	for _, tt := range []struct {
		name     string
		info     bridge.ClientInfo
		wantUser string // "" = refused
	}{
		{"gateway's own", bridge.ClientInfo{ClientID: "sensor-z", CleanSession: true}, "gw"},
		{"per client from config", bridge.ClientInfo{ClientID: "sensor-a", CleanSession: true}, "alice"},
		{"from the client", bridge.ClientInfo{ClientID: "sensor-b", CleanSession: true, Username: "bob", Password: "bobpw"}, "bob"},
		{"wrong password", bridge.ClientInfo{ClientID: "sensor-x", CleanSession: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := upstreamtest.TryOpen(t, u, tt.info)
			if tt.wantUser == "" {
				if err == nil {
					t.Fatal("open succeeded, want refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			s.MustSubscribe("x", 0) // a round trip: the connect is logged by now
			if want := "as snb-" + tt.info.ClientID + " (p2, c1, k60, u'" + tt.wantUser + "')"; !strings.Contains(m.Logs(), want) {
				t.Errorf("broker log lacks %q", want)
			}
		})
	}
}
