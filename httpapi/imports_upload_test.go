package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/npsgate/npsgate/httpapi"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

const importKey = "import-test-key-0123456789"

// importClient gives up in the end: a server that neither reads nor
// answers fails the test rather than hanging it.
var importClient = &http.Client{Timeout: time.Minute}

// importServer serves the API with the server timeouts of a deployment,
// shortened: what a real upload meets, at test speed.
type importServer struct {
	t   *testing.T
	srv *httptest.Server
	st  *store.Store
}

func newImportServer(t *testing.T, timeout time.Duration) *importServer {
	t.Helper()
	st := testenv.Store(t)
	h, err := httpapi.New(httpapi.Config{Store: st, APIKeys: []string{importKey},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = timeout
	srv.Config.WriteTimeout = timeout
	srv.Start()
	t.Cleanup(srv.Close)
	return &importServer{t: t, srv: srv, st: st}
}

func (s *importServer) request(method, path string, body io.Reader, header ...string) *http.Request {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+importKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// get answers a GET with its status and JSON body. It may run beside the
// test's goroutine, so it reports rather than stops.
func (s *importServer) get(path string) (int, map[string]any) {
	res, err := importClient.Do(s.request("GET", path, nil))
	if err != nil {
		s.t.Errorf("GET %s: %v", path, err)
		return 0, nil
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		s.t.Errorf("GET %s: %v", path, err)
	}
	return res.StatusCode, body
}

func decode(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("decode the answer: %v", err)
	}
	return body
}

// poll asks for path until ok holds for its answer, and returns it.
func (s *importServer) poll(what, path string, ok func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := s.get(path)
		if code == http.StatusOK && ok(body) {
			return body
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s: last answer %d %v", what, code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listed(body map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := body["imports"].([]any)
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

func importCount(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// dribble sends a CSV a row every 100ms, like a client on a poor link,
// until at least minRows are sent and more is closed; it returns the
// number of rows sent.
func dribble(w *io.PipeWriter, minRows int, more <-chan struct{}) <-chan int {
	sent := make(chan int, 1)
	go func() {
		fmt.Fprint(w, "external_id,email\n")
		n := 0
		for {
			select {
			case <-more:
				if n >= minRows {
					w.Close()
					sent <- n
					return
				}
			default:
			}
			if _, err := fmt.Fprintf(w, "slow-%03d,slow%d@example.com\n", n, n); err != nil {
				sent <- n
				return
			}
			n++
			time.Sleep(100 * time.Millisecond) // the pace of the link under test
		}
	}()
	return sent
}

// TestImportSlowUpload: an upload that takes three times the server's
// read timeout completes, and its progress shows while it runs.
func TestImportSlowUpload(t *testing.T) {
	const timeout = time.Second
	s := newImportServer(t, timeout)
	pr, pw := io.Pipe()
	defer pr.Close()
	seen := make(chan struct{})
	sent := dribble(pw, 30, seen)
	start := time.Now()
	type result struct {
		code int
		body map[string]any
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := importClient.Do(s.request("POST", "/v1/contacts/import?filename=slow.csv", pr,
			"Content-Type", "text/csv"))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		var body map[string]any
		err = json.NewDecoder(res.Body).Decode(&body)
		done <- result{res.StatusCode, body, err}
	}()

	// Mid-upload the list shows the running import with the rows so far.
	var running map[string]any
	s.poll("the running import to show rows", "/v1/imports?status=running", func(b map[string]any) bool {
		if l := listed(b); len(l) == 1 && importCount(l[0]["rows"]) > 0 {
			running = l[0]
			return true
		}
		return false
	})
	id := running["id"].(string)
	_, got := s.get("/v1/imports/" + id)
	if got["status"] != "running" || importCount(got["rows"]) == 0 || importCount(got["imported"]) != importCount(got["rows"]) ||
		running["filename"] != "slow.csv" {
		t.Errorf("mid-upload: list %v, import %v", running, got)
	}
	close(seen)

	n := <-sent
	r := <-done
	if r.err != nil {
		t.Fatalf("POST: %v", r.err)
	}
	if elapsed := time.Since(start); elapsed < 3*timeout {
		t.Errorf("the upload took %v, want it longer than the read timeout", elapsed)
	}
	if r.code != http.StatusCreated || r.body["id"] != id || r.body["status"] != "completed" ||
		importCount(r.body["rows"]) != n || importCount(r.body["imported"]) != n {
		t.Fatalf("POST = %d %v, want %d rows imported", r.code, r.body, n)
	}
	if _, got := s.get("/v1/imports/" + id); got["status"] != "completed" || importCount(got["rows"]) != n {
		t.Errorf("after the upload: %v", got)
	}
}

// TestImportAsync: with Prefer: respond-async the id and Location come
// before the file has been sent, and the import goes on as it arrives.
func TestImportAsync(t *testing.T) {
	s := newImportServer(t, 10*time.Second)
	pr, pw := io.Pipe()
	defer pr.Close()
	go fmt.Fprint(pw, "external_id,email\na-1,a1@example.com\na-2,not-an-email\n")
	res, err := importClient.Do(s.request("POST", "/v1/contacts/import", pr,
		"Content-Type", "text/csv", "Prefer", "respond-async, wait=5"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The upload is still open: this answer came before its end.
	body := decode(t, res)
	id, _ := body["id"].(string)
	if res.StatusCode != http.StatusAccepted || res.Header.Get("Location") != "/v1/imports/"+id ||
		res.Header.Get("Preference-Applied") != "respond-async" || body["status"] != "running" || id == "" {
		t.Fatalf("async answer %d %v %v", res.StatusCode, res.Header, body)
	}
	loc := res.Header.Get("Location")
	got := s.poll("the first rows", loc, func(b map[string]any) bool { return importCount(b["rows"]) == 2 })
	if got["status"] != "running" || importCount(got["imported"]) != 1 || importCount(got["failed"]) != 1 {
		t.Errorf("mid-upload: %v", got)
	}
	fmt.Fprint(pw, "a-3,a3@example.com\n")
	pw.Close()
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("the rest of the answer: %v", err)
	}
	got = s.poll("the import to end", loc, func(b map[string]any) bool { return b["status"] != "running" })
	if got["status"] != "completed" || importCount(got["rows"]) != 3 || importCount(got["imported"]) != 2 {
		t.Errorf("finished: %v", got)
	}

	// Without the preference the answer is the finished import.
	res2, err := importClient.Do(s.request("POST", "/v1/contacts/import", strings.NewReader("external_id\nb-1\n"),
		"Content-Type", "text/csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	if body := decode(t, res2); res2.StatusCode != http.StatusCreated || body["status"] != "completed" ||
		res2.Header.Get("Location") != "/v1/imports/"+body["id"].(string) {
		t.Errorf("sync answer %d %v %v", res2.StatusCode, res2.Header, body)
	}
}

// TestImportClientGone: a client that drops the connection mid-upload
// leaves a failed import with every row it sent kept and counted, not a
// running one.
func TestImportClientGone(t *testing.T) {
	const rows = 3900
	s := newImportServer(t, 10*time.Second)
	var file bytes.Buffer
	file.WriteString("external_id,email\n")
	for i := range rows {
		fmt.Fprintf(&file, "gone-%04d,gone%d@example.com\n", i, i)
	}
	conn, err := net.Dial("tcp", s.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Promises ten times the file, sends the file, hangs up.
	fmt.Fprintf(conn, "POST /v1/contacts/import?filename=gone.csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n", importKey, 10*file.Len())
	if _, err := conn.Write(file.Bytes()); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	got := s.poll("the import to fail", "/v1/imports", func(b map[string]any) bool {
		l := listed(b)
		return len(l) == 1 && l[0]["status"] != "running"
	})
	im := listed(got)[0]
	if im["status"] != "failed" || importCount(im["rows"]) != rows || importCount(im["imported"]) != rows ||
		!strings.Contains(im["message"].(string), "the upload broke off") ||
		!strings.Contains(im["message"].(string), fmt.Sprintf("the first %d rows were processed", rows)) {
		t.Fatalf("import after the client left: %v", im)
	}
	if c, err := s.st.GetContact(t.Context(), fmt.Sprintf("gone-%04d", rows-1)); err != nil || c.Email == "" {
		t.Errorf("the last row sent was not kept: %v", err)
	}
}

// TestImportStalledUpload: a client that stops sending is cut off after
// the idle timeout; the rows it sent are kept.
func TestImportStalledUpload(t *testing.T) {
	s := newImportServer(t, time.Second)
	pr, pw := io.Pipe()
	defer pr.Close()
	defer pw.Close()
	go fmt.Fprint(pw, "external_id\nst-1\nst-2\nst-3\n") // and then nothing
	start := time.Now()
	res, err := importClient.Do(s.request("POST", "/v1/contacts/import", pr, "Content-Type", "text/csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body := decode(t, res)
	if res.StatusCode != http.StatusUnprocessableEntity || body["status"] != "failed" ||
		importCount(body["rows"]) != 3 || importCount(body["imported"]) != 3 ||
		!strings.Contains(body["message"].(string), "the upload stalled: nothing arrived for 1s") {
		t.Fatalf("stalled upload: %d %v", res.StatusCode, body)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("cut off after %v", elapsed)
	}
}

// TestListImports: newest first, by status, in pages; the row errors stay
// with each import.
func TestListImports(t *testing.T) {
	s := newImportServer(t, 10*time.Second)
	post := func(name, file string) string {
		res, err := importClient.Do(s.request("POST", "/v1/contacts/import?filename="+name,
			strings.NewReader(file), "Content-Type", "text/csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return decode(t, res)["id"].(string)
	}
	a := post("a.csv", "external_id,email\nl-1,l1@example.com\nl-2,bad\n")
	b := post("b.csv", "no_id_column\nx\n")
	c := post("c.csv", "external_id\nl-3\n")

	ids := func(path string) []string {
		code, body := s.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %v", path, code, body)
		}
		out := []string{}
		for _, im := range listed(body) {
			out = append(out, im["id"].(string))
			if _, has := im["errors"]; has {
				t.Errorf("listed import has its errors: %v", im)
			}
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/v1/imports", []string{c, b, a}},
		{"/v1/imports?status=failed", []string{b}},
		{"/v1/imports?status=completed", []string{c, a}},
		{"/v1/imports?limit=2", []string{c, b}},
		{"/v1/imports?limit=2&before=" + b, []string{a}},
		{"/v1/imports?status=completed&before=" + c, []string{a}},
		{"/v1/imports?before=" + a, []string{}},
	} {
		if got := ids(tc.path); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("GET %s = %v, want %v", tc.path, got, tc.want)
		}
	}
	_, body := s.get("/v1/imports")
	first := listed(body)[2]
	if first["status"] != "completed" || importCount(first["rows"]) != 2 || importCount(first["failed"]) != 1 ||
		first["filename"] != "a.csv" || first["updated_at"] == nil || first["finished_at"] == nil {
		t.Errorf("listed import: %v", first)
	}
	if _, got := s.get("/v1/imports/" + a); len(got["errors"].([]any)) != 1 {
		t.Errorf("GET the import: %v", got)
	}
	for _, bad := range []string{"?status=done", "?limit=0", "?limit=101", "?before=imp_missing"} {
		if code, body := s.get("/v1/imports" + bad); code != http.StatusBadRequest {
			t.Errorf("GET /v1/imports%s = %d %v", bad, code, body)
		}
	}
}
