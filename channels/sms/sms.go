// Package sms is the Twilio channel: SMS, and WhatsApp through the same
// Messages API, sent with twilio-go. Every Send is one "create Message"
// request; Twilio's answer is mapped to a channels.Error kind from its
// error code and HTTP status.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/npsgate/npsgate/channels"
)

// Channel names.
const (
	Name         = "sms"
	WhatsAppName = "whatsapp"
)

// DefaultAPIURL is Twilio's REST API.
const DefaultAPIURL = "https://api.twilio.com"

const (
	defaultTimeout = 15 * time.Second
	whatsappPrefix = "whatsapp:"
)

// Config configures the Twilio channels. Zero values get the documented
// defaults from New and NewWhatsApp.
type Config struct {
	// AccountSID ("AC…") and AuthToken authenticate every request. Both are
	// letters and digits only (twilio-go refuses anything else).
	AccountSID, AuthToken string
	// From is the SMS sender: an E.164 long code, a short code or an
	// alphanumeric sender ID. Not used when MessagingServiceSID is set.
	From string
	// MessagingServiceSID ("MG…") sends SMS through a Messaging Service,
	// which picks the sender; it is used instead of From when set. WhatsApp
	// uses it only when WhatsAppFrom is empty.
	MessagingServiceSID string
	// WhatsAppFrom is the WhatsApp sender number ("+14155550100"); the
	// WhatsApp channel sends from "whatsapp:"+WhatsAppFrom. A leading
	// "whatsapp:" is accepted too.
	WhatsAppFrom string
	// WhatsAppContentSID ("HX…") is an approved template (Content API).
	// When set, WhatsApp messages are sent as that template with
	// ContentVariables {"1": reply URL} instead of a free-form Body, which
	// WhatsApp only delivers inside the 24-hour window after the contact
	// last wrote to us. The template's {{1}} must therefore be the link.
	WhatsAppContentSID string
	// APIURL is the base URL of Twilio's REST API, DefaultAPIURL if empty;
	// tests point it at internal/twiliotest. http:// is accepted only for a
	// loopback host, since every request carries the auth token.
	APIURL string
	// StatusCallback is the full URL of our status endpoint, set on every
	// message so Twilio reports delivery (and failure) to it.
	StatusCallback string
	// Timeout bounds each request to Twilio, from connecting to reading the
	// answer. Default 15s.
	Timeout time.Duration
	// Logger receives send failures at debug level; nil discards them.
	Logger *slog.Logger
}

