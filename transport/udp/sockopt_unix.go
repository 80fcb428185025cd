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
// SO_RCVBUFFORCE is tried, which needs CAP_NET_ADMIN. A buffer still
// smaller than asked is logged at warn.
func (c *Conn) setRecvBuffer(n int) error { return c.setRecvBufferForce(n, forceRecvBuffer) }

// setRecvBufferForce is setRecvBuffer with the SO_RCVBUFFORCE step given,
// so that a test can take the path of a process without CAP_NET_ADMIN.
func (c *Conn) setRecvBufferForce(n int, force func(*net.UDPConn, int) error) error {
	if err := c.uc.SetReadBuffer(n); err != nil {
		return fmt.Errorf("udp: set receive buffer %d: %w", n, err)
	}
	got, err := c.recvBuffer()
	if err != nil {
		c.log.Info().Int("requested", n).Msg("receive buffer set")
		return nil
	}
	if got < n && force(c.uc, n) == nil {
		if g, err := c.recvBuffer(); err == nil {
			got = g
		}
	}
	ev := c.log.Info()
	if got < n {
		ev = c.log.Warn().Str("hint", recvBufferHint)
	}
	ev.Int("requested", n).Int("effective", got).Msg("receive buffer set")
	return nil
}

// recvBuffer returns the receive buffer size the kernel granted: the
// SO_RCVBUF value, halved on Linux, which reports twice the size it was
// asked for (the doubling covers its bookkeeping).
func (c *Conn) recvBuffer() (int, error) {
	v, err := getsockopt(c.uc, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		return 0, err
	}
	return v / rcvbufReportFactor, nil
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
