package config

import (
	"testing"
	"time"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		text string
	}{
		{"0", 0, "0"},
		{"512", 512, "512"},
		{"1024", 1024, "1KiB"},
		{"4KiB", 4 << 10, "4KiB"},
		{"4kib", 4 << 10, "4KiB"},
		{"256MiB", 256 << 20, "256MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"2TiB", 2 << 40, "2TiB"},
		{"4KB", 4000, "4KB"},
		{"1MB", 1e6, "1MB"},
		{"1GB", 1e9, "1GB"},
		{"1TB", 1e12, "1TB"},
		{"10B", 10, "10"},
		{" 1 MB ", 1e6, "1MB"},
		{"1500", 1500, "1500"},
	}
	for _, tt := range tests {
		var b ByteSize
		if err := b.UnmarshalText([]byte(tt.in)); err != nil || b != tt.want {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", tt.in, b, err, tt.want)
			continue
		}
		if b.Int64() != int64(tt.want) {
			t.Errorf("Int64() = %d", b.Int64())
		}
		text, _ := b.MarshalText()
		if string(text) != tt.text {
			t.Errorf("MarshalText(%d) = %q, want %q", b, text, tt.text)
		}
		var back ByteSize
		if err := back.UnmarshalText(text); err != nil || back != b {
			t.Errorf("round trip of %q = %d, %v", text, back, err)
		}
	}
	for in, want := range map[string]string{
		"":                     `invalid size "": use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`,
		"MiB":                  `invalid size "MiB": use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`,
		"1.5GB":                `invalid size "1.5GB": use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`,
		"-1":                   `invalid size "-1": negative`,
		"+1":                   `invalid size "+1": use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`,
		"10XB":                 `invalid size "10XB": use an integer number of bytes or a string such as "4KiB", "256MiB", "1GB"`,
		"9000000TiB":           `invalid size "9000000TiB": too large`,
		"99999999999999999999": `invalid size "99999999999999999999": too large`,
	} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("UnmarshalText(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("15m")); err != nil || d.Std() != 15*time.Minute {
		t.Fatalf("UnmarshalText(15m) = %v, %v", d, err)
	}
	text, _ := d.MarshalText()
	var back Duration
	if err := back.UnmarshalText(text); err != nil || back != d {
		t.Errorf("round trip %q = %v, %v", text, back, err)
	}
	err := d.UnmarshalText([]byte("15 min"))
	if err == nil || err.Error() != `invalid duration "15 min" (use a Go duration such as "10s", "15m" or "168h")` {
		t.Errorf("UnmarshalText(15 min) = %v", err)
	}
}
