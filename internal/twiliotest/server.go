// Package twiliotest runs a local HTTP server that speaks the part of
// Twilio's REST API the gateway uses (creating a Message) the way Twilio
// does: basic authentication, form parameters, Twilio's validation errors
// and error bodies, and a realistic Message resource in reply. Tests point
// a Twilio client at URL and then look at what went over the wire, make the
// server refuse or hang on command, and sign inbound webhooks (Sign) as
// Twilio would.
package twiliotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Default credentials of a Server started without WithCredentials. They
// have the shape of real ones (twilio-go refuses anything but letters and
// digits).
const (
	DefaultAccountSID = "AC00000000000000000000000000000001"
	DefaultAuthToken  = "0123456789abcdef0123456789abcdef"
)

// Fault is how the server answers a request instead of accepting it.
type Fault struct {
	// Status is the HTTP status.
	Status int
	// Code is the Twilio error code of the JSON error body. With Code 0 the
	// body is a small HTML page instead, as a load balancer in front of the
	// API would send: the client then has no Twilio error to decode.
	Code int
	// Message is Twilio's message. "{To}" and "{From}" are replaced by the
	// request's To and From (or MessagingServiceSid).
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Body, when set, is sent as the body instead of the Twilio error or
	// HTML page, with ContentType (default text/html): a proxy's error page.
	Body, ContentType string
	// Hang never answers: the request waits until the client gives up or
	// the server is closed, and then the connection is dropped without a
	// response.
	Hang bool
}

// Faults as Twilio sends them.
var (
	// ServerError is Twilio's 500.
	ServerError = Fault{Status: http.StatusInternalServerError, Code: 20500, Message: "Internal Server Error"}
	// Unavailable is Twilio's 503.
	Unavailable = Fault{Status: http.StatusServiceUnavailable, Code: 20503, Message: "Service Unavailable"}
	// BadGateway is a 502 with an HTML body and no Twilio error in it.
	BadGateway = Fault{Status: http.StatusBadGateway}
	// Unsubscribed: the recipient replied STOP (21610).
	Unsubscribed = Fault{Status: http.StatusBadRequest, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}
	// InvalidTo: not a phone number (21211).
	InvalidTo = Fault{Status: http.StatusBadRequest, Code: 21211, Message: "The 'To' number {To} is not a valid phone number."}
	// NotMobile: a landline (21614).
	NotMobile = Fault{Status: http.StatusBadRequest, Code: 21614, Message: "'To' number is not a valid mobile number"}
	// Unreachable: the destination cannot be reached from this sender (21612).
	Unreachable = Fault{Status: http.StatusBadRequest, Code: 21612, Message: "The 'To' phone number: {To}, is not currently reachable using the 'From' phone number: {From} via SMS."}
	// RegionNotEnabled: the account may not send to that country (21408).
	RegionNotEnabled = Fault{Status: http.StatusBadRequest, Code: 21408, Message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {To}."}
	// Hang never answers.
	Hang = Fault{Hang: true}
)

// RateLimited is Twilio's 429 (20429). retryAfter, when not "", is sent as
// the Retry-After header ("2" or an HTTP date).
func RateLimited(retryAfter string) Fault {
	return Fault{Status: http.StatusTooManyRequests, Code: 20429, Message: "Too Many Requests", RetryAfter: retryAfter}
}

// Request is one request the server received on the Messages endpoint,
// with how it was answered.
type Request struct {
	// N is the 1-based number of the request in arrival order.
	N    int
	Time time.Time
	// AccountSID is the account in the path; User is the basic-auth user
	// ("" without basic auth) and Authorized says whether user and password
	// matched the server's credentials.
	AccountSID string
	User       string
	Authorized bool
	UserAgent  string
	// Form holds every form value sent; the fields below are its common
	// ones.
	Form                url.Values
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	ContentSID          string
	ContentVariables    string
	StatusCallback      string

	// Status is the HTTP status answered (0 for a request left hanging),
	// Code the Twilio error code (0 when accepted) and SID the new
	// message's SID when accepted.
	Status int
	Code   int
	SID    string
}

// Accepted says the server created a message for the request.
func (r Request) Accepted() bool { return r.Status == http.StatusCreated }

type config struct {
	accountSID, authToken string
	rules                 []func(Request) *Fault
}

// Option configures a Server; see Start.
type Option func(*config)

// WithCredentials sets the account SID and auth token the server accepts.
func WithCredentials(accountSID, authToken string) Option {
	return func(c *config) { c.accountSID, c.authToken = accountSID, authToken }
}

// WithReply consults fn for every authenticated request; a non-nil Fault
// is answered instead of accepting. Rules are tried in the order given and
// the first Fault wins; SetFault, when set, comes before all of them.
func WithReply(fn func(r Request) *Fault) Option {
	return func(c *config) { c.rules = append(c.rules, fn) }
}

// FailNth answers the n-th request (1-based, counting every request to the
// Messages endpoint) with f.
func FailNth(n int, f Fault) Option {
	return WithReply(func(r Request) *Fault {
		if r.N == n {
			return &f
		}
		return nil
	})
}

// FailTo answers every request to the number to with f. to is compared
// with the To parameter as sent ("whatsapp:+1…" for WhatsApp).
func FailTo(to string, f Fault) Option {
	return WithReply(func(r Request) *Fault {
		if r.To == to {
			return &f
		}
		return nil
	})
}

// Server is a running fake of Twilio's REST API.
type Server struct {
	cfg  config
	srv  *http.Server
	ln   net.Listener
	url  string
	done chan struct{}
	wg   sync.WaitGroup // handlers in flight

	conns atomic.Int64

	mu     sync.Mutex
	n      int
	reqs   []Request
	fault  *Fault
	notify chan struct{} // closed and replaced whenever reqs grows

	closeOnce sync.Once
}

// Start runs a server on 127.0.0.1:0 for the length of the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("twiliotest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// New runs a server on 127.0.0.1:0 until Close; for benchmarks and tools
// that have no testing.TB.
func New(opts ...Option) (*Server, error) {
	cfg := config{accountSID: DefaultAccountSID, authToken: DefaultAuthToken}
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		ln:     ln,
		url:    "http://" + ln.Addr().String(),
		done:   make(chan struct{}),
		notify: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/2010-04-01/Accounts/{AccountSid}/Messages.json", s.messages)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	s.srv = &http.Server{
		Handler:           s.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		// Clients that give up on a hanging request are the point of some
		// tests; their broken connections are not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wg.Add(1)
		defer s.wg.Done()
		h.ServeHTTP(w, r)
	})
}

