package config

import (
	"path/filepath"
	"testing"

	"github.com/snbridge/snbridge/transport/udp"
)

// TestUDPListenAgreesWithTransport: a [[transport.udp]] listen address
// passes Validate exactly when the UDP transport can open it, so that
// `snbridge --check` never passes a file the daemon then fails to start
// with (a host name was the case that slipped through).
func TestUDPListenAgreesWithTransport(t *testing.T) {
	for _, listen := range []string{
		"0.0.0.0:1884", "127.0.0.1:0", "[::]:1884", "[::1]:0", ":1885", ":0",
		"[::ffff:127.0.0.1]:1884", "[fe80::1%eth0]:1884",
		"localhost:18844", "gateway.example:1884", "localhost:0", "bad_host!:1884",
		"::1:1884", "0.0.0.0:http", "0.0.0.0:70000", "127.0.0.1", "",
	} {
		c := Default()
		c.Transport.UDP = []UDP{{Listen: listen}}
		cfgErr := c.Validate()
		udpErr := udp.CheckListen(listen)
		if (cfgErr == nil) != (udpErr == nil) {
			t.Errorf("listen %q: Validate() = %v but udp.CheckListen = %v", listen, cfgErr, udpErr)
		}
	}
}

// TestValidFilesUDPListenOpens: every UDP listen address of every valid
// testdata file is one the transport takes.
func TestValidFilesUDPListenOpens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "valid", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid files: %v", err)
	}
	n := 0
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Fatalf("Load(%s): %v", f, err)
		}
		for i, u := range c.Transport.UDP {
			n++
			if err := udp.CheckListen(u.Listen); err != nil {
				t.Errorf("%s: transport.udp[%d].listen %q: %v", filepath.Base(f), i, u.Listen, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no UDP listener in the valid files")
	}
}

// TestRetryAndSleepBufferAtLeastOne: 0 is refused rather than silently
// replaced by the session layer's defaults; 1 is accepted.
func TestRetryAndSleepBufferAtLeastOne(t *testing.T) {
	c := Default()
	c.Gateway.RetryCount, c.Gateway.SleepBuffer = 0, 0
	err := c.Validate()
	want := "gateway.retry_count: 0 must be at least 1 (resends before a client is considered lost; the spec suggests 3..5)\n" +
		"gateway.sleep_buffer: 0 must be at least 1 (messages kept per sleeping client)"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v\nwant %s", err, want)
	}
	c.Gateway.RetryCount, c.Gateway.SleepBuffer = 1, 1
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() with 1 and 1 = %v", err)
	}
}
