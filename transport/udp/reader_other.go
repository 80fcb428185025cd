//go:build !linux

package udp

import "net"

// newReader returns a reader doing one system call per datagram: batched
// reads (recvmmsg) are implemented on Linux only.
func newReader(uc *net.UDPConn, _ int) reader { return plainReader{uc} }
