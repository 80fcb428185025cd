package config

import "errors"

// unimplemented rejects the settings of features this build does not
// implement yet, so that a config asking for one fails `snbridge --check`
// instead of being silently ignored. Remove a rule here when its feature
// lands.
func unimplemented(c *Config) []error {
	var errs []error
	if c.Fallback.Enabled {
		errs = append(errs, errors.New("fallback.enabled: offline fallback is not implemented in this build"))
	}
	return errs
}
