package testserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RedisError is an error reply ("-ERR ...") from a Redis server.
type RedisError string

// Error returns the reply text without the leading '-'.
func (e RedisError) Error() string { return string(e) }

// respConn is a minimal RESP2 client for admin commands (PING, INFO,
// CLUSTER ..., SENTINEL ...). It keeps testserver independent of any Redis
// client library.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialRESP connects to addr, optionally over TLS. ctx bounds the dial.
func dialRESP(ctx context.Context, addr string, tlsConf *tls.Config) (*respConn, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	var c net.Conn
	var err error
	if tlsConf != nil {
		td := &tls.Dialer{NetDialer: d, Config: tlsConf}
		c, err = td.DialContext(ctx, "tcp", addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &respConn{c: c, r: bufio.NewReader(c)}, nil
}

func (c *respConn) Close() error { return c.c.Close() }

// Do sends one command and reads its reply. Replies map to Go values:
// simple and bulk strings to string, integers to int64, arrays to []any,
// nil bulk/array to nil, and error replies to a RedisError returned as
// the error.
func (c *respConn) Do(ctx context.Context, args ...string) (any, error) {
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		return nil, err
	}
	v, err := c.read()
	if err != nil {
		return nil, err
	}
	if re, ok := v.(RedisError); ok {
		return nil, re
	}
	return v, nil
}

func (c *respConn) line() (string, error) {
	s, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(s) < 3 || s[len(s)-2] != '\r' {
		return "", fmt.Errorf("testserver: malformed RESP line %q", s)
	}
	return s[:len(s)-2], nil
}

func (c *respConn) read() (any, error) {
	l, err := c.line()
	if err != nil {
		return nil, err
	}
	body := l[1:]
	switch l[0] {
	case '+':
		return body, nil
	case '-':
		return RedisError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("testserver: bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("testserver: bad array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := c.read()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("testserver: unexpected RESP type %q", l[0])
}

// doOnce dials addr, authenticates (when password is not empty), runs one
// command and closes the connection.
func doOnce(ctx context.Context, addr string, tlsConf *tls.Config, password string, args ...string) (any, error) {
	c, err := dialRESP(ctx, addr, tlsConf)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if password != "" {
		if _, err := c.Do(ctx, "AUTH", password); err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c.Do(ctx, args...)
}

// infoField returns the value of field in an INFO/CLUSTER INFO reply.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimRight(line, "\r")
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// isRedisError reports whether err is an error reply starting with prefix
// (e.g. "NOAUTH", "LOADING").
func isRedisError(err error, prefix string) bool {
	var re RedisError
	return errors.As(err, &re) && strings.HasPrefix(string(re), prefix)
}
