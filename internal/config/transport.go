package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
)

// localHost reports whether a host name or address can only be this
// machine: a Unix socket directory, localhost, or a loopback address.
// Traffic to it never crosses a network, so it needs no TLS.
func localHost(host string) bool {
	if host == "" || strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@") {
		return true // libpq's default (a Unix socket), a socket directory, an abstract socket
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkDatabaseTransport refuses a PostgreSQL URL that would send the
// password and every row over a network without verified TLS: only
// sslmode=verify-full checks both the certificate and that it names the
// host (require and verify-ca do not), and libpq's default, prefer, falls
// back to plain text silently.
func checkDatabaseTransport(raw string, unsafe bool) error {
	if raw == "" || unsafe {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil // the URL's own check names this
	}
	q := u.Query()
	hosts := strings.Split(u.Host, ",")
	if h := q.Get("host"); h != "" {
		hosts = strings.Split(h, ",")
	}
	remote := ""
	for _, h := range hosts {
		if !localHost(h) {
			remote = h
			break
		}
	}
	if remote == "" || q.Get("sslmode") == "verify-full" {
		return nil
	}
	mode := q.Get("sslmode")
	if mode == "" {
		mode = "prefer (the default)"
	}
	return fmt.Errorf("--database-url: the PostgreSQL server %s is not on this machine and sslmode is %s; use sslmode=verify-full (with sslrootcert=FILE unless its CA is in the system pool), or --unsafe-database-without-verified-tls", remote, mode)
}

// checkRedisTransport refuses plain redis:// to another machine, and a
// rediss:// URL that turns certificate checks off: rate-limit keys name
// users and addresses, and a Redis password crosses in clear otherwise.
func checkRedisTransport(u *url.URL, unsafe bool) error {
	if unsafe || u.Scheme == "unix" {
		return nil
	}
	if u.Scheme == "rediss" {
		if v := strings.ToLower(u.Query().Get("skip_verify")); v == "true" || v == "1" {
			return errors.New("--redis-url: skip_verify turns off certificate checks; remove it, or use --unsafe-redis-without-tls")
		}
		return nil
	}
	if localHost(u.Host) {
		return nil
	}
	return fmt.Errorf("--redis-url: the Redis server %s is not on this machine; use rediss:// (verified TLS), or --unsafe-redis-without-tls", u.Hostname())
}

// checkSecurityContact accepts what RFC 9116 allows as a Contact: a URI,
// in practice mailto:, https: or tel:.
func checkSecurityContact(v string) error {
	u, err := url.Parse(v)
	bad := fmt.Errorf("--security-contact %q must be a mailto:, https: or tel: URI", v)
	if err != nil {
		return bad
	}
	switch u.Scheme {
	case "mailto":
		if _, err := mail.ParseAddress(u.Opaque); err != nil || u.Opaque == "" {
			return bad
		}
	case "https":
		if u.Host == "" || u.User != nil {
			return bad
		}
	case "tel":
		if u.Opaque == "" {
			return bad
		}
	default:
		return bad
	}
	return nil
}
