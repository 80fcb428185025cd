package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     []string
		checkErr error
		wantCode int
		wantOK   bool
		wantErr  string
	}{
		{"valid", []string{"-x", "1"}, nil, 0, true, ""},
		{"help", []string{"--help"}, nil, ExitOK, false, ""},
		{"unknown flag", []string{"-nope"}, nil, ExitUsage, false, ""},
		{"check fails", []string{"-x", "1"}, errors.New("give -t"), ExitUsage, false, "tool: give -t\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("tool", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Int("x", 0, "x")
			var stderr bytes.Buffer
			code, ok := ParseArgs(fs, tt.args, "tool", "tool [options]", func() error { return tt.checkErr }, &stderr)
			if code != tt.wantCode || ok != tt.wantOK || stderr.String() != tt.wantErr {
				t.Errorf("ParseArgs = %d, %v, stderr %q; want %d, %v, %q", code, ok, stderr.String(), tt.wantCode, tt.wantOK, tt.wantErr)
			}
		})
	}
}
