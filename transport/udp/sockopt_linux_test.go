package udp

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// rmemMax reads net.core.rmem_max, the cap of a plain SO_RCVBUF request.
func rmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("rmem_max %q: %v", b, err)
	}
	return n
}

// recvBufferLog is the "receive buffer set" line of a Listen.
type recvBufferLog struct {
	Level     string `json:"level"`
	Requested int    `json:"requested"`
	Effective int    `json:"effective"`
	Hint      string `json:"hint"`
}

func lastRecvBufferLog(t *testing.T, out *bytes.Buffer) recvBufferLog {
	t.Helper()
	var found *recvBufferLog
	for line := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var l struct {
			recvBufferLog
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Message == "receive buffer set" {
			found = &l.recvBufferLog
		}
	}
	if found == nil {
		t.Fatalf("no \"receive buffer set\" line in:\n%s", out)
	}
	return *found
}

// listenLogged opens a listener without a receive buffer and returns it
// with the buffer its logger writes JSON to.
func listenLogged(t *testing.T) (*Conn, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	c, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.log = zerolog.New(zerolog.MultiLevelWriter(&out, zerolog.NewTestWriter(t)))
	return c, &out
}

// overRmemMax is a request above net.core.rmem_max but below twice it:
// the case where comparing Linux's doubled SO_RCVBUF report with the
// request hid the cap (6 MiB asked with rmem_max 4 MiB reads 8 MiB).
func overRmemMax(t *testing.T) int {
	rmem := rmemMax(t)
	req := rmem + rmem/2
	if req > math.MaxInt32/2 {
		t.Fatalf("net.core.rmem_max = %d is too large to request more than it", rmem)
	}
	return req
}

// TestRecvBufferOverRmemMaxWarns takes the path of a process without
// CAP_NET_ADMIN (SO_RCVBUFFORCE refused): the buffer stays at rmem_max,
// and the log says so at warn with the real, undoubled size.
func TestRecvBufferOverRmemMaxWarns(t *testing.T) {
	rmem, req := rmemMax(t), overRmemMax(t)
	c, out := listenLogged(t)
	forced := false
	noCap := func(*net.UDPConn, int) error { forced = true; return syscall.EPERM }
	if err := c.setRecvBufferForce(req, noCap); err != nil {
		t.Fatal(err)
	}
	if !forced {
		t.Error("SO_RCVBUFFORCE was not tried for a request above rmem_max")
	}
	l := lastRecvBufferLog(t, out)
	if l.Level != "warn" || l.Requested != req || l.Effective != rmem || l.Hint == "" {
		t.Errorf("log = %+v, want warn with requested %d, effective %d (rmem_max) and a hint", l, req, rmem)
	}
	got, err := c.recvBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if got != rmem {
		t.Errorf("granted %d, want rmem_max %d", got, rmem)
	}
}

// TestRecvBufferOverRmemMax asks for more than rmem_max with the real
// SO_RCVBUFFORCE. With CAP_NET_ADMIN (root in CI) the force succeeds and
// the effective size is at least the request, logged at info; without it
// the log warns and shows rmem_max. Either way the log tells the truth.
func TestRecvBufferOverRmemMax(t *testing.T) {
	rmem, req := rmemMax(t), overRmemMax(t)
	var out bytes.Buffer
	c, err := Listen(Config{
		Listen:     "127.0.0.1:0",
		RecvBuffer: req,
		Logger:     zerolog.New(zerolog.MultiLevelWriter(&out, zerolog.NewTestWriter(t))),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	l := lastRecvBufferLog(t, &out)
	if l.Requested != req || l.Effective != raw/2 {
		t.Errorf("log = %+v, want requested %d and effective %d (SO_RCVBUF %d halved)", l, req, raw/2, raw)
	}
	forceErr := forceRecvBuffer(c.uc, req)
	switch {
	case forceErr == nil: // CAP_NET_ADMIN
		if raw/2 < req || l.Level != "info" {
			t.Errorf("with SO_RCVBUFFORCE allowed: effective %d, log %+v; want >= %d at info", raw/2, l, req)
		}
	case errors.Is(forceErr, syscall.EPERM):
		if raw/2 != rmem || l.Level != "warn" {
			t.Errorf("without CAP_NET_ADMIN: effective %d, log %+v; want rmem_max %d at warn", raw/2, l, rmem)
		}
	default:
		t.Fatalf("SO_RCVBUFFORCE: %v", forceErr)
	}
}

// TestRecvBufferWithinRmemMax: a request under the cap is granted as is
// and logged at info with the real size, without forcing.
func TestRecvBufferWithinRmemMax(t *testing.T) {
	req := min(rmemMax(t)/2, 64<<10)
	c, out := listenLogged(t)
	forced := false
	if err := c.setRecvBufferForce(req, func(*net.UDPConn, int) error { forced = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if forced {
		t.Error("SO_RCVBUFFORCE tried for a request within rmem_max")
	}
	if l := lastRecvBufferLog(t, out); l.Level != "info" || l.Requested != req || l.Effective != req {
		t.Errorf("log = %+v, want info with requested = effective = %d", l, req)
	}
}
