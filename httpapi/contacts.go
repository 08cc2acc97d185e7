package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	"github.com/npsgate/npsgate/internal/phone"
	"github.com/npsgate/npsgate/internal/zone"
	"github.com/npsgate/npsgate/store"
)

type contactJSON struct {
	ExternalID string            `json:"external_id"`
	Name       string            `json:"name,omitempty"`
	Email      string            `json:"email,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	Locale     string            `json:"locale,omitempty"`
	TimeZone   string            `json:"time_zone,omitempty"`
	Account    string            `json:"account,omitempty"`
	Role       string            `json:"role,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	OptedOutAt *time.Time        `json:"opted_out_at,omitempty"`
	// NextSurveyAt is when the contact may next be surveyed (read-only;
	// absent when now).
	NextSurveyAt *time.Time `json:"next_survey_at,omitempty"`
	CreatedAt    *time.Time `json:"created_at,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

// hasFields reports whether a contact in a trigger carries more than its id,
// i.e. whether the trigger saves the contact or only refers to it.
func (in contactJSON) hasFields() bool {
	return in.Name != "" || in.Email != "" || in.Phone != "" || in.Locale != "" || in.TimeZone != "" ||
		in.Account != "" || in.Role != "" || len(in.Tags) > 0 || len(in.Attributes) > 0
}

var externalIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$`)

// contactFromJSON validates a contact; prefix names the JSON path of the
// contact in the request ("contact." inside a trigger) so errors point at
// the exact field.
func (a *API) contactFromJSON(in contactJSON, prefix string) (*store.Contact, error) {
	if !externalIDRE.MatchString(in.ExternalID) {
		return nil, badField(prefix+"external_id", "external_id must be 1-128 letters, digits or . _ : @ + -")
	}
	c := &store.Contact{
		ExternalID: in.ExternalID, Name: in.Name, Account: in.Account, Role: in.Role,
		Tags: in.Tags, Attributes: in.Attributes, TimeZone: in.TimeZone,
	}
	if in.Email != "" {
		if !validEmail(in.Email) {
			return nil, badField(prefix+"email", "%q is not a valid email address", in.Email)
		}
		c.Email = in.Email
	}
	if in.Phone != "" {
		p, err := phone.Normalize(in.Phone, a.cfg.PhoneRegion)
		if err != nil {
			return nil, badField(prefix+"phone", "%v; write it in international form, like +14155550100", err)
		}
		c.Phone = p
	}
	if in.Locale != "" {
		tag, err := language.Parse(in.Locale)
		if err != nil {
			return nil, badField(prefix+"locale", "%q is not a BCP 47 locale (like en, zh-CN)", in.Locale)
		}
		c.Locale = tag.String()
	}
	if in.TimeZone != "" {
		if _, ok := zone.Named(in.TimeZone); !ok {
			return nil, badField(prefix+"time_zone", "%q is not an IANA time zone (like Europe/Berlin)", in.TimeZone)
		}
	}
	return c, nil
}

func contactToJSON(c *store.Contact) contactJSON {
	return contactJSON{
		ExternalID: c.ExternalID, Name: c.Name, Email: c.Email, Phone: c.Phone, Locale: c.Locale,
		TimeZone: c.TimeZone, Account: c.Account, Role: c.Role, Tags: c.Tags, Attributes: c.Attributes,
		OptedOutAt: c.OptedOutAt, CreatedAt: &c.CreatedAt, UpdatedAt: &c.UpdatedAt,
	}
}

func (a *API) putContact(c *gin.Context) {
	var in contactJSON
	if err := decode(c, &in); err != nil {
		a.fail(c, err)
		return
	}
	if in.ExternalID == "" {
		in.ExternalID = c.Param("id")
	}
	if in.ExternalID != c.Param("id") {
		a.fail(c, badField("external_id", "external_id %q in the body does not match %q in the path", in.ExternalID, c.Param("id")))
		return
	}
	if in.OptedOutAt != nil {
		a.fail(c, badField("opted_out_at", "opted_out_at is set by an opt-out, not by PUT"))
		return
	}
	ct, err := a.contactFromJSON(in, "")
	if err != nil {
		a.fail(c, err)
		return
	}
	created, err := a.cfg.Store.UpsertContact(c.Request.Context(), ct)
	if err != nil {
		a.fail(c, err)
		return
	}
	ct, err = a.cfg.Store.GetContact(c.Request.Context(), ct.ExternalID)
	if err != nil {
		a.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, contactToJSON(ct))
}

