package config

import (
	"fmt"
	"strings"
)

// Position is a place in a config file or on the command line.
type Position struct {
	File string
	Line int // 1-based; 0 for a command-line flag
	Col  int // 1-based byte column
}

func (p Position) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s (column %d)", p.File, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a config error at a position: "file:line:col: what is wrong".
type Error struct {
	Pos Position
	Msg string
	// value: a mistake in a value whose words were read as expected, so
	// the parser goes on right after it (no resync).
	value bool
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// valueErrorf is errorf for a mistake in a value (see Error.value).
func valueErrorf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), value: true}
}

type tokenKind uint8

const (
	tokWord tokenKind = iota
	tokOpen
	tokClose
	tokEOF
)

type token struct {
	kind   tokenKind
	text   string
	quoted bool
	pos    Position
}

func (t token) String() string {
	switch t.kind {
	case tokOpen:
		return "'{'"
	case tokClose:
		return "'}'"
	case tokEOF:
		return "end of file"
	}
	return fmt.Sprintf("%q", t.text)
}

// lex splits a conntrackd.conf into words and braces. Like conntrackd's
// flex scanner, line ends are plain white space (a statement may span
// lines), '#' starts a comment that runs to the end of the line, and a
// double-quoted string is one word.
func lex(file, src string) ([]token, error) {
	var toks []token
	line, lineStart := 1, 0
	pos := func(i int) Position { return Position{File: file, Line: line, Col: i - lineStart + 1} }
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			i++
			line, lineStart = line+1, i
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '{':
			toks = append(toks, token{kind: tokOpen, text: "{", pos: pos(i)})
			i++
		case c == '}':
			toks = append(toks, token{kind: tokClose, text: "}", pos: pos(i)})
			i++
		case c == '"':
			start := pos(i)
			end := strings.IndexAny(src[i+1:], "\"\n")
			if end < 0 || src[i+1+end] != '"' {
				return nil, errorf(start, "unterminated quoted string: close it with \" on the same line")
			}
			toks = append(toks, token{kind: tokWord, text: src[i+1 : i+1+end], quoted: true, pos: start})
			i += end + 2
		case c < ' ' || c == 0x7f:
			return nil, errorf(pos(i), "control character %#02x in the file: is it a text file?", c)
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n\f\v#{}\"", rune(src[i])) {
				i++
			}
			toks = append(toks, token{kind: tokWord, text: src[start:i], pos: pos(start)})
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: pos(len(src))})
	return toks, nil
}
