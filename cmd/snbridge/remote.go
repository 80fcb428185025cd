package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/config"
)

// newRemote returns the upstream of the remote broker named by [upstream],
// in the [gateway] mode, and routes paho's own loggers to log.
func newRemote(cfg config.Config, log zerolog.Logger) (bridge.Upstream, error) {
	mode, err := paho.ParseMode(cfg.Gateway.Mode)
	if err != nil {
		return nil, fmt.Errorf("gateway.mode: %w", err)
	}
	u := cfg.Upstream
	pc := paho.Config{
		URL:            u.URL,
		Username:       u.Username,
		Password:       u.Password,
		ClientIDPrefix: u.ClientIDPrefix,
		CAFile:         u.CAFile,
		CertFile:       u.CertFile,
		KeyFile:        u.KeyFile,
		ServerName:     u.ServerName,
		Mode:           mode,
		Logger:         log,
	}
	if len(u.Credentials) > 0 {
		pc.Credentials = make(map[string]paho.Credential, len(u.Credentials))
		for _, c := range u.Credentials {
			pc.Credentials[c.ClientID] = paho.Credential{Username: c.Username, Password: c.Password}
		}
	}
	paho.SetLogger(log)
	up, err := paho.New(pc)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	return up, nil
}