func (a *API) getContact(c *gin.Context) {
	ct, err := a.cfg.Store.GetContact(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("contact")
		}
		a.fail(c, err)
		return
	}
	out := contactToJSON(ct)
	if a.cfg.Gate != nil {
		next, err := a.cfg.Gate.NextSurvey(c.Request.Context(), ct.ExternalID)
		if err != nil {
			a.fail(c, fmt.Errorf("%w: %w", errQueueUnavailable, err))
			return
		}
		if !next.IsZero() {
			out.NextSurveyAt = &next
		}
	}
	c.JSON(http.StatusOK, out)
}

// deleteContact erases a contact's personal data (GDPR art. 17): the
// contact, its addresses on deliveries, its comments and messages; its
// scores stay, anonymous, in the results. Opt-outs of its addresses stay
// too, so an erased person is not surveyed again if re-imported.
func (a *API) deleteContact(c *gin.Context) {
	if err := a.cfg.Store.EraseContact(c.Request.Context(), c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("contact")
		}
		a.fail(c, err)
		return
	}
	a.log.Info("contact erased")
	c.Status(http.StatusNoContent)
}

// exportContact returns everything held about a contact (GDPR art. 15).
func (a *API) exportContact(c *gin.Context) {
	data, err := a.cfg.Store.ExportContact(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("contact")
		}
		a.fail(c, err)
		return
	}
	// The keys are the API's (snake_case); alert targets are named by
	// their key, never by their URL, which holds a secret.
	type delivery struct {
		ID        string            `json:"id"`
		Survey    string            `json:"survey"`
		Channel   string            `json:"channel"`
		Address   string            `json:"address"`
		Status    string            `json:"status"`
		Reason    string            `json:"reason"`
		Metadata  map[string]string `json:"metadata"`
		CreatedAt time.Time         `json:"created_at"`
		SentAt    *time.Time        `json:"sent_at"`
	}
	type inbound struct {
		Channel string    `json:"channel"`
		Body    string    `json:"body"`
		At      time.Time `json:"created_at"`
	}
	type alert struct {
		ID         string    `json:"id"`
		ResponseID string    `json:"response_id"`
		Target     string    `json:"target"`
		Status     string    `json:"status"`
		Comment    string    `json:"comment"`
		CreatedAt  time.Time `json:"created_at"`
	}
	type webhookEvent struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Status    string          `json:"status"`
		Payload   json.RawMessage `json:"payload"`
		CreatedAt time.Time       `json:"created_at"`
	}
	type outboxMessage struct {
		Channel   string    `json:"channel"`
		To        string    `json:"to"`
		Subject   string    `json:"subject"`
		Text      string    `json:"text"`
		CreatedAt time.Time `json:"created_at"`
	}
	out := gin.H{"contact": contactToJSON(data.Contact)}
	ds := []delivery{}
	for _, d := range data.Deliveries {
		ds = append(ds, delivery{ID: d.ID, Survey: d.SurveyKey, Channel: d.Channel, Address: d.Address, Status: string(d.Status),
			Reason: d.Reason, Metadata: d.Metadata, CreatedAt: d.CreatedAt, SentAt: d.SentAt})
	}
	rs := []responseJSON{}
	for _, r := range data.Responses {
		rs = append(rs, responseToJSON(r))
	}
	sps := []suppressionJSON{}
	for _, sp := range data.Suppressions {
		sps = append(sps, suppressionJSON{Channel: sp.Channel, Address: sp.Address, Reason: sp.Reason})
	}
	in := []inbound{}
	for _, m := range data.Inbound {
		in = append(in, inbound{Channel: m.Channel, Body: m.Body, At: m.CreatedAt})
	}
	as := []alert{}
	for _, al := range data.Alerts {
		as = append(as, alert{ID: al.ID, ResponseID: al.ResponseID, Target: al.TargetKey, Status: string(al.Status),
			Comment: al.SentComment, CreatedAt: al.CreatedAt})
	}
	ws := []webhookEvent{}
	for _, w := range data.WebhookEvents {
		payload := json.RawMessage(w.Payload)
		if !json.Valid(payload) {
			// Stored by us as JSON; anything else is shown as a string
			// rather than breaking the whole export.
			payload, _ = json.Marshal(string(w.Payload))
		}
		ws = append(ws, webhookEvent{ID: w.ID, Type: w.Type, Status: w.Status, Payload: payload, CreatedAt: w.CreatedAt})
	}
	ob := []outboxMessage{}
	for _, m := range data.Outbox {
		ob = append(ob, outboxMessage{Channel: m.Channel, To: m.To, Subject: m.Subject, Text: m.Text, CreatedAt: m.CreatedAt})
	}
	out["deliveries"], out["responses"], out["suppressions"], out["inbound_messages"] = ds, rs, sps, in
	out["alerts"], out["webhook_events"], out["outbox_messages"] = as, ws, ob
	c.JSON(http.StatusOK, out)
}
