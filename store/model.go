package store

import (
	"errors"
	"time"

	"github.com/npsgate/npsgate/survey"
)

// Sentinel errors of the store; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique key is already taken (a survey
	// key on create, an idempotency key with a different request).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable wraps connection failures so the API can answer 503.
	ErrUnavailable = errors.New("store unavailable")
)

// Survey is a survey definition.
type Survey struct {
	Key         string
	Kind        survey.Kind
	ProductName string
	// Texts are the survey's own question and follow-ups per locale; gaps
	// are filled from survey's built-in defaults when shown.
	Texts map[string]survey.Text
	// Channels is the order in which channels are tried when a trigger
	// names none.
	Channels []string
	// Templates overrides the built-in templates: channel → locale → part
	// ("subject", "text", "html") → template source.
	Templates map[string]map[string]map[string]string
	// ReplyWindow is how long a reply token stays valid after sending.
	ReplyWindow time.Duration
	// AlertTargets receive the default alert: every detractor.
	AlertTargets []Target
	// Fatigue overrides the gateway's fatigue windows for this survey.
	Fatigue Fatigue
	// Reminders go to contacts who have not answered (at most 3).
	Reminders []Reminder
	// Digest sends the survey's owners a summary every day or week.
	Digest       Digest
	DigestNextAt *time.Time
	DigestLastAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Contact is a person who may be surveyed, keyed by the caller's own id.
type Contact struct {
	ExternalID string
	Name       string
	Email      string
	Phone      string
	Locale     string
	TimeZone   string
	Account    string
	Role       string
	Tags       []string
	Attributes map[string]string
	// OptedOutAt is set when the contact opted out of every survey.
	OptedOutAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// DeliveryStatus is a state of the Delivery state machine:
// queued → sending → sent → delivered → responded, or suppressed, deferred,
// failed.
type DeliveryStatus string

const (
	StatusQueued     DeliveryStatus = "queued"
	StatusSending    DeliveryStatus = "sending"
	StatusSent       DeliveryStatus = "sent"
	StatusDelivered  DeliveryStatus = "delivered"
	StatusResponded  DeliveryStatus = "responded"
	StatusSuppressed DeliveryStatus = "suppressed"
	StatusDeferred   DeliveryStatus = "deferred"
	StatusFailed     DeliveryStatus = "failed"
)

// Delivery is one survey to one contact on one channel: the unit of work.
type Delivery struct {
	ID        string
	SurveyKey string
	ContactID string
	Channel   string
	// Address is where it goes on Channel, fixed when the delivery is made.
	Address string
	Locale  string
	// Token is the unguessable reply token in every link of the message.
	Token  string
	Status DeliveryStatus
	// Reason says why a delivery is suppressed, deferred or failed, in the
	// provider's words where there are some.
	Reason            string
	ProviderMessageID string
	// IdempotencyKey, when set, is unique: a second trigger with it returns
	// this delivery. RequestHash tells a replay from a different request.
	IdempotencyKey string
	RequestHash    string
	Source         string // "trigger", "campaign"
	// ThrottleDays, when set, overrides the fatigue window for this one
	// delivery (a trigger's throttle_days); nil uses the survey's.
	ThrottleDays *int
	// ReminderOf, on a reminder, is the survey delivery it reminds of;
	// ReminderN is its number (1-3). A reminder carries its survey's reply
	// link, so an answer to any of the messages counts once.
	ReminderOf string
	ReminderN  int
	// CampaignID and RunID link a campaign's delivery to its run.
	CampaignID  string
	RunID       string
	Metadata    map[string]string
	SendAt      time.Time
	Attempts    int
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SentAt      *time.Time
	DeliveredAt *time.Time
	RespondedAt *time.Time
}

// DeliveryEvent is one status change, kept for audit and the API.
type DeliveryEvent struct {
	DeliveryID string
	Status     DeliveryStatus
	Reason     string
	At         time.Time
}

// Response is a contact's answer to a delivery; one per delivery, updated
// when they answer again.
type Response struct {
	ID         string
	DeliveryID string
	SurveyKey  string
	ContactID  string
	Channel    string
	Locale     string
	Score      int
	Category   survey.Category
	Comment    string
	// Via is which message the answer came from: 0 the survey itself, n
	// its n-th reminder (kept from the first answer).
	Via int
	// MayContact is the detractor's answer to "may we contact you"; nil when
	// not asked or not answered.
	MayContact *bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// OutboxMessage is a rendered message the outbox channel kept instead of
// sending.
type OutboxMessage struct {
	ID         int64
	DeliveryID string
	Channel    string
	To         string
	Subject    string
	Text       string
	HTML       string
	ReplyURL   string
	CreatedAt  time.Time
}

// Suppression keeps an address from ever being surveyed on a channel.
type Suppression struct {
	Channel   string
	Address   string
	Reason    string // "unsubscribe", "stop", "bounce", "manual"
	ContactID string
	CreatedAt time.Time
}

// InboundMessage is a message a contact sent us (an SMS reply), kept for
// audit whether or not it scored.
type InboundMessage struct {
	ID                int64
	Provider          string // "twilio"
	ProviderMessageID string // Twilio's MessageSid
	Channel           string // "sms", "whatsapp"
	From              string
	To                string
	Body              string
	// DeliveryID is the delivery it answered; "" when none was open.
	DeliveryID string
	// Outcome says what it did: "score", "comment", "opt_out", "opt_in",
	// "help", "clarify", "unmatched".
	Outcome   string
	CreatedAt time.Time
}

// Target is where an alert goes: a channel and its address (an email
// address, a phone number, a chat webhook URL).
type Target struct {
	Channel string `json:"channel"`
	Address string `json:"address"`
}

// AlertRule raises an alert for responses that match all of its
// conditions. Zero conditions match everything.
type AlertRule struct {
	ID     string
	Name   string
	Survey string // "" = any survey
	// Categories the response must be in; empty = any.
	Categories []survey.Category
	// ScoreMin and ScoreMax bound the score; -1 = open.
	ScoreMin, ScoreMax int
	// Attributes the contact must have: "account", "role", "tier", any
	// attribute; a value "*" only requires the attribute to be set.
	Attributes map[string]string
	// Comment is "present", "absent" or "" (either).
	Comment   string
	Priority  string // P1, P2, P3
	Targets   []Target
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AlertStatus is where an alert is.
type AlertStatus string

const (
	AlertPending AlertStatus = "pending"
	// AlertWaiting: the target was rate-limited; the alert is sent with
	// the others waiting for that target, as one summary.
	AlertWaiting AlertStatus = "waiting"
	AlertSent    AlertStatus = "sent"
	AlertFailed  AlertStatus = "failed"
)

// Alert is one response brought to one target by one rule.
type Alert struct {
	ID         string
	ResponseID string
	RuleID     string
	Target     Target
	// TargetKey identifies the target without holding its secret URL.
	TargetKey         string
	Priority          string
	Status            AlertStatus
	Sends             int
	SentComment       string
	ProviderMessageID string
	Reason            string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// WebhookSubscription sends events to a URL, signed with its secret.
type WebhookSubscription struct {
	ID        string
	URL       string
	Secret    string
	Events    []string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookEvent is one event for one subscription, with its delivery state.
type WebhookEvent struct {
	ID             string // the webhook-id header: unique per subscription and event
	SubscriptionID string
	EventID        string
	Type           string
	Payload        []byte
	Status         string // pending, succeeded, failed
	Attempts       int
	LastStatus     int
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WebhookAttempt is one POST of an event and what came back.
type WebhookAttempt struct {
	At         time.Time
	StatusCode int
	Response   string
	Error      string
	Duration   time.Duration
}

// Fatigue is how long a contact rests after this survey: Days after an
// answer, UnansweredDays when they did not answer. Nil uses the default.
type Fatigue struct {
	Days           *int `json:"days,omitempty"`
	UnansweredDays *int `json:"unanswered_days,omitempty"`
}

// Reminder is one reminder of a survey, After the survey was sent; with
// NextChannel it goes on the next channel of the survey's order that the
// contact can be reached on (an unanswered SMS reminded by email).
type Reminder struct {
	After       time.Duration `json:"after"`
	NextChannel bool          `json:"next_channel,omitempty"`
	// Templates are this reminder's own overrides, shaped like
	// Survey.Templates; parts they lack come from the survey's.
	Templates map[string]map[string]map[string]string `json:"templates,omitempty"`
}

// Digest is a daily or weekly summary of a survey for its owners.
type Digest struct {
	// Frequency is "daily" or "weekly" ("" = off).
	Frequency string `json:"frequency,omitempty"`
	// At is the local time "HH:MM" in TimeZone; weekly digests go on
	// Mondays.
	At       string   `json:"at,omitempty"`
	TimeZone string   `json:"time_zone,omitempty"`
	Targets  []Target `json:"targets,omitempty"`
}
