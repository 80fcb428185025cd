// Command snbridge is the MQTT-SN gateway daemon: it serves MQTT-SN clients
// on UDP (and serial XBee radios) and carries their sessions to an upstream
// MQTT broker, or to its embedded broker when none is configured.
//
//	snbridge                 run on the embedded default (UDP :1884, embedded broker on 127.0.0.1:1883)
//	snbridge -c FILE         run from a TOML file
//	snbridge --check -c FILE validate FILE, list every problem, exit 0 (valid) or 1
//	snbridge --version       print the version
//	snbridge --pprof ADDR    also serve net/http/pprof on ADDR (e.g. 127.0.0.1:6060)
//
// Parts (run.go, mapped from the configuration by plan.go): the
// transports, the embedded broker (always, with its [broker] listener),
// the gateway and its upstream: the embedded broker when no [upstream]
// url is set; the remote broker (bridge/paho) otherwise; and with
// [fallback] enabled a bridge/failover over both, with its spool in
// data_dir/spool.db, a probe connection and the retained status topic.
// The upstream's own client ids carry the gateway id, after
// client_id_prefix: snbridge-gw<id>-aggregator (aggregating mode),
// snbridge-gw<id>-probe and snbridge-gw<id>-replay (failover), so that
// several gateways can share a broker. Messages kept for a disconnected
// persistent session are bounded at 1000 per session (the paho and
// embedded MaxPending defaults); beyond it the oldest is dropped and
// counted. Every part's counters are logged, one line per part with its
// non-zero counters, every 5 minutes and at shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/config"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs the command and returns its exit status: 0 success,
// 1 invalid configuration or runtime failure, 2 bad usage.
func realMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("snbridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration `file` (TOML); without it, the embedded default")
	check := fs.Bool("check", false, "validate the configuration, list every problem and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on `addr` (e.g. 127.0.0.1:6060; keep it on loopback); off when empty")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "snbridge: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "snbridge %s\n", version)
		return 0
	}
	cfg, err := loadConfig(*path)
	name := *path
	if name == "" {
		name = "embedded default"
	}
	if err != nil {
		fmt.Fprintf(stderr, "snbridge: %s: invalid configuration:\n", name)
		for _, p := range problems(err) {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration valid\n", name)
		return 0
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "snbridge: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info().Str("version", version).Str("config", name).Msg("snbridge starting")
	if err := run(ctx, cfg, log, pprofParts(*pprofAddr, log)...); err != nil {
		log.Error().Err(err).Msg("snbridge stopped on error")
		return 1
	}
	log.Info().Msg("snbridge stopped")
	return 0
}

// loadConfig loads the file at path, or the validated embedded default.
func loadConfig(path string) (config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	cfg := config.Default()
	return cfg, cfg.Validate()
}

// problems splits an error that joins several (errors.Join) into one line
// per problem.
func problems(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// newLogger builds the root logger from the [log] table: console (human,
// on w) or JSON lines, at the configured level.
func newLogger(l config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := l.ZerologLevel()
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	switch l.Format {
	case config.FormatJSON:
	case config.FormatConsole, "":
		f, isFile := w.(*os.File)
		color := isFile && isatty.IsTerminal(f.Fd())
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !color}
	default:
		return zerolog.Nop(), errors.New("log.format: must be console or json")
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
