package email

import (
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/npsgate/npsgate/channels"
)

var (
	// ErrInvalidMessage is wrapped by the Permanent error for a message that
	// cannot be put on the wire as it is: a bad address, a line break in a
	// header (header injection), no body.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrClosed is wrapped by the error of a Send after Close.
	ErrClosed = errors.New("email channel closed")
)

// stage names the SMTP step a failure happened at, for logs and for the
// message kept on the delivery when the server said nothing.
type stage string

const (
	stageMail stage = "MAIL FROM"
	stageRcpt stage = "RCPT TO"
	stageData stage = "DATA"
	stageBody stage = "message data"
	stageEnd  stage = "end of data"
)

// sendError is a failed transaction on an open connection.
type sendError struct {
	stage stage
	err   error
	// keep: the server answered and the session is clean again, so the
	// connection can carry the next message.
	keep bool
}

func (e *sendError) Error() string { return fmt.Sprintf("smtp %s: %v", e.stage, e.err) }
func (e *sendError) Unwrap() error { return e.err }

// EnhancedCode is the enhanced status code (RFC 3463, "5.1.1") the server
// put at the start of its reply, or "" if it gave none. The dispatcher
// reads it from the error to tell an address that does not exist (5.1.x)
// from a message refused for what it says.
func (e *sendError) EnhancedCode() string {
	var te *textproto.Error
	if !errors.As(e.err, &te) {
		return ""
	}
	return enhancedCode(te.Msg)
}

// enhancedCode reads "class.subject.detail" from the start of an SMTP
// reply's text: class 2, 4 or 5, subject and detail of 1 to 3 digits.
func enhancedCode(msg string) string {
	code := msg
	if i := strings.IndexAny(msg, " \t\r\n"); i >= 0 {
		code = msg[:i]
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return code
}

// channelError says what the dispatcher should do. The server's reply is
// the authority where there is one: 4xx (421 included) is worth retrying,
// 5xx is its final word on this message. Anything without a reply (a
// dropped connection, a timeout) is retried: the message may or may not
// have arrived, and a rare duplicate beats a lost survey.
func (e *sendError) channelError() *channels.Error {
	var te *textproto.Error
	if errors.As(e.err, &te) {
		kind := channels.Retryable
		if te.Code/100 == 5 {
			kind = channels.Permanent
		}
		return &channels.Error{Channel: Name, Kind: kind, Code: strconv.Itoa(te.Code), Message: te.Msg, Err: e}
	}
	return &channels.Error{Channel: Name, Kind: channels.Retryable, Message: e.Error(), Err: e}
}

// dialError classifies a failure to connect, secure or authenticate. All of
// them are Retryable, even a 535 on AUTH: they are faults of the relay or
// of our configuration, never of the message, and a delivery retried after
// the operator fixes the password is better than one failed for good.
func dialError(err error) *channels.Error {
	ce := &channels.Error{Channel: Name, Kind: channels.Retryable, Message: "connect: " + err.Error(), Err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		ce.Code = strconv.Itoa(te.Code)
	}
	return ce
}

func invalid(format string, args ...any) *channels.Error {
	msg := fmt.Sprintf(format, args...)
	return &channels.Error{Channel: Name, Kind: channels.Permanent, Message: msg,
		Err: fmt.Errorf("%w: %s", ErrInvalidMessage, msg)}
}
