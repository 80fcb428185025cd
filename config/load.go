package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path over Default and validates the result.
//
// Every problem is reported at once, joined with errors.Join: each unknown
// key ("unknown key gateway.advertize") and each Validate problem, prefixed
// by its TOML path. A syntax error, or a value of the wrong type, stops
// decoding and is reported alone, with its line and column.
//
// Relative ca_file, cert_file, key_file and data_dir paths are taken
// relative to the directory of path (not the working directory).
//
// A [[transport.udp]] array in the file replaces the default listener; a
// file without one keeps it ("udp = []" under [transport] removes it).
// Keys left out of a [[transport.xbee]] entry take DefaultXBee's values.
//
// The returned Config is usable only when the error is nil.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(data, filepath.Dir(path))
}

// Parse is Load for TOML held in memory. Relative file paths stay
// relative to the working directory.
func Parse(data []byte) (Config, error) {
	return parse(data, "")
}

func parse(data []byte, dir string) (Config, error) {
	// First pass into a generic tree: it finds syntax errors, counts the
	// [[transport.xbee]] entries so that each starts from DefaultXBee, and
	// gives unknown keys inside arrays of tables their index.
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return Config{}, decodeError(err)
	}

	cfg := Default()
	cfg.Transport.UDP = nil // a file's [[transport.udp]] replaces the default listener
	if n := len(tableArray(raw, "transport", "xbee")); n > 0 {
		cfg.Transport.XBee = make([]XBee, n)
		for i := range cfg.Transport.XBee {
			cfg.Transport.XBee[i] = DefaultXBee()
		}
	}
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return Config{}, decodeError(err)
	}
	if !md.IsDefined("transport", "udp") {
		cfg.Transport.UDP = Default().Transport.UDP
	}

	errs := unknownKeys(md.Undecoded(), raw)
	if dir != "" {
		cfg.resolvePaths(dir)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// decodeError gives a toml.ParseError its line, column and source excerpt.
func decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return errors.New(strings.TrimRight(pe.ErrorWithPosition(), "\n"))
	}
	return err
}

// tableArray returns the array of tables at key in raw, written as
// [[x.y]] sections or inline (y = [{...}]), or nil.
func tableArray(raw map[string]any, key ...string) []any {
	var node any = raw
	for _, k := range key {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[k]
	}
	switch arr := node.(type) {
	case []map[string]any:
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = e
		}
		return out
	case []any:
		return arr
	}
	return nil
}

// unknownKeys turns undecoded keys into errors, naming only the outermost
// unknown key (an unknown table, not each key inside it) and giving each
// occurrence inside an array of tables its index: transport.xbee[1].bad.
func unknownKeys(undecoded []toml.Key, raw map[string]any) []error {
	seen := make(map[string]bool, len(undecoded))
	var errs []error
	for _, k := range undecoded {
		s := k.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		parentUnknown := false
		for i := 1; i < len(k); i++ {
			if seen[k[:i].String()] {
				parentUnknown = true
				break
			}
		}
		if parentUnknown {
			continue
		}
		paths := keyPaths(raw, k, "")
		if len(paths) == 0 {
			paths = []string{s}
		}
		for _, p := range paths {
			errs = append(errs, fmt.Errorf("unknown key %s", p))
		}
	}
	return errs
}

// keyPaths finds every occurrence of key under node and returns its path
// with array indexes.
func keyPaths(node any, key toml.Key, prefix string) []string {
	if len(key) == 0 {
		return []string{prefix}
	}
	switch n := node.(type) {
	case map[string]any:
		v, ok := n[key[0]]
		if !ok {
			return nil
		}
		p := toml.Key{key[0]}.String()
		if prefix != "" {
			p = prefix + "." + p
		}
		return keyPaths(v, key[1:], p)
	case []map[string]any:
		var out []string
		for i, e := range n {
			out = append(out, keyPaths(e, key, prefix+"["+strconv.Itoa(i)+"]")...)
		}
		return out
	case []any:
		var out []string
		for i, e := range n {
			out = append(out, keyPaths(e, key, prefix+"["+strconv.Itoa(i)+"]")...)
		}
		return out
	}
	return nil
}

// resolvePaths makes relative file paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	for _, p := range []*string{&c.Upstream.CAFile, &c.Upstream.CertFile, &c.Upstream.KeyFile, &c.Fallback.DataDir} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
