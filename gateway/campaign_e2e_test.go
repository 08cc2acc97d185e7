package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (r *running) raw(method, path, contentType string, body io.Reader) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.base+path, body)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		r.t.Fatalf("not JSON: %s", b)
	}
	return resp.StatusCode, out
}

// TestRelationshipCampaign: a marketer imports contacts (some rows bad),
// previews an audience, schedules a campaign, and watches it run.
func TestRelationshipCampaign(t *testing.T) {
	r := start(t, map[string]string{"NPSGATE_WORKER_SCHEDULER_INTERVAL": "100ms"})
	var csv bytes.Buffer
	csv.WriteString("external_id,email,phone,locale,time_zone,account,role,tier\n")
	for i := 0; i < 12; i++ {
		role := []string{"decision_maker", "operator", "billing"}[i%3]
		fmt.Fprintf(&csv, "u%02d,u%02d@customer.example,,en,Europe/Berlin,acct-%d,%s,KA\n", i, i, i/3, role)
	}
	csv.WriteString("bad1,not-an-email,,en,,acct-9,operator,KA\n")
	csv.WriteString("bad2,b2@customer.example,,en,Mars/Base,acct-9,operator,KA\n")
	code, im := r.raw("POST", "/v1/contacts/import?filename=contacts.csv", "text/csv", &csv)
	if code != 201 || im["imported"] != 12.0 || im["failed"] != 2.0 {
		t.Fatalf("import: %d %v", code, im)
	}
	errs := im["errors"].([]any)
	if e := errs[0].(map[string]any); e["row"] != 13.0 || e["field"] != "email" {
		t.Fatalf("row errors: %v", errs)
	}
	if _, got := r.api("GET", "/v1/imports/"+im["id"].(string), nil); got["status"] != "completed" {
		t.Fatalf("import status: %v", got)
	}

	r.api("POST", "/v1/surveys", map[string]any{"key": "rel", "product_name": "Acme", "channels": []string{"email"}})
	const aud = "role in (decision_maker, operator) and account.tier = KA"
	if _, p := r.api("POST", "/v1/audiences/preview", map[string]any{"audience": aud}); p["count"] != 8.0 {
		t.Fatalf("preview: %v", p)
	}
	if code, p := r.api("POST", "/v1/audiences/preview", map[string]any{"audience": "role in (decision_maker"}); code != 400 || !strings.Contains(fmt.Sprint(p), "audience") {
		t.Fatalf("bad audience: %d %v", code, p)
	}
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	code, cp := r.api("POST", "/v1/campaigns", map[string]any{"name": "Q4 relationship NPS", "survey": "rel", "audience": aud,
		"schedule": map[string]any{"kind": "once", "at": at, "time_zone": "Europe/Berlin"}})
	if code != 201 || cp["status"] != "draft" {
		t.Fatalf("campaign: %d %v", code, cp)
	}
	id := cp["id"].(string)
	if code, bad := r.api("POST", "/v1/campaigns", map[string]any{"name": "x", "survey": "rel", "schedule": map[string]any{"kind": "cron", "cron": "every day"}}); code != 400 {
		t.Fatalf("bad cron: %d %v", code, bad)
	}
	if code, s := r.api("POST", "/v1/campaigns/"+id+"/schedule", nil); code != 200 || s["status"] != "scheduled" {
		t.Fatalf("schedule: %d %v", code, s)
	}
	if err := r.smtp.WaitFor(8, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// Every survey has gone; their reminders (the default: one, three
	// days on) are due, so the campaign is still running.
	poll := func(what string, done func(got map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		var got map[string]any
		for time.Now().Before(deadline) {
			if _, got = r.api("GET", "/v1/campaigns/"+id, nil); done(got) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("campaign %s: %v", what, got)
		return nil
	}
	got := poll("with its surveys sent", func(got map[string]any) bool {
		return got["counts"].(map[string]any)["sent"] == 8.0 && fmt.Sprint(got["reminders"]) == "map[queued:8]"
	})
	if counts := got["counts"].(map[string]any); got["status"] != "running" || counts["planned"] != 8.0 {
		t.Fatalf("campaign with its reminders due: %v", got)
	}
	// Cancelling it drops the reminders.
	if code, c := r.api("POST", "/v1/campaigns/"+id+"/cancel", nil); code != 200 || c["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", code, c)
	}
	poll("after the cancel", func(got map[string]any) bool {
		return fmt.Sprint(got["reminders"]) == "map[suppressed:8]"
	})
	if code, _ := r.api("POST", "/v1/campaigns/"+id+"/pause", nil); code != 409 {
		t.Fatalf("pausing a cancelled campaign: %d", code)
	}
	if r.smtp.Count() != 8 {
		t.Fatalf("%d emails", r.smtp.Count())
	}
}
