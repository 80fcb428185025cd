package config

import (
	"fmt"

	"github.com/rs/zerolog"
)

// Log formats.
const (
	FormatConsole = "console" // human-readable, for a terminal
	FormatJSON    = "json"    // one JSON object per line
)

var logLevels = map[string]zerolog.Level{
	"trace": zerolog.TraceLevel,
	"debug": zerolog.DebugLevel,
	"info":  zerolog.InfoLevel,
	"warn":  zerolog.WarnLevel,
	"error": zerolog.ErrorLevel,
}

// ZerologLevel returns the zerolog level named by l.Level.
func (l Log) ZerologLevel() (zerolog.Level, error) {
	lv, ok := logLevels[l.Level]
	if !ok {
		return zerolog.NoLevel, fmt.Errorf("log.level: %q is not one of trace, debug, info, warn, error", l.Level)
	}
	return lv, nil
}
