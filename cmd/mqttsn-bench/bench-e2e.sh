#!/usr/bin/env bash
# bench-e2e: the standard mqttsn-bench set against a real mosquitto and the
# real gateway, both started (and stopped) here on free loopback ports:
# 10 clients, 32-byte payloads, transparent and aggregating, and per mode
# QoS 0 at 10,000 msg/s (the latency target), QoS 0 at 100,000 msg/s (the
# throughput target) and QoS 1 as fast as acknowledgements allow.
#
#   make bench-e2e                      (builds ./bin first)
#   BIN=bin DURATION=10s RUNS="0:0 1:0" cmd/mqttsn-bench/bench-e2e.sh
#
# Environment: BIN (directory of snbridge and mqttsn-bench, default bin),
# DURATION (per run, default 5s), RUNS (QOS:RATE pairs, RATE in msg/s in
# total, 0 = unpaced; default "0:10000 0:100000 1:0"), CLIENTS (default
# 10), SIZE (default 32), MODES, OUT (directory for the JSON reports;
# default a temporary one, removed at the end).
set -euo pipefail

BIN=${BIN:-bin}
DURATION=${DURATION:-5s}
RUNS=${RUNS:-"0:10000 0:100000 1:0"}
CLIENTS=${CLIENTS:-10}
SIZE=${SIZE:-32}
MODES=${MODES:-"transparent aggregating"}

mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ ! -x "$mosquitto" ]; then
	echo "bench-e2e: mosquitto not found (apt-get install mosquitto)" >&2
	exit 1
fi
for b in snbridge mqttsn-bench mqttsn-pub; do
	[ -x "$BIN/$b" ] || { echo "bench-e2e: $BIN/$b missing (make build)" >&2; exit 1; }
done

tmp=$(mktemp -d)
out=${OUT:-$tmp}
mkdir -p "$out"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# free_port prints a port that nothing listens on (TCP and UDP), per ss.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Htuln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
}

# start_mosquitto starts a broker, retrying on another port if it cannot bind.
start_mosquitto() {
	local i
	for i in 1 2 3 4 5; do
		mport=$(free_port)
		cat >"$tmp/mosquitto.conf" <<-EOF
			listener $mport 127.0.0.1
			allow_anonymous true
			persistence false
			max_queued_messages 0
			# Nagle on the subscriber's connection adds milliseconds of
			# latency at moderate rates; the counting subscriber must not.
			set_tcp_nodelay true
			log_dest stderr
			log_type error
			log_type warning
		EOF
		"$mosquitto" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.log" &
		mpid=$!
		local t
		for t in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null; then
				pids+=("$mpid")
				return
			fi
			kill -0 "$mpid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$mpid" 2>/dev/null || true
	done
	echo "bench-e2e: mosquitto did not start:" >&2
	cat "$tmp/mosquitto.log" >&2
	exit 1
}

# start_gateway MODE starts snbridge against the broker.
start_gateway() {
	local mode=$1 i t
	for i in 1 2 3 4 5; do
		gport=$(free_port)
		cat >"$tmp/snbridge.toml" <<-EOF
			[gateway]
			mode = "$mode"
			[[transport.udp]]
			listen = "127.0.0.1:$gport"
			recv_buffer = "4MiB"
			[upstream]
			url = "tcp://127.0.0.1:$mport"
			[broker]
			listen = ""
			[[predefined]]
			id = 1
			topic = "bench/predefined"
			[log]
			level = "warn"
			format = "json"
		EOF
		"$BIN/snbridge" -c "$tmp/snbridge.toml" 2>"$tmp/snbridge-$mode.log" &
		gpid=$!
		for t in $(seq 50); do
			if "$BIN/mqttsn-pub" -h 127.0.0.1 -p "$gport" -t bench/ready -m up -W 0.2 -i bench-ready 2>/dev/null; then
				return
			fi
			kill -0 "$gpid" 2>/dev/null || break
		done
		kill "$gpid" 2>/dev/null || true
		wait "$gpid" 2>/dev/null || true
	done
	echo "bench-e2e: snbridge ($mode) did not start:" >&2
	cat "$tmp/snbridge-$mode.log" >&2
	exit 1
}

stop_gateway() {
	kill "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
}

start_mosquitto
printf '%-12s %-4s %7s %10s %10s %8s %10s %9s %9s %9s %7s %8s %9s\n' \
	mode qos rate sent delivered loss% msg/s p50ms p99ms maxms cpu% rssMB udpdrops
for mode in $MODES; do
	start_gateway "$mode"
	for run in $RUNS; do
		qos=${run%%:*} rate=${run#*:}
		report="$out/bench-$mode-qos$qos-rate$rate.json"
		"$BIN/mqttsn-bench" -h 127.0.0.1 -p "$gport" --broker "tcp://127.0.0.1:$mport" \
			--clients "$CLIENTS" --qos "$qos" --size "$SIZE" --rate "$rate" --duration "$DURATION" \
			--pid "$gpid" --json >"$report"
		# One summary line per run (the JSON report has everything).
		awk -v mode="$mode" -v qos="$qos" -v target="$rate" '
			/"sent":/ {gsub(/[^0-9.]/,"",$2); sent=$2}
			/"delivered":/ {gsub(/[^0-9.]/,"",$2); del=$2}
			/"loss_percent":/ {gsub(/[^0-9.]/,"",$2); loss=$2}
			/"rate":/ && !/target/ {gsub(/[^0-9.]/,"",$2); dr=$2}
			/"p50":/ {gsub(/[^0-9.]/,"",$2); p50=$2}
			/"p99":/ {gsub(/[^0-9.]/,"",$2); p99=$2}
			/"max":/ {gsub(/[^0-9.]/,"",$2); mx=$2}
			/"cpu_percent":/ {gsub(/[^0-9.]/,"",$2); cpu=$2}
			/"rss_mb":/ {gsub(/[^0-9.]/,"",$2); rss=$2}
			/"udp_drops":/ {gsub(/[^0-9.]/,"",$2); drops=$2}
			END {printf "%-12s %-4s %7s %10s %10s %8s %10s %9s %9s %9s %7s %8s %9s\n", mode, qos, target, sent, del, loss, dr, p50, p99, mx, cpu, rss, drops}
		' "$report"
		if ! grep -q '"delivered"' "$report"; then
			echo "bench-e2e: no report for $mode QoS $qos rate $rate" >&2
			exit 1
		fi
	done
	stop_gateway
done
[ -n "${OUT:-}" ] && echo "reports in $out"
exit 0
