package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Parsed is a received message split into its header and its leaf MIME
// parts, with bodies decoded from quoted-printable or base64.
type Parsed struct {
	Header mail.Header
	// ContentType is the media type of the whole message, such as
	// "multipart/alternative".
	ContentType string
	// Parts are the leaf parts in order; a single-part message has one.
	Parts []Part
}

// Part is one leaf MIME part.
type Part struct {
	ContentType string // media type without parameters
	Params      map[string]string
	Header      textproto.MIMEHeader
	Body        string // decoded
}

var wordDecoder = &mime.WordDecoder{}

// Get returns a header value with RFC 2047 encoded words decoded (so a
// Chinese subject reads as Chinese).
func (p *Parsed) Get(key string) string {
	v := p.Header.Get(key)
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Subject is the decoded Subject header.
func (p *Parsed) Subject() string { return p.Get("Subject") }

// Part returns the first leaf part of the media type, or nil.
func (p *Parsed) Part(mediaType string) *Part {
	for i := range p.Parts {
		if p.Parts[i].ContentType == mediaType {
			return &p.Parts[i]
		}
	}
	return nil
}

// Text is the body of the first text/plain part ("" if none).
func (p *Parsed) Text() string {
	if pt := p.Part("text/plain"); pt != nil {
		return pt.Body
	}
	return ""
}

// HTML is the body of the first text/html part ("" if none).
func (p *Parsed) HTML() string {
	if pt := p.Part("text/html"); pt != nil {
		return pt.Body
	}
	return ""
}

// Parse parses raw RFC 5322 message data.
func Parse(data []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	p := &Parsed{Header: msg.Header}
	ct := msg.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("content-type %q: %w", ct, err)
	}
	p.ContentType = mt
	if err := p.walk(textproto.MIMEHeader(msg.Header), mt, params, msg.Body); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parsed) walk(h textproto.MIMEHeader, mt string, params map[string]string, body io.Reader) error {
	if strings.HasPrefix(mt, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without boundary", mt)
		}
		// NextRawPart, so that transfer decoding is ours and visible.
		mr := multipart.NewReader(body, boundary)
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mt, err)
			}
			ct := part.Header.Get("Content-Type")
			if ct == "" {
				ct = "text/plain"
			}
			pmt, pparams, err := mime.ParseMediaType(ct)
			if err != nil {
				return fmt.Errorf("part content-type %q: %w", ct, err)
			}
			if err := p.walk(part.Header, pmt, pparams, part); err != nil {
				return err
			}
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	decoded, err := decodeBody(h.Get("Content-Transfer-Encoding"), raw)
	if err != nil {
		return fmt.Errorf("%s body: %w", mt, err)
	}
	p.Parts = append(p.Parts, Part{ContentType: mt, Params: params, Header: h, Body: string(decoded)})
	return nil
}

func decodeBody(cte string, raw []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(raw)))
	case "", "7bit", "8bit", "binary":
		return raw, nil
	}
	return nil, fmt.Errorf("unknown transfer encoding %q", cte)
}
