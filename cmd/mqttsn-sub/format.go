package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/snbridge/snbridge/mqttsn/client"
)

// format appends the printed form of m to b: the -F format when given,
// else "[topic ]payload", then a newline unless -N.
func (s *subscriber) format(b []byte, m *client.Message) []byte {
	if s.o.format != "" {
		b = appendFormat(b, s.o.format, m)
	} else {
		if s.o.verbose {
			b = appendTopic(b, m)
			b = append(b, ' ')
		}
		b = appendSafe(b, m.Payload)
	}
	if !s.o.noNewline {
		b = append(b, '\n')
	}
	return b
}

// appendTopic appends the topic name, or the topic id when the name is
// unknown (a predefined id this tool has no name for).
func appendTopic(b []byte, m *client.Message) []byte {
	if m.Topic != "" {
		return append(b, m.Topic...)
	}
	return fmt.Appendf(b, "%s:%d", m.TopicIDType, m.TopicID)
}

// appendSafe appends a payload as it is when it is printable UTF-8 text,
// else as 0x-prefixed hex, so that binary payloads never reach the
// terminal raw.
func appendSafe(b, payload []byte) []byte {
	if printable(payload) {
		return append(b, payload...)
	}
	b = append(b, "0x"...)
	return hex.AppendEncode(b, payload)
}

func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if r != '\t' && !unicode.IsPrint(r) && !unicode.IsSpace(r) || r == '\r' || r == '\x1b' {
			return false
		}
	}
	return true
}

// appendFormat expands a -F format: %t topic, %p payload (raw), %x payload
// in hex, %q QoS, %r retain (0/1), %i topic id, %m message id, %l payload
// length, %% a percent sign; \n, \t and \\ escapes.
func appendFormat(b []byte, f string, m *client.Message) []byte {
	for i := 0; i < len(f); i++ {
		ch := f[i]
		if (ch != '%' && ch != '\\') || i+1 == len(f) {
			b = append(b, ch)
			continue
		}
		i++
		if ch == '\\' {
			b = appendEscape(b, f[i])
			continue
		}
		b = appendVerb(b, f[i], m)
	}
	return b
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case 'n':
		return append(b, '\n')
	case 't':
		return append(b, '\t')
	case '\\':
		return append(b, '\\')
	}
	return append(b, '\\', c)
}

func appendVerb(b []byte, c byte, m *client.Message) []byte {
	switch c {
	case 't':
		return appendTopic(b, m)
	case 'p':
		return append(b, m.Payload...)
	case 'x':
		return hex.AppendEncode(b, m.Payload)
	case 'q':
		return strconv.AppendInt(b, int64(m.QoS), 10)
	case 'r':
		if m.Retain {
			return append(b, '1')
		}
		return append(b, '0')
	case 'i':
		return strconv.AppendUint(b, uint64(m.TopicID), 10)
	case 'm':
		return strconv.AppendUint(b, uint64(m.MsgID), 10)
	case 'l':
		return strconv.AppendInt(b, int64(len(m.Payload)), 10)
	case '%':
		return append(b, '%')
	}
	return append(b, '%', c)
}
