//go:build unix && !linux

package udp

import (
	"errors"
	"net"
)

func forceRecvBuffer(*net.UDPConn, int) error { return errors.ErrUnsupported }

// rcvbufReportFactor: other systems report the SO_RCVBUF size itself.
const rcvbufReportFactor = 1

// recvBufferHint is logged with a receive buffer smaller than asked.
const recvBufferHint = "raise the system's socket buffer limit (e.g. kern.ipc.maxsockbuf)"
