package main

import (
	"context"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"
)

// statsInterval is how often the daemon logs its counters while running.
const statsInterval = 5 * time.Minute

// statsSource is one component whose counters are logged: one log line
// each, with Msg and the fields of Tags, then every non-zero counter.
type statsSource struct {
	Msg      string
	Tags     func(*zerolog.Event) // e.g. the transport's address; may be nil
	Snapshot func() any           // a struct of counters (Stats()), by value
}

// logAllStats logs one line per source with its non-zero counters; a
// source whose counters are all zero is logged too (at debug), so that
// the shutdown line of an idle transport is still there to be read.
func logAllStats(log zerolog.Logger, sources []statsSource) {
	for _, s := range sources {
		v := s.Snapshot()
		level := zerolog.InfoLevel
		if !anyNonZero(reflect.ValueOf(v)) {
			level = zerolog.DebugLevel
		}
		e := log.WithLevel(level)
		if e == nil {
			continue
		}
		if s.Tags != nil {
			s.Tags(e)
		}
		addCounters(e, "", reflect.ValueOf(v))
		e.Msg(s.Msg)
	}
}

// reportStats logs the counters every interval until ctx is done. It is
// a part of run (returns nil at cancellation).
func reportStats(ctx context.Context, log zerolog.Logger, interval time.Duration, sources []statsSource) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			logAllStats(log, sources)
		}
	}
}

// addCounters adds the non-zero integer fields of the struct v to e, as
// snake_case keys (nested structs' fields get the struct field's name as
// a prefix: decoder_bad_checksum). Maps are logged by their length
// (per_dest), other kinds are skipped. Fields are read generically, so a
// counter added to a Stats struct is logged without a change here.
func addCounters(e *zerolog.Event, prefix string, v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key := prefix + snakeCase(sf.Name)
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if n := f.Int(); n != 0 {
				e.Int64(key, n)
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if n := f.Uint(); n != 0 {
				e.Uint64(key, n)
			}
		case reflect.Map, reflect.Slice:
			if n := f.Len(); n != 0 {
				e.Int(key, n)
			}
		case reflect.Struct:
			addCounters(e, key+"_", f)
		}
	}
}

// anyNonZero reports whether the struct v has a non-zero counter.
func anyNonZero(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if !f.IsZero() {
				return true
			}
		case reflect.Map, reflect.Slice:
			if f.Len() != 0 {
				return true
			}
		case reflect.Struct:
			if anyNonZero(f) {
				return true
			}
		}
	}
	return false
}

// snakeCase turns a Go field name into a log key: TxOversize ->
// tx_oversize, QoSMinus1In -> qos_minus1_in, UnsupportedNodeIDs ->
// unsupported_node_ids, GWInfosSent -> gw_infos_sent.
func snakeCase(s string) string {
	r := []rune(fieldWords.Replace(s))
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// fieldWords are spellings that the case rule above would split.
var fieldWords = strings.NewReplacer("QoS", "Qos", "IDs", "Ids")
