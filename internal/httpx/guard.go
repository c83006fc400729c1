package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Go's HTTP/1 server resolves ambiguous framing on its own and hides it
// from handlers: a request with both Content-Length and Transfer-Encoding:
// chunked is read as chunked with the Content-Length deleted, a
// Transfer-Encoding on HTTP/1.0 is deleted and ignored, and any other
// Transfer-Encoding is answered 501 before a handler runs. A front proxy
// that reads the same bytes differently is how request smuggling works, so
// SPEC.md R4 wants all of these refused with 400. Only the bytes on the
// connection still show them, hence a guard on the connection.
//
// The guard follows HTTP/1 message framing on the bytes the server reads:
// it holds each request head until it is complete, decides, and then lets
// the head and its body through unchanged. A head with ambiguous framing is
// replaced by a request line net/http itself refuses with
// "400 Bad Request" and Connection: close, after which the guard reads
// nothing more. Replacing bytes, rather than writing a response from the
// guard, keeps the 400 in order after any response still being written on
// the connection. Whatever the guard cannot follow (an HTTP/2 preface, a
// head net/http will refuse anyway, a head over the size limit) is let
// through untouched for the rest of the connection: net/http refuses such
// input and closes, so there is nothing left to guard.
//
// The guard must not wrap connections that handlers hijack (WebSockets);
// Palisade has none.

// rejectedHead is what a refused head is replaced with: not a request line,
// so net/http answers 400 and closes.
const rejectedHead = "REJECTED-AMBIGUOUS-FRAMING\r\n\r\n"

// maxChunkLine bounds a chunk-size or trailer line, as net/http does.
const maxChunkLine = 4096

type scanState int

const (
	stHead scanState = iota
	stFixed
	stChunkLine
	stChunkData
	stChunkEnd
	stTrailer
	stPass
	stRejected
)

// framer follows request framing on a byte stream. feed appends to out the
// bytes that may be released to the server.
type framer struct {
	state     scanState
	maxHead   int
	head      []byte // the held, incomplete head
	lineSeen  bool   // head holds a complete request line
	line      []byte // the current chunk-size or trailer line
	remaining int64  // of a fixed body or a chunk's data
}

func newFramer(maxHeaderBytes int) framer {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	// net/http reads up to MaxHeaderBytes plus 4096 bytes of slack before
	// answering 431; the guard holds at least as much.
	return framer{maxHead: maxHeaderBytes + 4096 + 1}
}

func (f *framer) feed(out, in []byte) []byte {
	for len(in) > 0 {
		switch f.state {
		case stPass:
			return append(out, in...)
		case stRejected:
			return out
		case stHead:
			out, in = f.feedHead(out, in)
		case stFixed:
			n := min(int64(len(in)), f.remaining)
			out = append(out, in[:n]...)
			in = in[n:]
			f.remaining -= n
			if f.remaining == 0 {
				f.state = stHead
			}
		case stChunkData:
			n := min(int64(len(in)), f.remaining)
			out = append(out, in[:n]...)
			in = in[n:]
			f.remaining -= n
			if f.remaining == 0 {
				f.state = stChunkEnd
				f.line = f.line[:0]
			}
		case stChunkLine, stChunkEnd, stTrailer:
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				f.line = append(f.line, in...)
				out = append(out, in...)
				in = nil
				if len(f.line) > maxChunkLine {
					f.state = stPass
				}
				continue
			}
			f.line = append(f.line, in[:i+1]...)
			out = append(out, in[:i+1]...)
			in = in[i+1:]
			f.endLine()
		}
	}
	return out
}

// endLine acts on a complete chunk-size, chunk-end or trailer line.
func (f *framer) endLine() {
	line := f.line
	f.line = f.line[:0]
	if len(line) > maxChunkLine {
		f.state = stPass
		return
	}
	switch f.state {
	case stChunkEnd:
		if !bytes.Equal(line, []byte("\r\n")) && !bytes.Equal(line, []byte("\n")) {
			f.state = stPass // net/http refuses this body
			return
		}
		f.state = stChunkLine
	case stChunkLine:
		size, ok := parseChunkSize(line)
		if !ok {
			f.state = stPass
			return
		}
		if size == 0 {
			f.state = stTrailer
			return
		}
		f.remaining = size
		f.state = stChunkData
	case stTrailer:
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			f.state = stHead
		}
	}
}

func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(line), 16, 63)
	return int64(n), err == nil
}

