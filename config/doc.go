// Package config is the snbridge configuration: the TOML schema
// (BurntSushi/toml) as Go types, the embedded default, loading and
// validation.
//
// [Load] starts from [Default], decodes the file over it and validates the
// result. It reports every problem at once (errors.Join), each prefixed by
// its TOML path: unknown keys ("unknown key gateway.advertize",
// "unknown key transport.xbee[1].bad") and every rule of
// [Config.Validate] ("transport.xbee[0].baud: unsupported rate 12345").
// A TOML syntax error or a value of the wrong type stops decoding and is
// reported alone, with its line and column.
//
// Settings of features that this build does not implement yet are
// rejected by Validate with a clear message; the list lives in
// unimplemented.go.
//
// What it does not do: open sockets, serial ports or data directories,
// resolve host names or watch the file for changes. Validate only reads
// the TLS files named in [upstream] to check they are usable.
//
// Concurrency: a Config is a plain value with no hidden state; the
// functions here keep nothing and may be called from any goroutine. The
// slices in a Config (transports, predefined topics, credentials) are
// shared by copies of it: treat a loaded Config as read-only.
package config
