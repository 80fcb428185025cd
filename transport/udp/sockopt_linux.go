package udp

import (
	"net"
	"syscall"
)

// forceRecvBuffer sets SO_RCVBUFFORCE, which ignores net.core.rmem_max
// when the process has CAP_NET_ADMIN.
func forceRecvBuffer(uc *net.UDPConn, n int) error {
	return setsockopt(uc, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
}
