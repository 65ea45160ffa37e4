package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorList is every mistake found in one file, in file order, so that
// one run of `gonfct run --check` shows them all. The parser goes on after
// a mistake in a value (the next keyword still parses) and, after one in
// the structure of a block, at the next keyword or at the block's end.
type ErrorList []*Error

// maxErrors bounds the list: past it, a file is likely not a helper
// config at all, and more lines would bury the first.
const maxErrors = 20

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Errors gives each mistake on its own: the CLI prints one line each.
func (l ErrorList) Errors() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// errReported is returned by a block whose mistakes are recorded already:
// its caller neither records it again nor uses what the block built.
var errReported = errors.New("reported")

// fail records a mistake; the parser goes on (resync says where).
func (p *parser) fail(err error) {
	if e, ok := err.(*Error); err == nil || err == errReported || ok && e == nil {
		return
	}
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Pos: p.peek().pos, Msg: err.Error()}
	}
	// At the end of the file every open block is unclosed: after a
	// mistake, that is its echo, not news.
	if len(p.errs) > 0 && e.Pos == p.toks[len(p.toks)-1].pos {
		return
	}
	p.nerr++
	if len(p.errs) >= maxErrors {
		return
	}
	p.errs = append(p.errs, e)
}

// recover records err and resyncs in the block at depth; closed says
// the block ended.
func (p *parser) recover(err error, depth int, keywords []string) (closed bool) {
	if err == errReported {
		// Reported inside a block that has ended: go on after it.
		return p.depth < depth
	}
	p.fail(err)
	if e, ok := err.(*Error); ok && e.value {
		return false
	}
	return p.resync(depth, keywords)
}

// result is what the parse found: the config, or every mistake.
func (p *parser) result() (*Config, error) {
	switch len(p.errs) {
	case 0:
		return p.cfg, nil
	case 1:
		return nil, p.errs[0]
	}
	if p.nerr > len(p.errs) {
		last := p.errs[len(p.errs)-1]
		p.errs = append(p.errs, &Error{Pos: last.Pos, Msg: fmt.Sprintf("and %d more errors", p.nerr-len(p.errs))})
	}
	return nil, p.errs
}

// resync skips tokens after a mistake in a block opened at depth (the
// depth inside its '{'): to the next of keywords at that depth, or past
// the block's '}' (closed true), or to the end of the file.
func (p *parser) resync(depth int, keywords []string) (closed bool) {
	for {
		t := p.peek()
		switch {
		case t.kind == tokEOF:
			return false
		case p.depth == depth && t.kind == tokClose:
			p.next()
			return true
		case p.depth < depth:
			return true
		case p.depth == depth && t.kind == tokWord && !t.quoted && contains(keywords, t.text):
			return false
		}
		p.next()
	}
}

// Unwrap lets errors.As find the first positioned *Error.
func (l ErrorList) Unwrap() []error { return l.Errors() }