// URL is the base URL of the API ("http://127.0.0.1:port"), to be used
// where a client would use "https://api.twilio.com".
func (s *Server) URL() string { return s.url }

// AccountSID is the account SID the server accepts.
func (s *Server) AccountSID() string { return s.cfg.accountSID }

// AuthToken is the auth token the server accepts.
func (s *Server) AuthToken() string { return s.cfg.authToken }

// SetFault answers every authenticated request from now on with f, before
// any WithReply rule; nil goes back to the rules. Requests already hanging
// stay so.
func (s *Server) SetFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		c := *f
		f = &c
	}
	s.fault = f
}

// Close stops the server, releasing hanging requests (their connections
// are dropped without an answer), and waits for the handlers to return. It
// is safe to call twice.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.srv.Close()
		s.wg.Wait()
	})
	return err
}

// Requests returns every request to the Messages endpoint so far, in
// arrival order, whatever the answer.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		r.Form = cloneValues(r.Form)
		out[i] = r
	}
	return out
}

// Accepted returns the requests that created a message, in arrival order.
func (s *Server) Accepted() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Accepted() {
			out = append(out, r)
		}
	}
	return out
}

// Connections is how many TCP connections clients have opened so far; a
// client that reuses its connections keeps it at its concurrency.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Count is how many requests the Messages endpoint received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// WaitFor waits until the Messages endpoint received at least n requests
// (answered, refused or hanging).
func (s *Server) WaitFor(n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		s.mu.Lock()
		got, ch := len(s.reqs), s.notify
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("twiliotest: %d of %d requests after %s", got, n, timeout)
		}
	}
}

func (s *Server) record(r *Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, *r)
	close(s.notify)
	s.notify = make(chan struct{})
}

