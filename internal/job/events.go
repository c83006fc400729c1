package job

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/palisadehq/palisade/internal/palisade"
)

// EventMaxAttempts bounds the deliveries of one event to one endpoint. With
// River's backoff (attempt⁴ seconds) fifteen attempts span about 35 hours:
// an endpoint down for a day still gets its events.
const EventMaxAttempts = 15

// EventTimeout is how long one delivery may take; the Standard Webhooks
// recommendation is 15 to 30 seconds.
const EventTimeout = 30 * time.Second

// EventArgs is one event to deliver to one of a workspace's webhook
// endpoints. The payload names what happened (ids, never a message's
// text), and the whole is authenticated with a MAC (ArgsKey): the worker
// opens the endpoint's secret and sends in the scope the arguments name.
type EventArgs struct {
	Workspace  palisade.WorkspaceID `json:"workspace"`
	EndpointID string               `json:"endpoint_id"`
	// EventID is the webhook-id, the same on every attempt.
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	// Payload is the body sent, exactly.
	Payload []byte `json:"payload"`
	MAC     []byte `json:"mac"`
}

// Kind is River's name for the job.
func (EventArgs) Kind() string { return "event_webhook" }

// InsertOpts retries failed deliveries with River's backoff.
func (EventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: EventMaxAttempts}
}

func (a EventArgs) check() error {
	if !palisade.ValidID(palisade.PrefixWorkspace, string(a.Workspace)) || !palisade.ValidID(palisade.PrefixEventEndpoint, a.EndpointID) ||
		!palisade.ValidID(palisade.PrefixEvent, a.EventID) || a.Type == "" || len(a.Payload) == 0 {
		return errors.New("event job: malformed arguments")
	}
	return nil
}

// SignEvent returns args with their MAC under key, ready to enqueue.
func SignEvent(key *ArgsKey, args EventArgs) (EventArgs, error) {
	if key == nil {
		return EventArgs{}, errNoArgsKey
	}
	if err := args.check(); err != nil {
		return EventArgs{}, err
	}
	args.MAC = key.eventMAC(args)
	return args, nil
}

func (k *ArgsKey) eventMAC(a EventArgs) []byte {
	m := hmac.New(sha256.New, k.key)
	for _, f := range [][]byte{[]byte("palisade job arguments v1"), []byte(a.Kind()), []byte(a.Workspace), []byte(a.EndpointID),
		[]byte(a.EventID), []byte(a.Type), a.Payload} {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		m.Write(f)
	}
	return m.Sum(nil)
}

// EventSender delivers one attempt of an event (*events.Service), records
// it in the endpoint's delivery log, and says what became of it: nil when
// the endpoint took it, an error with code not found when the endpoint is
// gone (or answered 410 Gone: the job ends), any other error to retry.
type EventSender interface {
	SendEvent(ctx context.Context, scope palisade.Scope, a EventArgs, attempt int) error
}

// EventWorker delivers outgoing webhook events.
type EventWorker struct {
	river.WorkerDefaults[EventArgs]
	ArgsKey *ArgsKey
	Sender  EventSender
	Logger  *slog.Logger
}

// Timeout bounds one delivery.
func (w *EventWorker) Timeout(*river.Job[EventArgs]) time.Duration { return EventTimeout }

func (w *EventWorker) Work(ctx context.Context, j *river.Job[EventArgs]) error {
	a := j.Args
	if w.ArgsKey == nil || w.Sender == nil {
		return errors.New("event job: no key or no sender configured")
	}
	if len(a.MAC) != sha256.Size || !hmac.Equal(a.MAC, w.ArgsKey.eventMAC(a)) {
		w.Logger.WarnContext(ctx, "event job with forged or altered arguments cancelled", "job_id", j.ID)
		return river.JobCancel(fmt.Errorf("event job %d: its arguments are not authenticated", j.ID))
	}
	if err := a.check(); err != nil {
		return river.JobCancel(err)
	}
	err := w.Sender.SendEvent(ctx, palisade.ScopeFor(a.Workspace), a, j.Attempt)
	switch {
	case err == nil:
		return nil
	case palisade.ErrorCode(err) == palisade.CodeNotFound:
		w.Logger.InfoContext(ctx, "event delivery ended: the endpoint is gone", "job_id", j.ID, "endpoint_id", a.EndpointID)
		return river.JobCancel(err)
	}
	w.Logger.InfoContext(ctx, "event delivery failed; retrying with backoff", "job_id", j.ID, "endpoint_id", a.EndpointID,
		"attempt", strconv.Itoa(j.Attempt))
	return fmt.Errorf("delivering event %s: %w", a.EventID, err)
}
