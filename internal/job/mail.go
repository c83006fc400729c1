package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/palisadehq/palisade/internal/account"
)

// MailMaxAttempts bounds the retries of an account e-mail. With River's
// backoff (attempt⁴ seconds) five attempts span about six minutes: long
// enough to ride out a mail server's hiccup, short enough that a reset
// link does not arrive long after it was asked for.
const MailMaxAttempts = 5

// MailTimeout bounds one attempt: an SMTP exchange, with its own time-out
// of 30 seconds, and a few queries.
const MailTimeout = time.Minute

// AccountMail sends queued account e-mails (*account.Service).
type AccountMail interface {
	DeliverMail(ctx context.Context, j account.MailJob) error
}

// AccountMailWorker sends the account e-mails the account service queues
// (password resets, e-mail verification, sign-up notices), so that no
// request waits on SMTP or shows by its timing whether an address has an
// account. Its arguments hold no token, link or clear address.
type AccountMailWorker struct {
	river.WorkerDefaults[account.MailJob]
	Mail   AccountMail
	Logger *slog.Logger
	// MaxTimeout caps MailTimeout: the runner's job time-out, below its
	// rescue threshold. Zero leaves MailTimeout.
	MaxTimeout time.Duration
}

// Timeout bounds one attempt.
func (w *AccountMailWorker) Timeout(*river.Job[account.MailJob]) time.Duration {
	if w.MaxTimeout > 0 {
		return min(MailTimeout, w.MaxTimeout)
	}
	return MailTimeout
}

func (w *AccountMailWorker) Work(ctx context.Context, j *river.Job[account.MailJob]) error {
	err := w.Mail.DeliverMail(ctx, j.Args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, account.ErrBadMailJob):
		// Tampered with, or sealed under a master key since replaced: it
		// will not open later either.
		w.Logger.WarnContext(ctx, "account e-mail dropped", "job_id", j.ID, "purpose", string(j.Args.Purpose), "err", err)
		return river.JobCancel(err)
	case j.Attempt >= MailMaxAttempts:
		w.Logger.ErrorContext(ctx, "account e-mail given up", "job_id", j.ID, "purpose", string(j.Args.Purpose), "attempt", j.Attempt, "err", err)
		return river.JobCancel(err)
	}
	return fmt.Errorf("sending account e-mail: %w", err)
}