func (s *Server) messages(w http.ResponseWriter, hr *http.Request) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()

	r := &Request{
		N:          n,
		Time:       time.Now(),
		AccountSID: hr.PathValue("AccountSid"),
		UserAgent:  hr.UserAgent(),
	}
	user, pass, ok := hr.BasicAuth()
	r.User = user
	r.Authorized = ok && user == s.cfg.accountSID && pass == s.cfg.authToken
	if hr.Method == http.MethodPost {
		// A body that is not a form leaves Form empty; validation says
		// what is missing, as Twilio does.
		_ = hr.ParseForm()
		r.Form = cloneValues(hr.PostForm)
	}
	f := r.Form
	r.To, r.From, r.MessagingServiceSID = f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid")
	r.Body, r.ContentSID, r.ContentVariables = f.Get("Body"), f.Get("ContentSid"), f.Get("ContentVariables")
	r.StatusCallback = f.Get("StatusCallback")

	switch {
	case !r.Authorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		s.refuse(w, r, http.StatusUnauthorized, 20003, "Authenticate")
		return
	case r.AccountSID != s.cfg.accountSID:
		s.refuse(w, r, http.StatusNotFound, 20404, "The requested resource "+hr.URL.Path+" was not found")
		return
	case hr.Method != http.MethodPost:
		// The real resource lists messages on GET; the gateway never does.
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, r, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}

	if fault := s.faultFor(*r); fault != nil {
		if fault.Hang {
			s.record(r)
			select {
			case <-hr.Context().Done():
			case <-s.done:
			}
			// Drop the connection without a response, as a dead peer would.
			panic(http.ErrAbortHandler)
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		from := r.From
		if from == "" {
			from = r.MessagingServiceSID
		}
		if fault.Body != "" {
			r.Status, r.Code = fault.Status, fault.Code
			s.record(r)
			ct := fault.ContentType
			if ct == "" {
				ct = "text/html"
			}
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(fault.Status)
			_, _ = io.WriteString(w, fault.Body)
			return
		}
		msg := strings.NewReplacer("{To}", r.To, "{From}", from).Replace(fault.Message)
		s.refuse(w, r, fault.Status, fault.Code, msg)
		return
	}

	if status, code, msg := validate(r); status != 0 {
		s.refuse(w, r, status, code, msg)
		return
	}
	s.accept(w, r)
}

func (s *Server) faultFor(r Request) *Fault {
	s.mu.Lock()
	f := s.fault
	s.mu.Unlock()
	if f != nil {
		return f
	}
	for _, rule := range s.cfg.rules {
		if f := rule(r); f != nil {
			return f
		}
	}
	return nil
}

// validate checks the parameters as Twilio does, in the same order, with
// Twilio's codes and words.
func validate(r *Request) (status, code int, msg string) {
	bad := http.StatusBadRequest
	switch {
	case r.To == "":
		return bad, 21604, "A 'To' phone number is required."
	case r.From == "" && r.MessagingServiceSID == "":
		return bad, 21603, "A 'From' phone number is required."
	case r.Body == "" && r.ContentSID == "" && len(r.Form["MediaUrl"]) == 0:
		return bad, 21602, "Message body is required."
	case r.From != "" && channelOf(r.From) != channelOf(r.To):
		return bad, 21910, "Invalid From and To pair. From and To should be of the same channel"
	case len([]rune(r.Body)) > 1600:
		return bad, 21617, "The concatenated message body exceeds the 1600 character limit."
	}
	if r.ContentVariables != "" {
		var vars map[string]any
		if err := json.Unmarshal([]byte(r.ContentVariables), &vars); err != nil {
			return bad, 21656, "The ContentVariables Parameter is invalid."
		}
	}
	return 0, 0, ""
}

// channelOf is the channel prefix of an address: "whatsapp" for
// "whatsapp:+1…", "" for a plain number.
func channelOf(addr string) string {
	if i := strings.IndexByte(addr, ':'); i > 0 {
		return addr[:i]
	}
	return ""
}

// message is Twilio's Message resource as the API returns it on create.
type message struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func (s *Server) accept(w http.ResponseWriter, r *Request) {
	r.Status, r.SID = http.StatusCreated, "SM"+randomHex()
	now := r.Time.UTC().Format(time.RFC1123Z)
	base := "/2010-04-01/Accounts/" + r.AccountSID + "/Messages/" + r.SID
	m := message{
		AccountSID:      r.AccountSID,
		APIVersion:      "2010-04-01",
		Body:            r.Body,
		DateCreated:     now,
		DateUpdated:     now,
		Direction:       "outbound-api",
		NumMedia:        fmt.Sprint(len(r.Form["MediaUrl"])),
		NumSegments:     fmt.Sprint(Segments(r.Body)),
		PriceUnit:       "USD",
		SID:             r.SID,
		Status:          "queued",
		SubresourceURIs: map[string]string{"media": base + "/Media.json"},
		To:              r.To,
		URI:             base + ".json",
	}
	if r.From != "" {
		m.From = &r.From
	}
	if r.MessagingServiceSID != "" {
		m.MessagingServiceSID = &r.MessagingServiceSID
		if r.From == "" {
			// A Messaging Service picks the sender later: Twilio answers
			// "accepted", with no From and 0 segments.
			m.Status, m.NumSegments = "accepted", "0"
		}
	}
	s.record(r)
	w.Header().Set("Twilio-Request-Id", "RQ"+randomHex())
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) refuse(w http.ResponseWriter, r *Request, status, code int, msg string) {
	r.Status, r.Code = status, code
	s.record(r)
	if code == 0 {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
		return
	}
	writeError(w, status, code, msg)
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, twilioError{
		Code:     code,
		Message:  msg,
		MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		Status:   status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
