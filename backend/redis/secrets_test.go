package redis_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/yokedcache/yokedcache/backend"
	"github.com/yokedcache/yokedcache/backend/redis"
	"github.com/yokedcache/yokedcache/internal/testserver"
)

// redisSecret is the planted password; no output may contain it.
const redisSecret = "s3cretPWrd47"

func noRedisSecret(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, sec := range append(secrets, redisSecret) {
		if strings.Contains(s, sec) {
			t.Errorf("%s shows the secret %q: %s", what, sec, s)
		}
	}
}

// TestSecretsOptionsFormatting: the Options with passwords print without
// them in every fmt verb and through slog's text and JSON handlers.
func TestSecretsOptionsFormatting(t *testing.T) {
	o := redis.Options{Mode: redis.Sentinel, Addrs: []string{"h:26379"}, MasterName: "m", Username: "app",
		Password: redisSecret, SentinelUsername: "s", SentinelPassword: redisSecret + "2", TLS: &tls.Config{}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		noRedisSecret(t, verb, fmt.Sprintf(verb, o))
		noRedisSecret(t, verb+" pointer", fmt.Sprintf(verb, &o))
	}
	var buf testserver.LogBuffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("opts", "options", o, "ptr", &o)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("opts", "options", o, "ptr", &o)
	noRedisSecret(t, "slog", buf.String())
	if !strings.Contains(buf.String(), "xxxxx") {
		t.Fatalf("slog output lacks the redaction mark: %s", buf.String())
	}
}

// TestSecretsUnreachable: errors of ParseURL, Open and New for a server
// that is down never show the password, wherever it was put.
func TestSecretsUnreachable(t *testing.T) {
	dead := testserver.ClosedAddr(t)
	var logs testserver.LogBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opener := redis.URLOpener{Options: redis.Options{Logger: log}}
	for _, raw := range []string{
		"redis://:" + redisSecret + "@" + dead + "/0?socket_connect_timeout=1",
		"redis://app:" + redisSecret + "@" + dead + "/0?socket_connect_timeout=1",
		"rediss://app:" + redisSecret + "@" + dead + "/0?socket_connect_timeout=1",
		"redis+sentinel://app:" + redisSecret + "@" + dead + "/m?sentinel_password=" + redisSecret + "&socket_connect_timeout=1",
		"redis+cluster://app:" + redisSecret + "@" + dead + "?socket_connect_timeout=1",
	} {
		if _, err := redis.ParseURL(raw); err != nil {
			t.Fatalf("ParseURL(%s): %v", backend.RedactURL(raw), err)
		}
		u, _ := url.Parse(raw)
		b, err := opener.OpenURL(t.Context(), u)
		if err == nil {
			// Connecting is lazy for some modes: the first command fails.
			err = b.(backend.Pinger).Ping(t.Context())
			_ = b.Close()
		}
		if err == nil {
			t.Fatalf("%s: no error from a closed port", backend.RedactURL(raw))
		}
		noRedisSecret(t, "Open error", err.Error())
	}
	for _, p := range []string{"sentinel_pasword", "sentinel_pw", "passwd", "token", "x", "password:"} {
		raw := "redis://127.0.0.1:6390/0?" + url.QueryEscape(p) + "=" + redisSecret
		_, err := redis.ParseURL(raw)
		if !errors.Is(err, backend.ErrInvalidConfig) {
			t.Fatalf("ParseURL(%s): %v, want ErrInvalidConfig", backend.RedactURL(raw), err)
		}
		noRedisSecret(t, "ParseURL error", err.Error())
		if !strings.Contains(err.Error(), strings.TrimSuffix(p, ":")) {
			t.Errorf("ParseURL error %q does not name %s", err, p)
		}
	}
	_, err := redis.New(redis.Options{Addrs: []string{dead}, Password: redisSecret, ConnectTimeout: time.Second, Logger: log})
	if err == nil {
		t.Fatal("New: no error from a closed port")
	}
	noRedisSecret(t, "New error", err.Error())
	if strings.Contains(err.Error(), "redis.Options{") || !strings.Contains(err.Error(), dead) {
		t.Errorf("New error %q should name the address, not print the options", err)
	}
	noRedisSecret(t, "the log", logs.String())
}

// TestSecretsPasswordServer: against a server that requires a password,
// a wrong password fails without showing either password, and a working
// store's stats, health and errors do not show the right one.
func TestSecretsPasswordServer(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: redisSecret})
	var logs testserver.LogBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const wrong = "wr0ngPWxq"

	for _, raw := range []string{
		"redis://:" + wrong + "@" + srv.Addr + "/0?socket_connect_timeout=5",
		"redis://default:" + wrong + "@" + srv.Addr + "/0",
		"redis://" + srv.Addr + "/0?sentinel_pasword=" + redisSecret,
		"redis://" + srv.Addr + "/0?passwd=" + redisSecret,
	} {
		u, _ := url.Parse(raw)
		b, err := redis.URLOpener{Options: redis.Options{Logger: log}}.OpenURL(t.Context(), u)
		if err == nil {
			err = b.(backend.Pinger).Ping(t.Context())
			_ = b.Close()
		}
		if err == nil {
			t.Fatalf("%s: opened with a wrong or missing password", backend.RedactURL(raw))
		}
		noRedisSecret(t, "Open error", err.Error(), wrong)
	}

	u, _ := url.Parse(srv.URL())
	b, err := redis.URLOpener{Options: redis.Options{Logger: log}}.OpenURL(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	if err := b.Set(ctx, "yc-secrets:k", []byte("v"), backend.SetOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := b.(backend.Stater).Stats(ctx, "yc-secrets:")
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.(backend.HealthChecker).HealthDetails(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"stats": st, "health": h})
	noRedisSecret(t, "stats and health", fmt.Sprintf("%s %+v %+v", out, st, h))
	noRedisSecret(t, "the log", logs.String(), wrong)
}

// TestTLSHandshakeWithPlainServer: a rediss:// URL for a plain-text
// server fails saying the TLS handshake failed, within the connect
// timeout rather than after the default 5 s.
func TestTLSHandshakeWithPlainServer(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.RedisOptions{Password: redisSecret})
	raw := "rediss://:" + redisSecret + "@" + srv.Addr + "/0?socket_connect_timeout=500ms&ssl_cert_reqs=none"
	start := time.Now()
	b, err := backend.Open(context.Background(), raw)
	if err == nil {
		err = b.(backend.Pinger).Ping(t.Context())
		_ = b.Close()
	}
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("rediss:// to a plain-text server succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "TLS handshake failed") || !strings.Contains(msg, "may not speak TLS") {
		t.Fatalf("error %q does not say the TLS handshake failed", msg)
	}
	if oe := (*net.OpError)(nil); !errors.As(err, &oe) {
		t.Errorf("error %q is not a *net.OpError (a connection failure)", msg)
	}
	noRedisSecret(t, "error", msg)
	// 500 ms per attempt; generous for a busy machine, well under 5 s
	// per attempt times the retries.
	if elapsed > 4*time.Second {
		t.Errorf("took %v with a 500ms connect timeout", elapsed)
	}
}
