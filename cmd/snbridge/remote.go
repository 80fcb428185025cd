package main

import (
	"errors"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/config"
)

// newRemote returns the upstream of the remote broker named by [upstream].
func newRemote(cfg config.Config, log zerolog.Logger) (bridge.Upstream, error) {
	return nil, errors.New("upstream: remote broker not available yet")
}
