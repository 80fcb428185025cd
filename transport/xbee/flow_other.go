//go:build !linux

package xbee

import "errors"

var errNoFlowControl = errors.New("xbee: rts/cts flow control is only supported on linux")

func openFlowFD(string) (int, error) { return -1, errNoFlowControl }
func enableRTSCTS(int) error         { return errNoFlowControl }
func closeFlowFD(int)                {}
