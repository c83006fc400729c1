package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Account e-mails that could tell whether an address has an account
// (password resets, e-mail verification, the notice of a sign-up with a
// taken address) are not sent in the request. The request queues a durable
// job (MailJob) carrying only what the worker needs to rebuild the message:
// its purpose and, sealed, the address typed and where the request came
// from. The worker (internal/job, DeliverMail) looks the account up, makes
// any token, writes the link and sends. So the request does the same work,
// one seal and one insert, for an address with an account and one without,
// and never waits on SMTP; and no token, link or address sits in clear in
// the jobs table, its backups or its logs.
//
// Invitations are still mailed in the request: only a member who may
// invite sends one, to an address they typed, and nothing is looked up.

// MailPurpose names what a queued account e-mail is for.
type MailPurpose string

const (
	MailPasswordReset MailPurpose = "password_reset"
	MailVerifyEmail   MailPurpose = "verify_email"
	MailSignupTaken   MailPurpose = "signup_taken"
)

func (p MailPurpose) valid() bool {
	return p == MailPasswordReset || p == MailVerifyEmail || p == MailSignupTaken
}

// MailJob is a queued account e-mail, the arguments of the durable job
// that sends it.
type MailJob struct {
	Purpose MailPurpose `json:"purpose"`
	// Ref is random, unique to the job; the sealed payload is bound to it
	// and to the purpose, so it opens only as this job's.
	Ref    string `json:"ref"`
	Sealed []byte `json:"sealed"`
}

// Kind is the job queue's name for it.
func (MailJob) Kind() string { return "account_mail" }

// ErrBadMailJob is wrapped by DeliverMail's errors about a job that will
// never become deliverable (unknown purpose, a payload that does not
// open): the worker drops such a job instead of retrying it.
var ErrBadMailJob = errors.New("account: undeliverable mail job")

// mailPayload is what is sealed in a MailJob.
type mailPayload struct {
	To        string `json:"to"`
	ClientIP  string `json:"ip,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// mailSealColumn binds a sealed payload to its purpose.
func mailSealColumn(p MailPurpose) string { return "account_mail/" + string(p) }

// queueMail queues an account e-mail of purpose p to address to. Without a
// queue (tools and tests), it is delivered at once instead.
func (s *Service) queueMail(ctx context.Context, p MailPurpose, to string, c Client) error {
	pl := mailPayload{To: to, RequestID: c.RequestID}
	if c.Addr.IsValid() {
		pl.ClientIP = c.Addr.String()
	}
	if s.o.Jobs == nil {
		return s.deliver(ctx, p, pl)
	}
	raw, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	var ref [16]byte
	_, _ = rand.Read(ref[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	j := MailJob{Purpose: p, Ref: hex.EncodeToString(ref[:])}
	if j.Sealed, err = s.o.MailSealer.SealUser(ctx, palisade.UserID(j.Ref), mailSealColumn(p), raw); err != nil {
		return fmt.Errorf("sealing a queued e-mail: %w", err)
	}
	if err := s.o.Jobs.Enqueue(ctx, j); err != nil {
		return fmt.Errorf("queueing an account e-mail: %w", err)
	}
	return nil
}

// DeliverMail rebuilds and sends a queued account e-mail: the job
// worker's side of queueMail. An address without an account gets nothing
// for a reset or a verification. A retry after a failed send makes a new
// link; one that did arrive earlier still works until it expires.
func (s *Service) DeliverMail(ctx context.Context, j MailJob) error {
	if !j.Purpose.valid() || j.Ref == "" {
		return fmt.Errorf("%w: purpose %q", ErrBadMailJob, j.Purpose)
	}
	if s.o.MailSealer == nil {
		return store.ErrNoSealer
	}
	raw, err := s.o.MailSealer.OpenUser(ctx, palisade.UserID(j.Ref), mailSealColumn(j.Purpose), j.Sealed)
	if err != nil {
		return fmt.Errorf("%w: the payload does not open: %v", ErrBadMailJob, err)
	}
	var pl mailPayload
	if err := json.Unmarshal(raw, &pl); err != nil {
		return fmt.Errorf("%w: malformed payload", ErrBadMailJob)
	}
	return s.deliver(ctx, j.Purpose, pl)
}

func (s *Service) deliver(ctx context.Context, p MailPurpose, pl mailPayload) error {
	c := Client{RequestID: pl.RequestID}
	if a, err := netip.ParseAddr(pl.ClientIP); err == nil {
		c.Addr = a
	}
	switch p {
	case MailSignupTaken:
		return s.o.Mailer.Send(ctx, mail.Message{To: pl.To, Subject: "Sign-up attempt on Palisade",
			Body: "Someone tried to create a Palisade account with this address, which already has one.\n" +
				"If it was you, sign in at " + s.link("/login") + " or reset your password at " + s.link("/forgot") + "."})
	case MailVerifyEmail:
		u, err := s.o.Store.GetUserByEmail(ctx, pl.To)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.sendVerification(ctx, u)
	case MailPasswordReset:
		u, err := s.o.Store.GetUserByEmail(ctx, pl.To)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		tok, hash, err := s.o.Tokens.NewOneTimeToken(auth.PurposePasswordReset)
		if err != nil {
			return err
		}
		now := s.o.Now()
		if err := s.o.Store.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenResetPassword, Hash: hash, Email: u.Email,
			UserID: u.ID, Now: now, ExpiresAt: now.Add(ResetTTL)}); err != nil {
			return err
		}
		if err := s.o.Mailer.Send(ctx, mail.Message{To: u.Email, Subject: "Reset your Palisade password",
			Body: "Choose a new password by opening:\n\n" + s.link("/reset/"+tok.Reveal()) + "\n\nThe link works once and expires in one hour. " +
				"If you did not ask for it, ignore this message."}); err != nil {
			return err
		}
		s.recordAccount(ctx, c, audit.Entry{Actor: string(u.ID), Action: audit.ActionPasswordResetAsked, Outcome: audit.OutcomeSuccess})
		return nil
	}
	return fmt.Errorf("%w: purpose %q", ErrBadMailJob, p)
}
