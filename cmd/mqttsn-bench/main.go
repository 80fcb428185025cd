// Command mqttsn-bench is a load generator for an MQTT-SN gateway. It
// drives many concurrent MQTT-SN clients over UDP and counts, with an MQTT
// client (paho.mqtt.golang) at the broker the gateway forwards to, what
// arrives: deliveries, loss, duplicates, order and latency (the send time
// travels in the payload).
//
// Scenarios (--scenario):
//
//	publish      N clients CONNECT, REGISTER, then PUBLISH at --rate in total
//	             (0 = as fast as each client can) for --duration; an MQTT
//	             subscriber at --broker counts.
//	connections  N clients connect (optionally go to sleep, --sleep-clients)
//	             and stay for --duration: connect rate and, with --pid, the
//	             gateway's resident memory per client.
//	fanout       N sensor clients subscribe; an MQTT client publishes at
//	             --rate on the broker; delivery and latency to the sensors.
//	broker       N MQTT clients publish straight to the broker, without the
//	             gateway: the ceiling the broker and the counting subscriber
//	             set on this machine, to read the publish figures against.
//
// Example against the embedded default (snbridge with no config: MQTT-SN
// on UDP :1884, embedded broker on 127.0.0.1:1883):
//
//	snbridge &
//	mqttsn-bench --clients 10 --qos 0 --size 32 --duration 10s --pid $!
//
// It prints a live progress line on a terminal and a report at the end;
// --json writes the report as JSON. The exit status is 0 when the run
// completed (whatever the loss), 1 when it could not run, 2 on bad usage.
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
