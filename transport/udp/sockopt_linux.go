package udp

import (
	"net"
	"syscall"
)

// rcvbufReportFactor: Linux reports twice the SO_RCVBUF size it was asked
// for (socket(7)).
const rcvbufReportFactor = 2

// recvBufferHint is logged with a receive buffer smaller than asked.
const recvBufferHint = "raise net.core.rmem_max (sysctl -w net.core.rmem_max=BYTES) or run with CAP_NET_ADMIN"

// forceRecvBuffer sets SO_RCVBUFFORCE, which ignores net.core.rmem_max
// when the process has CAP_NET_ADMIN.
func forceRecvBuffer(uc *net.UDPConn, n int) error {
	return setsockopt(uc, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
}
