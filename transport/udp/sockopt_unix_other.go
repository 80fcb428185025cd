//go:build unix && !linux

package udp

import (
	"errors"
	"net"
)

func forceRecvBuffer(*net.UDPConn, int) error { return errors.ErrUnsupported }
