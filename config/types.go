package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string
// ("10s", "15m", "168h").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns the Go duration form, e.g. "15m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a Go duration such as \"10s\", \"15m\" or \"168h\")", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go duration form, which UnmarshalText reads back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ByteSize is a size in bytes. TOML gives it as an integer (4194304) or a
// string with a unit: "512", "4KiB", "256MiB", "1GiB", "1TiB" (powers of
// 1024) or "4KB", "1MB", "1GB", "1TB" (powers of 1000); "B" is bytes. Unit
// letters are case-insensitive and a space may separate number and unit.
// Fractions and negative sizes are rejected.
type ByteSize int64

// Int64 returns the size in bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

var sizeUnits = []struct {
	name string
	mult int64
}{
	// Longest names first so that "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

var errSizeSyntax = errors.New(`use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`)

// UnmarshalText parses an integer or an integer with a unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	lower := strings.ToLower(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.name) {
			mult = u.mult
			lower = strings.TrimSpace(lower[:len(lower)-len(u.name)])
			break
		}
	}
	if lower == "" || lower[0] == '+' || lower[0] == '-' {
		if strings.HasPrefix(lower, "-") {
			return fmt.Errorf("invalid size %q: negative", s)
		}
		return fmt.Errorf("invalid size %q: %w", s, errSizeSyntax)
	}
	n, err := strconv.ParseInt(lower, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("invalid size %q: too large", s)
		}
		return fmt.Errorf("invalid size %q: %w", s, errSizeSyntax)
	}
	if n > math.MaxInt64/mult {
		return fmt.Errorf("invalid size %q: too large", s)
	}
	*b = ByteSize(n * mult)
	return nil
}

// String returns the shortest exact form: "256MiB", "1GB", "12345".
func (b ByteSize) String() string {
	n := int64(b)
	best, unit := n, ""
	if n != 0 {
		for _, u := range sizeUnits {
			if u.mult > 1 && n%u.mult == 0 && n/u.mult < best {
				best, unit = n/u.mult, displayUnits[u.name]
			}
		}
	}
	return strconv.FormatInt(best, 10) + unit
}

var displayUnits = map[string]string{
	"kib": "KiB", "mib": "MiB", "gib": "GiB", "tib": "TiB",
	"kb": "KB", "mb": "MB", "gb": "GB", "tb": "TB",
}

// MarshalText writes String(), which UnmarshalText reads back.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
