package email

import (
	"net/mail"
	"net/url"
	"strings"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"

	"github.com/npsgate/npsgate/channels"
)

// HeaderDelivery carries the delivery id, so a bounce or a complaint that
// quotes our headers leads back to the delivery.
const HeaderDelivery = "X-NPSGate-Delivery"

// maxHeaderLine is RFC 5322's hard limit on a line, CRLF excluded.
const maxHeaderLine = 998

// outgoing is a composed message with its envelope.
type outgoing struct {
	msg       *gomail.Msg
	messageID string // as in the header, with angle brackets
	envFrom   string
	rcpt      string
}

func (c *Channel) compose(m *channels.Message) (*outgoing, error) {
	if m == nil {
		return nil, invalid("nil message")
	}
	// go-mail would encode a CR or LF in the subject harmlessly, but one in
	// any rendered field means a template or a caller is building headers
	// out of untrusted text: refuse it before it reaches a header we write
	// verbatim.
	for _, f := range []struct{ name, v string }{
		{"DeliveryID", m.DeliveryID}, {"To", m.To}, {"Subject", m.Subject},
		{"UnsubscribeURL", m.UnsubscribeURL}, {"UnsubscribeMailto", m.UnsubscribeMailto},
	} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return nil, invalid("%s contains a line break (header injection)", f.name)
		}
	}
	if m.Text == "" && m.HTML == "" {
		return nil, invalid("no body: Text and HTML are both empty")
	}

	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, invalid("To %q: %v", m.To, err)
	}

	local := m.DeliveryID
	if local == "" {
		local = uuid.NewString()
	} else if !isDotAtom(local) {
		return nil, invalid("DeliveryID %q cannot be used in a Message-ID", m.DeliveryID)
	}
	msgID := local + "@" + c.domain

	// go-mail's default User-Agent names the library and its version, which
	// tells nobody anything useful and helps fingerprint the gateway.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(c.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(msgID)
	msg.SetDate()
	if m.DeliveryID != "" {
		msg.SetGenHeader(HeaderDelivery, m.DeliveryID)
	}

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}

	if err := listUnsubscribe(msg, m); err != nil {
		return nil, err
	}

	return &outgoing{
		msg:       msg,
		messageID: "<" + msgID + ">",
		envFrom:   "<" + c.from.Address + ">",
		rcpt:      "<" + to.Address + ">",
	}, nil
}

// listUnsubscribe sets List-Unsubscribe (RFC 2369) and, with an https URL,
// List-Unsubscribe-Post (RFC 8058), which is what lets mailbox providers
// show a one-click unsubscribe instead of a spam button.
func listUnsubscribe(msg *gomail.Msg, m *channels.Message) error {
	var uris []string
	oneClick := false
	if v := m.UnsubscribeMailto; v != "" {
		if !strings.HasPrefix(strings.ToLower(v), "mailto:") || !isHeaderURI(v) {
			return invalid("UnsubscribeMailto %q is not a mailto: URI", v)
		}
		uris = append(uris, v)
	}
	if v := m.UnsubscribeURL; v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !isHeaderURI(v) {
			return invalid("UnsubscribeURL %q is not an http(s) URL", v)
		}
		uris = append(uris, v)
		oneClick = u.Scheme == "https"
	}
	if len(uris) == 0 {
		return nil
	}
	for i, u := range uris {
		uris[i] = "<" + u + ">"
	}
	// go-mail writes this header verbatim, so fold it ourselves between the
	// entries, where RFC 2369 allows whitespace.
	value := strings.Join(uris, ", ")
	if len("List-Unsubscribe: ")+len(value) > 78 {
		value = strings.Join(uris, ",\r\n ")
	}
	for _, line := range strings.Split(value, "\r\n") {
		if len("List-Unsubscribe: ")+len(line) > maxHeaderLine {
			return invalid("List-Unsubscribe URI longer than a header line may be")
		}
	}
	msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, value)
	if oneClick {
		msg.SetListUnsubscribePost()
	}
	return nil
}

// isHeaderURI accepts printable ASCII without the characters that would end
// the <...> it is written in or split the header.
func isHeaderURI(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || b == '<' || b == '>' {
			return false
		}
	}
	return true
}

// isDotAtom reports whether s can stand left of the @ in a Message-ID
// unquoted (RFC 5322 dot-atom-text).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", b) >= 0:
		default:
			return false
		}
	}
	return true
}