// feedHead holds head bytes until the blank line that ends the head, then
// decides. It returns what remains of in after the head.
func (f *framer) feedHead(out, in []byte) ([]byte, []byte) {
	if len(f.head) == 0 {
		// net/http tolerates stray line ends between requests; they are
		// not part of a head.
		i := 0
		for i < len(in) && (in[i] == '\r' || in[i] == '\n') {
			i++
		}
		out = append(out, in[:i]...)
		in = in[i:]
		if len(in) == 0 {
			return out, nil
		}
	}
	// Only the new bytes are searched, so a head trickling in one byte at a
	// time costs linear, not quadratic, time.
	from := max(len(f.head)-3, 0)
	if !f.lineSeen {
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			f.lineSeen = true
			if !validRequestLine(append(f.head[:len(f.head):len(f.head)], in[:i]...)) {
				// net/http answers a bad request line at once; do not
				// make it wait for a head that will never come.
				f.head = append(f.head, in...)
				return f.release(out), nil
			}
		}
	}
	f.head = append(f.head, in...)
	end := headEnd(f.head, from)
	if end < 0 {
		if len(f.head) > f.maxHead {
			return f.release(out), nil
		}
		return out, nil
	}
	rest := f.head[end:]
	head := f.head[:end]
	verdict, bodyLen := judgeHead(head)
	switch verdict {
	case headReject:
		out = append(out, rejectedHead...)
		f.head = nil
		f.state = stRejected
		return out, nil
	case headPass:
		return f.release(out), nil
	}
	out = append(out, head...)
	// rest aliases f.head's array; copy before the array is reused.
	rest = append([]byte(nil), rest...)
	f.head = f.head[:0]
	f.lineSeen = false
	switch {
	case bodyLen < 0:
		f.state = stChunkLine
	case bodyLen > 0:
		f.state = stFixed
		f.remaining = bodyLen
	}
	return out, rest
}

// release lets the held head and everything after it through unexamined.
func (f *framer) release(out []byte) []byte {
	out = append(out, f.head...)
	f.head = nil
	f.lineSeen = false
	f.state = stPass
	return out
}

// headEnd returns the index just past the blank line ending the head in b,
// searching from index from, or -1.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

type headVerdict int

const (
	headOK     headVerdict = iota
	headReject             // ambiguous framing: refuse with 400
	headPass               // not followable; net/http will refuse or it is not HTTP/1
)

func validRequestLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	if parts[0] == "PRI" && parts[2] == "HTTP/2.0" {
		return false // the HTTP/2 preface: nothing for this guard
	}
	_, _, ok := http.ParseHTTPVersion(parts[2])
	return ok
}

// judgeHead decides on a complete head and, when it is accepted, returns its
// body length: -1 for chunked.
func judgeHead(head []byte) (headVerdict, int64) {
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
	if !validRequestLine([]byte(lines[0])) {
		return headPass, 0
	}
	proto := lines[0][strings.LastIndexByte(lines[0], ' ')+1:]
	proto = strings.TrimSuffix(proto, "\r")
	major, minor, _ := http.ParseHTTPVersion(proto)
	var cl, te []string
	for _, l := range lines[1:] {
		l = strings.TrimSuffix(l, "\r")
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			return headPass, 0 // folded or stray lines: net/http refuses
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return headPass, 0
		}
		switch {
		case strings.EqualFold(name, "Content-Length"):
			cl = append(cl, strings.Trim(value, " \t"))
		case strings.EqualFold(name, "Transfer-Encoding"):
			te = append(te, strings.Trim(value, " \t"))
		}
	}
	if len(te) > 0 {
		if len(cl) > 0 || major < 1 || major == 1 && minor < 1 {
			return headReject, 0
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return headReject, 0
		}
		return headOK, -1
	}
	if len(cl) == 0 {
		return headOK, 0
	}
	for _, v := range cl[1:] {
		if v != cl[0] {
			return headPass, 0 // net/http answers 400 itself
		}
	}
	v := cl[0]
	if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
		return headPass, 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return headPass, 0
	}
	return headOK, n
}

// guardConn applies a framer to what the server reads, and adds the
// security headers to the error responses net/http writes itself.
type guardConn struct {
	net.Conn
	f      framer
	in     []byte
	out    []byte
	outBuf []byte
	// canned is what is added after the status line of a response
	// net/http wrote itself.
	canned string
}

// net/http answers requests it refuses before any handler runs (431 for
// oversized headers, 400 for a malformed or refused request, 501, 505)
// with one write of a status line, these fixed headers and a short plain
// body, straight to the connection: no middleware sees them. A response
// of a handler always carries the security headers; one of these never
// does. HTTP/2 refusals are frames, not responses, and are left alone.
const (
	cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	// securityLines are the security headers of a response with nothing
	// in it to run, frame or cache.
	securityLines = "\r\nX-Content-Type-Options: nosniff" +
		"\r\nX-Frame-Options: DENY" +
		"\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'" +
		"\r\nReferrer-Policy: " + ReferrerPolicy +
		"\r\nCross-Origin-Resource-Policy: same-origin" +
		"\r\nCache-Control: no-store"
)

