// Package mail sends the account e-mails of Palisade (invitations, e-mail
// verification, password resets): through SMTP when the operator configures
// it, or, in embedded mode without SMTP, by writing the message to the
// server log so the operator can pass the link on by hand.
//
// It must never send without TLS to an SMTP server that is not on loopback,
// never log an SMTP password, and never put anything but the one message it
// was given (no token alone, no other user's data) into a log line.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// Message is one plain-text e-mail to one recipient.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// validate refuses header injection: no CR or LF in a header value, and a
// parseable single address.
func (m Message) validate() error {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: line break in a header")
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Address != m.To {
		return errors.New("mail: recipient is not a single plain address")
	}
	return nil
}

// LogSender is the embedded mode's stand-in for SMTP (SPEC R2): each
// message is handed to the operator on the server's console. With Out set,
// the whole message (its one-time link included) is written there, and the
// structured log records only that a message was printed: the log goes
// through the redactor, which would rightly blank the link, and logs are
// shipped and kept where a link must not be. Without Out the message goes
// to the log in one record (its link redacted).
type LogSender struct {
	Logger *slog.Logger
	Out    io.Writer
}

var _ Sender = LogSender{}

func (s LogSender) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if s.Out != nil {
		if _, err := fmt.Fprintf(s.Out, "\n--- e-mail not sent (no SMTP configured); deliver it by hand ---\nTo: %s\nSubject: %s\n\n%s\n--- end of e-mail ---\n\n",
			m.To, m.Subject, m.Body); err != nil {
			return fmt.Errorf("printing e-mail: %w", err)
		}
		s.Logger.InfoContext(ctx, "e-mail printed to the console (no SMTP configured)", slog.String("to", m.To), slog.String("subject", m.Subject))
		return nil
	}
	s.Logger.InfoContext(ctx, "e-mail not sent (no SMTP configured); deliver it by hand",
		slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("body", m.Body))
	return nil
}

// SMTP sends through an SMTP server with STARTTLS (or implicit TLS on port
// 465). Plain connections are allowed only to a loopback address, for a
// local relay.
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string
	Password secret.Secret
	Timeout  time.Duration // 0: 30 seconds
	// TLSConfig, when set, replaces the default (server name from Addr,
	// TLS 1.2 minimum); tests use it to trust their own certificate.
	TLSConfig *tls.Config
}

var _ Sender = (*SMTP)(nil)

func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("mail: sender address: %w", err)
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("mail: SMTP address: %w", err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tcfg := s.TLSConfig
	if tcfg == nil {
		tcfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	d := net.Dialer{Timeout: timeout}
	var conn net.Conn
	if port == "465" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tcfg}).DialContext(ctx, "tcp", s.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	}
	if err != nil {
		return fmt.Errorf("mail: connecting to SMTP server: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("mail: SMTP greeting: %w", err)
	}
	defer c.Close()
	if _, isTLS := conn.(*tls.Conn); !isTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tcfg); err != nil {
				return fmt.Errorf("mail: STARTTLS: %w", err)
			}
		} else if !loopback(host) {
			return errors.New("mail: SMTP server offers no STARTTLS; refusing to send in clear text")
		}
	}
	if s.Username != "" {
		// smtp.PlainAuth itself refuses to send credentials without TLS
		// except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password.Reveal(), host)); err != nil {
			return fmt.Errorf("mail: SMTP authentication failed: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(format(from.String(), m)); err != nil {
		return fmt.Errorf("mail: writing message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: ending message: %w", err)
	}
	return c.Quit()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// format renders the message with CRLF line endings and dot-safe body
// lines (the smtp package's DATA writer escapes leading dots).
func format(from string, m Message) []byte {
	var b strings.Builder
	b.WriteString("From: " + from + "\r\n")
	b.WriteString("To: " + m.To + "\r\n")
	b.WriteString("Subject: " + mime(m.Subject) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}

func mime(s string) string {
	for _, r := range s {
		if r > 0x7e {
			return "=?utf-8?q?" + qEncode(s) + "?="
		}
	}
	return s
}

func qEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}
