// Command mqttsn-pub publishes MQTT-SN messages to a gateway, in the style
// of mosquitto_pub.
//
//	mqttsn-pub -h gw.local -t site/temp -m 21.5 -q 1
//	mqttsn-pub -T 1 -q -1 -m alarm            (QoS -1: no CONNECT, predefined id 1)
//	mqttsn-pub -t ab -m x                      (a 2-character -t is a short topic name)
//	mqttsn-pub -t site/log -l < lines.txt      (one message per line)
//	mqttsn-pub --xbee /dev/ttyUSB1 -t site/temp -m 21.5
//
// It exits 0 only when every message was acknowledged as its QoS
// requires, 1 otherwise (a refusal prints the return code in words, such
// as "rejected: invalid topic id"), 2 on bad usage. --help lists the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
