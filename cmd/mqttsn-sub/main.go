// Command mqttsn-sub subscribes to topics at an MQTT-SN gateway and prints
// the messages it receives, in the style of mosquitto_sub.
//
//	mqttsn-sub -h gw.local -t 'site/#' -v
//	mqttsn-sub -T 1 -q 1 -C 1                   (one message on predefined id 1)
//	mqttsn-sub -t site/cmd -c -i valve-3 --sleep 5m --wake-every 1m
//	mqttsn-sub -t bin/data -F '%t %x'           (binary payloads as hex)
//
// Messages are printed in arrival order. Exit status: 0 after -C messages,
// at the end of --retained-only or on SIGINT; 1 when the gateway refuses
// or stops answering (the refusal printed in words); 2 on bad usage; 27
// when -W expires first (as mosquitto_sub). --help lists the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
