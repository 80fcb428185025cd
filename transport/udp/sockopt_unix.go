//go:build unix

package udp

import (
	"fmt"
	"net"
	"syscall"
)

const msgTrunc = syscall.MSG_TRUNC

// setBroadcast sets SO_BROADCAST, needed to send to an IPv4 broadcast
// address.
func setBroadcast(uc *net.UDPConn) error {
	return setsockopt(uc, syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
}

// setRecvBuffer sets SO_RCVBUF to n bytes and logs the size the kernel
// granted. Linux caps the request at net.core.rmem_max; when it does,
// SO_RCVBUFFORCE is tried, which needs CAP_NET_ADMIN.
func (c *Conn) setRecvBuffer(n int) error {
	if err := c.uc.SetReadBuffer(n); err != nil {
		return fmt.Errorf("udp: set receive buffer %d: %w", n, err)
	}
	got, err := getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		c.log.Info().Int("requested", n).Msg("receive buffer set")
		return nil
	}
	// Linux reports twice the granted size (the doubling covers its
	// bookkeeping); other systems report the size itself.
	if got < n && forceRecvBuffer(c.uc, n) == nil {
		got, _ = getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}
	ev := c.log.Info()
	if got < n {
		ev = c.log.Warn()
	}
	ev.Int("requested", n).Int("effective", got).Msg("receive buffer set")
	return nil
}

func setsockopt(uc *net.UDPConn, level, opt, v int) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(sysFD(fd), level, opt, v)
	}); err != nil {
		return err
	}
	return serr
}

func getsockopt(uc *net.UDPConn, level, opt int) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(sysFD(fd), level, opt)
	}); err != nil {
		return 0, err
	}
	return v, serr
}

func sysFD(fd uintptr) int { return int(fd) }
