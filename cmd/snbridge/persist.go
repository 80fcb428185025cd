package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge/state"
	"github.com/snbridge/snbridge/config"
)

// File names inside [fallback] data_dir.
const (
	stateFile  = "state.db"  // MQTT-SN sessions (bridge/state)
	brokerFile = "broker.db" // embedded broker: retained messages, local persistent sessions
)

// openState prepares [fallback] data_dir and opens the session store in
// it. Without a data_dir nothing is persisted: it returns nil and "".
// brokerStore is the embedded broker's store file.
func openState(cfg config.Config, log zerolog.Logger) (st *state.Store, brokerStore string, err error) {
	dir := cfg.Fallback.DataDir
	if dir == "" {
		log.Info().Msg("no fallback.data_dir: sessions and retained messages are not kept across restarts")
		return nil, "", nil
	}
	if err := writableDir(dir); err != nil {
		return nil, "", err
	}
	st, err = state.Open(state.Config{
		Path:   filepath.Join(dir, stateFile),
		Logger: log,
	})
	if err != nil {
		return nil, "", err
	}
	log.Info().Str("data_dir", dir).Int("sessions", len(st.Records())).Msg("state store opened")
	return st, filepath.Join(dir, brokerFile), nil
}

// writableDir creates dir if needed and checks that files can be made in
// it, so that a wrong data_dir fails start-up with a clear message.
func writableDir(dir string) error {
	hint := "create it writable for the user snbridge runs as, or set [fallback] data_dir to such a directory"
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("fallback.data_dir: %w (%s)", err, hint)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("fallback.data_dir: %s is not writable: %w (%s)", dir, err, hint)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// closeState closes the session store after the gateway has stopped.
func closeState(st *state.Store, log zerolog.Logger) {
	if st == nil {
		return
	}
	if err := st.Close(); err != nil {
		log.Error().Err(err).Msg("state store not closed cleanly")
	}
}
