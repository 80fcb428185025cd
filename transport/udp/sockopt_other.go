//go:build !unix

package udp

import (
	"errors"
	"fmt"
	"net"
)

// msgTrunc is not reported on this system: truncated datagrams go unseen.
const msgTrunc = 0

func setBroadcast(*net.UDPConn) error { return errors.ErrUnsupported }

func (c *Conn) setRecvBuffer(n int) error {
	if err := c.uc.SetReadBuffer(n); err != nil {
		return fmt.Errorf("udp: set receive buffer %d: %w", n, err)
	}
	c.log.Info().Int("requested", n).Msg("receive buffer set")
	return nil
}
