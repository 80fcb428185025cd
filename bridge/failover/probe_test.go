package failover_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/failover"
)

// runProbe runs p until the test ends and returns its reports.
func runProbe(t *testing.T, p *failover.Probe) <-chan bool {
	t.Helper()
	reports := make(chan bool, 16)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- p.Run(ctx, func(up bool) {
			select {
			case reports <- up:
			default:
				t.Errorf("probe report %v dropped", up)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("probe Run: %v", err)
		}
	})
	return reports
}

func nextReport(t *testing.T, reports <-chan bool, want bool) {
	t.Helper()
	select {
	case up := <-reports:
		if up != want {
			t.Fatalf("probe reported up=%v, want %v", up, want)
		}
	case <-time.After(waitLong):
		t.Fatalf("no probe report within %v", waitLong)
	}
}

// TestProbeTLS: the probe reaches a TLS listener with the [upstream] CA
// file and reports up, down when mosquitto is killed, up when it is back.
func TestProbeTLS(t *testing.T) {
	files := bridgetest.WriteTLSFiles(t)
	mq := bridgetest.StartMosquittoWith(t, bridgetest.Options{Listener: files.MosquittoListener(false), Scheme: "ssl"})
	p, err := failover.NewProbe(failover.ProbeConfig{
		URL:      mq.URL(),
		CAFile:   files.CAFile,
		ClientID: bridgetest.ClientID("probe"),
		Interval: 100 * time.Millisecond,
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	reports := runProbe(t, p)
	nextReport(t, reports, true)
	mq.Stop()
	nextReport(t, reports, false)
	mq.Start()
	nextReport(t, reports, true)
}

func TestProbeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  failover.ProbeConfig
		want string
	}{
		{"no url", failover.ProbeConfig{}, "no url"},
		{"missing ca", failover.ProbeConfig{URL: "ssl://127.0.0.1:1", CAFile: filepath.Join(dir, "none.pem")}, "ca file"},
		{"cert without key", failover.ProbeConfig{URL: "ssl://127.0.0.1:1", CertFile: "c.pem"}, "go together"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := failover.NewProbe(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
