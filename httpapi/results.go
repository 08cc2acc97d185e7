package httpapi

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/survey"
)

type bucketJSON struct {
	Count int     `json:"count"`
	Pct   float64 `json:"pct"`
}

type scoreCount struct {
	Score int `json:"score"`
	Count int `json:"count"`
}

type resultsJSON struct {
	Survey     string       `json:"survey"`
	Kind       string       `json:"kind"`
	From       *time.Time   `json:"from,omitempty"`
	To         *time.Time   `json:"to,omitempty"`
	Responses  int          `json:"responses"`
	Scores     []scoreCount `json:"scores"`
	Promoters  bucketJSON   `json:"promoters"`
	Passives   bucketJSON   `json:"passives"`
	Detractors bucketJSON   `json:"detractors"`
	// Score is NPS for nps surveys (also under "nps"), % satisfied for
	// csat, mean for ces; null when there are no responses.
	Score *float64 `json:"score"`
	// NPS is there for every nps survey (null with no responses, like
	// score) and absent for csat and ces: a client reading "nps" must not
	// see the key come and go with the data.
	NPS           **float64 `json:"nps,omitempty"`
	MarginOfError *float64  `json:"margin_of_error"`
	// Reached counts deliveries that left the gateway (sent, delivered or
	// responded); ResponseRate is responded of reached, in percent.
	Reached      int      `json:"reached"`
	ResponseRate *float64 `json:"response_rate"`
}

// timeRange reads ?from=&to= as RFC 3339 times or dates (to is exclusive;
// a date "to" means the end of that day).
func timeRange(c *gin.Context) (from, to time.Time, err error) {
	parse := func(name string, endOfDay bool) (time.Time, error) {
		s := c.Query(name)
		if s == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC(), nil
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			if endOfDay {
				t = t.Add(24 * time.Hour)
			}
			return t, nil
		}
		return time.Time{}, badField(name, "%s must be a date (2026-01-31) or an RFC 3339 time", name)
	}
	if from, err = parse("from", false); err != nil {
		return
	}
	if to, err = parse("to", true); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		err = badField("to", "to must be after from")
	}
	return
}

func (a *API) results(c *gin.Context) {
	key := c.Query("survey")
	if key == "" {
		a.fail(c, badField("survey", "survey is required"))
		return
	}
	from, to, err := timeRange(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	sv, err := a.cfg.Store.GetSurvey(c.Request.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(c, notFound("survey"))
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	tally, err := a.cfg.Store.ScoreTally(c.Request.Context(), key, from, to)
	if err != nil {
		a.fail(c, err)
		return
	}
	counts, err := a.cfg.Store.DeliveryCounts(c.Request.Context(), key, from, to)
	if err != nil {
		a.fail(c, err)
		return
	}
	s := survey.Summarize(sv.Kind, tally)
	out := resultsJSON{
		Survey: key, Kind: string(sv.Kind), Responses: s.Responses, Scores: []scoreCount{},
		Promoters:  bucketJSON{s.Promoters, s.Pct(s.Promoters)},
		Passives:   bucketJSON{s.Passives, s.Pct(s.Passives)},
		Detractors: bucketJSON{s.Detractors, s.Pct(s.Detractors)},
	}
	if !from.IsZero() {
		out.From = &from
	}
	if !to.IsZero() {
		out.To = &to
	}
	for _, n := range sv.Kind.Scores() {
		out.Scores = append(out.Scores, scoreCount{Score: n, Count: tally[n]})
	}
	if !s.Empty() {
		score, moe := s.Score, s.MarginOfError
		out.Score, out.MarginOfError = &score, &moe
	}
	if sv.Kind == survey.NPS {
		out.NPS = &out.Score
	}
	responded := counts[store.StatusResponded]
	out.Reached = counts[store.StatusSent] + counts[store.StatusDelivered] + responded
	if out.Reached > 0 {
		rate := float64(int(1000*float64(responded)/float64(out.Reached)+0.5)) / 10
		out.ResponseRate = &rate
	}
	c.JSON(http.StatusOK, out)
}

type responseJSON struct {
	ID         string `json:"id"`
	DeliveryID string `json:"delivery_id"`
	Survey     string `json:"survey"`
	ContactID  string `json:"contact_id"`
	Channel    string `json:"channel"`
	Locale     string `json:"locale"`
	Score      int    `json:"score"`
	Category   string `json:"category"`
	Comment    string `json:"comment"`
	MayContact *bool  `json:"may_contact"`
	// Via is the message answered: 0 the survey, n its n-th reminder.
	Via       int       `json:"via"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func responseToJSON(r *store.Response) responseJSON {
	return responseJSON{ID: r.ID, DeliveryID: r.DeliveryID, Survey: r.SurveyKey, ContactID: r.ContactID,
		Channel: r.Channel, Locale: r.Locale, Score: r.Score, Category: string(r.Category), Comment: r.Comment,
		MayContact: r.MayContact, Via: r.Via, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (a *API) getResponse(c *gin.Context) {
	r, err := a.cfg.Store.GetResponse(c.Request.Context(), c.Param("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = notFound("response")
		}
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, responseToJSON(r))
}

func responseFilter(c *gin.Context) (store.ResponseFilter, error) {
	f := store.ResponseFilter{Survey: c.Query("survey"), After: c.Query("cursor")}
	if s := c.Query("category"); s != "" {
		cat, err := survey.ParseCategory(s)
		if err != nil {
			return f, badField("category", "%v", err)
		}
		f.Category = cat
	}
	var err error
	if f.From, f.To, err = timeRange(c); err != nil {
		return f, err
	}
	f.Limit, err = intParam(c, "limit", 100, 1, 1000)
	return f, err
}

func (a *API) listResponses(c *gin.Context) {
	f, err := responseFilter(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	list, next, err := a.cfg.Store.ListResponses(c.Request.Context(), f)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := make([]responseJSON, 0, len(list))
	for _, r := range list {
		out = append(out, responseToJSON(r))
	}
	body := gin.H{"responses": out}
	if next != "" {
		body["next_cursor"] = next
	}
	c.JSON(http.StatusOK, body)
}

// responsesCSV streams every matching response page by page, so an export
// of a large survey never sits whole in memory.
func (a *API) responsesCSV(c *gin.Context) {
	f, err := responseFilter(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	f.Limit = 1000
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="responses.csv"`)
	w := csv.NewWriter(c.Writer)
	_ = w.Write([]string{"id", "delivery_id", "survey", "contact_id", "channel", "locale", "score", "category", "comment", "may_contact", "created_at", "updated_at"})
	for {
		list, next, err := a.cfg.Store.ListResponses(c.Request.Context(), f)
		if err != nil {
			// Headers are gone; the truncated file and the log tell.
			a.log.Error("csv export stopped", "err", err)
			w.Flush()
			return
		}
		for _, r := range list {
			may := ""
			if r.MayContact != nil {
				may = strconv.FormatBool(*r.MayContact)
			}
			_ = w.Write([]string{r.ID, r.DeliveryID, r.SurveyKey, r.ContactID, r.Channel, r.Locale,
				strconv.Itoa(r.Score), string(r.Category), csvSafe(r.Comment), may,
				r.CreatedAt.UTC().Format(time.RFC3339), r.UpdatedAt.UTC().Format(time.RFC3339)})
		}
		w.Flush()
		if next == "" {
			return
		}
		f.After = next
	}
}

// csvSafe defuses spreadsheet formula injection: a comment that starts with
// = + - @ would run as a formula when a marketer opens the file.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
