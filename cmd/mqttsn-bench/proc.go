package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is a reading of a process's CPU time and memory.
type procSample struct {
	at     time.Time
	cpu    time.Duration // utime + stime
	rss    int64         // VmRSS, bytes
	rssMax int64         // VmHWM (peak RSS), bytes
}

// readProc samples /proc/PID/stat and /proc/PID/status.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("gateway pid %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("gateway pid %d: malformed stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state(3) ... utime(14) stime(15), i.e. f[11], f[12].
	if len(f) < 13 {
		return s, fmt.Errorf("gateway pid %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("gateway pid %d: bad utime/stime", pid)
	}
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("gateway pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.rss = kB(v)
		case "VmHWM":
			s.rssMax = kB(v)
		}
	}
	return s, nil
}

// kB parses "   1234 kB" into bytes.
func kB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n * 1024
}

// Gateway is the gateway's resource use in a report (with --pid).
type Gateway struct {
	Pid            int     `json:"pid"`
	CPUPercent     float64 `json:"cpu_percent"` // of one core, over the measured window
	RSSMB          float64 `json:"rss_mb"`
	RSSPeakMB      float64 `json:"rss_peak_mb"`
	RSSBeforeMB    float64 `json:"rss_before_mb"`
	RSSPerClientKB float64 `json:"rss_per_client_kb,omitempty"` // connections scenario
	// CPUMicrosPerMsg is the gateway's CPU time per message sent in the
	// window: its cost, less sensitive than msg/s to what else the
	// machine runs.
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
	// UDPDrops counts datagrams the kernel dropped because the gateway's
	// socket buffer was full, during the run (gateway on this machine).
	UDPDrops int64 `json:"udp_drops"`
}

// gatewayUse compares two samples.
func gatewayUse(pid int, a, b procSample) *Gateway {
	g := &Gateway{Pid: pid, RSSMB: mb(b.rss), RSSPeakMB: mb(b.rssMax), RSSBeforeMB: mb(a.rss)}
	if wall := b.at.Sub(a.at); wall > 0 {
		g.CPUPercent = round2(100 * float64(b.cpu-a.cpu) / float64(wall))
	}
	return g
}

// perMessage sets CPUMicrosPerMsg from the samples and a message count.
func (g *Gateway) perMessage(a, b procSample, msgs int64) {
	if msgs > 0 {
		g.CPUMicrosPerMsg = round2(float64((b.cpu - a.cpu).Microseconds()) / float64(msgs))
	}
}

func mb(b int64) float64 { return round2(float64(b) / (1 << 20)) }

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// udpDrops returns the receive-buffer drops the kernel counted for the
// UDP sockets bound to port (any address), from /proc/net/udp and udp6:
// datagrams the gateway lost because it did not read them in time.
func udpDrops(port int) (int64, error) {
	var total int64
	found := false
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 13 {
				continue
			}
			_, p, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if v, err := strconv.ParseUint(p, 16, 16); err != nil || int(v) != port {
				continue
			}
			d, err := strconv.ParseInt(fs[len(fs)-1], 10, 64)
			if err != nil {
				continue
			}
			total += d
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("no udp socket on port %d", port)
	}
	return total, nil
}
