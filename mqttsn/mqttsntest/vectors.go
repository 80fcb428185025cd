package mqttsntest

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// Vector is one golden packet.
type Vector struct {
	Name   string // file name without .hex, e.g. "publish_qos0"
	Path   string // path of the .hex file
	Golden string // path of the sibling .golden file (which may not exist yet)
	Bytes  []byte // the datagram
}

// Dir returns the directory of the shared vectors, testdata/mqttsn at the
// repository root, located from this source file.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("testdata", "mqttsn")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "mqttsn")
}

// ParseHex decodes annotated hex: on each line, everything from '#' on is
// a comment, and the rest is hex octets separated by optional spaces.
func ParseHex(text string) ([]byte, error) {
	var out []byte
	for i, line := range strings.Split(text, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		digits := strings.Join(strings.Fields(line), "")
		b, err := hex.DecodeString(digits)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// Load reads every *.hex file in dir, sorted by name.
func Load(dir string) ([]Vector, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.hex"))
	if err != nil {
		return nil, fmt.Errorf("mqttsntest: list %s: %w", dir, err)
	}
	sort.Strings(paths)
	vs := make([]Vector, 0, len(paths))
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("mqttsntest: %w", err)
		}
		b, err := ParseHex(string(text))
		if err != nil {
			return nil, fmt.Errorf("mqttsntest: %s: %w", p, err)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".hex")
		vs = append(vs, Vector{
			Name:   name,
			Path:   p,
			Golden: strings.TrimSuffix(p, ".hex") + ".golden",
			Bytes:  b,
		})
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("mqttsntest: no *.hex vectors in %s", dir)
	}
	return vs, nil
}

// Vectors loads the shared vectors from [Dir], failing tb on error.
func Vectors(tb testing.TB) []Vector {
	tb.Helper()
	vs, err := Load(Dir())
	if err != nil {
		tb.Fatal(err)
	}
	return vs
}
