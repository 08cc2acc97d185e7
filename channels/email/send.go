package email

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"time"
)

// transact runs one mail transaction on cn. If ctx ends meanwhile the
// socket is shut, which unblocks whatever go-mail was waiting for, and ctx's
// error is returned; cn is then dead (cn.dead).
func (c *Channel) transact(ctx context.Context, cn *conn, out *outgoing) error {
	stop := context.AfterFunc(ctx, func() { _ = cn.raw.Close() })
	err := c.exchange(cn, out)
	if !stop() {
		cn.dead = true
		// The server's 250 may have come just before the cancellation; then
		// the message is out and reporting a failure would send it twice.
		if err == nil {
			return nil
		}
		return fmt.Errorf("email: %w", ctx.Err())
	}
	return err
}

func (c *Channel) exchange(cn *conn, out *outgoing) error {
	// Deadlines per command: go-mail sets one at dial only, and a pooled
	// connection lives far longer than Timeout.
	extend := func() { _ = cn.raw.SetDeadline(time.Now().Add(c.timeout)) }

	extend()
	if err := cn.sc.Mail(out.envFrom); err != nil {
		return c.rejected(cn, stageMail, err)
	}
	extend()
	if err := cn.sc.Rcpt(out.rcpt); err != nil {
		return c.rejected(cn, stageRcpt, err)
	}
	extend()
	w, err := cn.sc.Data()
	if err != nil {
		return c.rejected(cn, stageData, err)
	}
	extend()
	if _, err := out.msg.WriteTo(w); err != nil {
		// Half a message is on the wire; only hanging up aborts it.
		return &sendError{stage: stageBody, err: err}
	}
	extend()
	if err := w.Close(); err != nil {
		// A reply to the final dot ends the transaction either way, so the
		// session is clean unless the server is closing it (421) or there
		// was no reply at all.
		var te *textproto.Error
		keep := errors.As(err, &te) && te.Code != 421
		return &sendError{stage: stageEnd, err: err, keep: keep}
	}
	cn.sent++
	return nil
}

// rejected handles a failure before the message data. A server refusal
// leaves a half-open transaction, which RSET clears so the connection can
// be reused; a 421 or a broken socket means the session is over.
func (c *Channel) rejected(cn *conn, st stage, err error) *sendError {
	se := &sendError{stage: st, err: err}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code != 421 {
		_ = cn.raw.SetDeadline(time.Now().Add(c.timeout))
		se.keep = cn.sc.Reset() == nil
	}
	return se
}