// Channel sends messages through Twilio. Safe for concurrent use.
type Channel struct {
	name     string
	whatsapp bool
	log      *slog.Logger

	creds      *client.Credentials
	accountSID string
	base       *url.URL // nil: DefaultAPIURL, left to twilio-go
	transport  *http.Transport
	timeout    time.Duration

	from, service  string // one of them is set
	contentSID     string // WhatsApp template
	statusCallback string
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// New builds the SMS channel, named "sms". It does no I/O.
func New(cfg Config) (*Channel, error) {
	c, err := build(Name, cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.MessagingServiceSID != "":
		c.service = cfg.MessagingServiceSID
	case cfg.From != "":
		c.from = cfg.From
	default:
		return nil, errors.New("sms: From or MessagingServiceSID: required")
	}
	return c, nil
}

// NewWhatsApp builds the WhatsApp channel, named "whatsapp": the same
// Messages API with To and From prefixed "whatsapp:". It does no I/O.
func NewWhatsApp(cfg Config) (*Channel, error) {
	c, err := build(WhatsAppName, cfg)
	if err != nil {
		return nil, err
	}
	c.whatsapp = true
	switch from := strings.TrimPrefix(cfg.WhatsAppFrom, whatsappPrefix); {
	case from != "":
		c.from = whatsappPrefix + from
	case cfg.MessagingServiceSID != "":
		c.service = cfg.MessagingServiceSID
	default:
		return nil, errors.New("whatsapp: WhatsAppFrom or MessagingServiceSID: required")
	}
	c.contentSID = cfg.WhatsAppContentSID
	return c, nil
}

func build(name string, cfg Config) (*Channel, error) {
	if err := credential(cfg.AccountSID); err != nil {
		return nil, fmt.Errorf("%s: AccountSID: %w", name, err)
	}
	if err := credential(cfg.AuthToken); err != nil {
		// Never echo the token.
		return nil, fmt.Errorf("%s: AuthToken: %w", name, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%s: Timeout: must not be negative", name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.StatusCallback != "" {
		u, err := url.Parse(cfg.StatusCallback)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("%s: StatusCallback: %q is not an absolute http(s) URL", name, cfg.StatusCallback)
		}
	}
	var base *url.URL
	if cfg.APIURL != "" && strings.TrimSuffix(cfg.APIURL, "/") != DefaultAPIURL {
		u, err := url.Parse(cfg.APIURL)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: APIURL: not a valid URL", name)
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			return nil, fmt.Errorf("%s: APIURL: %q: want https://host[:port][/path]", name, cfg.APIURL)
		case u.User != nil, u.RawQuery != "", u.Fragment != "":
			return nil, fmt.Errorf("%s: APIURL: %q: no credentials, query or fragment", name, cfg.APIURL)
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			return nil, fmt.Errorf("%s: APIURL: http:// would send the auth token in clear; use https://", name)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		base = u
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Sends run concurrently against one host; the default of 2 idle
	// connections per host would close and reopen most of them.
	tr.MaxIdleConnsPerHost = 64
	return &Channel{
		name:           name,
		log:            log.With("channel", name),
		creds:          client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		accountSID:     cfg.AccountSID,
		base:           base,
		transport:      tr,
		timeout:        cfg.Timeout,
		statusCallback: cfg.StatusCallback,
	}, nil
}

// credential checks what twilio-go checks at every request (letters and
// digits), so that a typo fails at startup instead of each delivery.
func credential(s string) error {
	if s == "" {
		return errors.New("required")
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return errors.New("letters and digits only")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name implements channels.Channel: "sms" or "whatsapp".
func (c *Channel) Name() string { return c.name }

// Send creates one Twilio message for m: Body is m.Text (or, for WhatsApp
// with a template, ContentSid and ContentVariables with m.ReplyURL), To is
// m.To. The Result's ProviderID is the message SID ("SM…"), which Twilio's
// status callbacks carry as MessageSid.
//
// Errors are *channels.Error (see errors.go for the mapping), except when
// ctx ends before Twilio answers: then ctx's error is returned, wrapped, as
// soon as the request is abandoned. A message Twilio accepted just as ctx
// ended is reported as sent.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := ctx.Err(); err != nil {
		return channels.Result{}, fmt.Errorf("%s: %w", c.name, err)
	}
	params, err := c.params(m)
	if err != nil {
		return channels.Result{}, err
	}

	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{ctx: callCtx, next: c.transport, base: c.base}
	msg, err := c.api(ex).CreateMessage(params)
	if err != nil {
		var te *client.TwilioRestError
		if !errors.As(err, &te) && ctx.Err() != nil {
			return channels.Result{}, fmt.Errorf("%s: %w", c.name, ctx.Err())
		}
		ce := c.classify(err, ex, callCtx.Err() != nil)
		c.log.Debug("send failed", "delivery", m.DeliveryID, "kind", ce.Kind, "code", ce.Code,
			"http_status", ex.status, "err", err)
		return channels.Result{}, ce
	}
	if msg.Sid == nil || *msg.Sid == "" {
		// Twilio said 2xx but gave no SID: the message probably exists, but
		// without its SID no status callback can be matched to it. Retrying
		// risks a duplicate, which beats a survey silently lost.
		return channels.Result{}, &channels.Error{Channel: c.name, Kind: channels.Retryable,
			Message: fmt.Sprintf("Twilio answered HTTP %d without a message SID", ex.status)}
	}
	return channels.Result{ProviderID: *msg.Sid}, nil
}

// api returns twilio-go's Messages API bound to one call. twilio-go builds
// its http.Request with context.Background() and takes no context, so the
// call's context travels in the transport (exchange) of a client made for
// this call; the client is three small structs around the shared
// connection pool. The RequestHandler is built without NewRequestHandler
// so the TWILIO_EDGE and TWILIO_REGION environment variables cannot
// silently redirect traffic: APIURL is the one place to choose the host.
func (c *Channel) api(ex *exchange) *openapi.ApiService {
	tc := &client.Client{
		Credentials: c.creds,
		HTTPClient: &http.Client{
			Transport: ex,
			// As twilio-go's default client: a redirect is an answer, not
			// something to follow with our credentials.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		UserAgentExtensions: []string{"npsgate"},
	}
	tc.SetAccountSid(c.accountSID)
	return openapi.NewApiService(&client.RequestHandler{Client: tc})
}

// params builds the create-Message parameters, refusing locally what
// Twilio would refuse for certain.
func (c *Channel) params(m *channels.Message) (*openapi.CreateMessageParams, error) {
	if m == nil {
		return nil, c.invalid("no message")
	}
	to := strings.TrimSpace(m.To)
	if to == "" {
		return nil, c.invalid("no recipient number")
	}
	p := &openapi.CreateMessageParams{}
	if c.whatsapp && !strings.HasPrefix(to, whatsappPrefix) {
		to = whatsappPrefix + to
	}
	p.SetTo(to)
	if c.service != "" {
		p.SetMessagingServiceSid(c.service)
	} else {
		p.SetFrom(c.from)
	}
	if c.statusCallback != "" {
		p.SetStatusCallback(callbackFor(c.statusCallback, m.DeliveryID))
	}
	if c.contentSID != "" {
		if m.ReplyURL == "" {
			return nil, c.invalid("the WhatsApp template needs the reply URL, and the message has none")
		}
		vars, err := contentVariables(m)
		if err != nil {
			return nil, c.invalid("content variables: %v", err)
		}
		p.SetContentSid(c.contentSID)
		p.SetContentVariables(vars)
		return p, nil
	}
	if strings.TrimSpace(m.Text) == "" {
		return nil, c.invalid("empty text")
	}
	p.SetBody(m.Text)
	return p, nil
}

// Close releases the idle connections to Twilio. The channel stays usable:
// a later Send connects again.
func (c *Channel) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// callbackFor adds the delivery id to the status callback URL, so a status
// that arrives before the gateway has recorded the message SID still finds
// its delivery. Twilio signs the URL with its query, so nothing is lost.
func callbackFor(base, deliveryID string) string {
	if deliveryID == "" {
		return base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "d=" + url.QueryEscape(deliveryID)
}
