package xbee

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseEUI64 parses a radio's 64-bit address as printed on its label or
// by XCTU: 16 hex digits, optionally prefixed by 0x and grouped with
// colons, dashes or spaces ("0013A20040A1B2C3", "00:13:a2:00:40:a1:b2:c3").
// Client tools use it for a --gateway flag.
func ParseEUI64(s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	h = strings.NewReplacer(":", "", "-", "", " ", "").Replace(h)
	if len(h) != 16 {
		return 0, fmt.Errorf("xbee: address %q: want 16 hex digits", s)
	}
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("xbee: address %q: not hex", s)
	}
	return v, nil
}
