//go:build linux

package xbee

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// go.bug.st/serial v1.8 clears CRTSCTS when it opens a port and has no
// setting to turn it on, so RTS/CTS flow control is set here through a
// second descriptor of the same tty (termios belong to the tty, not to
// the descriptor). The descriptor is opened before serial.Open, which
// takes exclusive access (TIOCEXCL) of the tty.

// openFlowFD opens path for setting its termios next to go.bug.st/serial.
func openFlowFD(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("xbee: open %s for flow control: %w", path, err)
	}
	return fd, nil
}

// enableRTSCTS turns on hardware flow control of the tty open as fd and
// closes fd.
func enableRTSCTS(fd int) error {
	defer unix.Close(fd)
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("xbee: get termios: %w", err)
	}
	t.Cflag |= unix.CRTSCTS
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("xbee: set rts/cts flow control: %w", err)
	}
	return nil
}

func closeFlowFD(fd int) { unix.Close(fd) }