// Write adds the security headers to an error response net/http wrote
// itself, and passes everything else through unchanged.
func (c *guardConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.")) || !bytes.Contains(p, []byte(cannedHeaders)) || bytes.Contains(p, []byte("X-Content-Type-Options")) {
		return c.Conn.Write(p)
	}
	line := bytes.IndexByte(p, '\r')
	if line < 0 {
		return c.Conn.Write(p)
	}
	out := make([]byte, 0, len(p)+len(c.canned))
	out = append(out, p[:line]...)
	out = append(out, c.canned...)
	out = append(out, p[line:]...)
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newGuardConn(c net.Conn, maxHeaderBytes int) *guardConn {
	return &guardConn{Conn: c, f: newFramer(maxHeaderBytes), in: make([]byte, 32<<10), canned: securityLines}
}

func (c *guardConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.f.state == stRejected {
			return 0, io.EOF
		}
		n, err := c.Conn.Read(c.in)
		if n > 0 {
			c.out = c.f.feed(c.outBuf[:0], c.in[:n])
			c.outBuf = c.out[:0]
		}
		if len(c.out) == 0 && err != nil {
			// Not sticky: net/http aborts a background read with a past
			// deadline and then reads on.
			return 0, err
		}
		if len(c.out) == 0 && n == 0 {
			return 0, nil
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// CloseWrite passes the half-close through: net/http half-closes before
// closing a connection with an unread body (a refused upload), so the
// client reads the 413 instead of a reset.
func (c *guardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tlsGuardConn is a guarded TLS connection. net/http fills r.TLS from
// ConnectionState for connections that are not a *tls.Conn.
type tlsGuardConn struct {
	*guardConn
	tc *tls.Conn
}

func (c *tlsGuardConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// GuardListener wraps a plain-text HTTP/1 listener so that requests with
// ambiguous framing are answered 400 by the server (see the comment at the
// top of guard.go). maxHeaderBytes is the server's MaxHeaderBytes (0 for
// net/http's default).
func GuardListener(ln net.Listener, maxHeaderBytes int) net.Listener {
	return &guardListener{Listener: ln, maxHeader: maxHeaderBytes}
}

type guardListener struct {
	net.Listener
	maxHeader int
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardConn(c, l.maxHeader), nil
}

// GuardTLSListener terminates TLS on ln with config and guards HTTP/1.1
// connections like GuardListener. net/http speaks HTTP/2 only over a
// *tls.Conn, and must see the handshake done to pick it, so handshakes run
// here, each in its own goroutine bounded by handshakeTimeout (10s if 0):
// an "h2" connection is returned as the *tls.Conn itself (HTTP/2 has no
// Transfer-Encoding to confuse), any other is returned guarded, with
// ConnectionState so r.TLS is still set. Serve it with http.Server.Serve and
// the same config in Server.TLSConfig.
func GuardTLSListener(ln net.Listener, config *tls.Config, maxHeaderBytes int, handshakeTimeout time.Duration) net.Listener {
	if handshakeTimeout <= 0 {
		handshakeTimeout = 10 * time.Second
	}
	l := &tlsGuardListener{
		Listener:  ln,
		config:    config,
		maxHeader: maxHeaderBytes,
		timeout:   handshakeTimeout,
		conns:     make(chan net.Conn),
		errs:      make(chan error),
		done:      make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

type tlsGuardListener struct {
	net.Listener
	config    *tls.Config
	maxHeader int
	timeout   time.Duration
	conns     chan net.Conn
	errs      chan error
	done      chan struct{}
	closeOnce sync.Once
}

func (l *tlsGuardListener) acceptLoop() {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.handshake(raw)
	}
}

func (l *tlsGuardListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_ = raw.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		var rhe tls.RecordHeaderError
		if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader) {
			_, _ = io.WriteString(rhe.Conn, "HTTP/1.0 400 Bad Request"+securityLines+"\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		gc := newGuardConn(tc, l.maxHeader)
		gc.canned += "\r\nStrict-Transport-Security: " + HSTSValue
		c = &tlsGuardConn{guardConn: gc, tc: tc}
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func looksLikeHTTP(h [5]byte) bool {
	switch string(h[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

func (l *tlsGuardListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsGuardListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}
