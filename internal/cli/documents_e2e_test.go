package cli_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
)

// headersOnly sends a POST's headers declaring length bytes of body and
// no body at all, and returns the status: an answer proves the server
// decided without reading the body, which was never sent.
func headersOnly(t *testing.T, addr, path, bearer, contentType string, length int64) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		path, addr, bearer, contentType, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s with %d bytes declared: no answer without the body: %v", path, length, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func apiJSON(t *testing.T, c *http.Client, method, url, key, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// multipartFile builds a form with a file part and an optional title.
func multipartFile(t *testing.T, filename, contentType string, data []byte, title string) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if title != "" {
		_ = mw.WriteField("title", title)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	return mw.FormDataContentType(), &b
}

// TestDocumentUploadBodyLimit: the document route alone is allowed past
// the API's 1 MiB body limit, up to the document limit (10 MiB by
// default): a 2 MiB body elsewhere, and an 11 MiB upload, are refused
// with 413 from their headers alone, before a byte of body is read, while
// a 3 MiB PDF upload is read and added.
func TestDocumentUploadBodyLimit(t *testing.T) {
	t.Parallel()
	app := startEdgeApp(t, false)
	status, bot := apiJSON(t, app.client, http.MethodPost, app.base+"/api/v1/bots", app.key, "application/json", strings.NewReader(`{"name":"Docs"}`))
	if status != http.StatusCreated {
		t.Fatalf("create bot: %d %v", status, bot)
	}
	docs := "/api/v1/bots/" + bot["id"].(string) + "/documents"

	if s := headersOnly(t, app.addr, "/api/v1/bots", app.key, "application/json", 2<<20); s != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB declared to POST /api/v1/bots = %d, want 413 before the body", s)
	}
	if s := headersOnly(t, app.addr, "/api/v1/bots/"+bot["id"].(string)+"/chat", app.key, "application/json", 2<<20); s != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB declared to the chat route = %d, want 413 before the body", s)
	}
	for _, ct := range []string{"application/pdf", "multipart/form-data; boundary=x", "application/json"} {
		if s := headersOnly(t, app.addr, docs, app.key, ct, 11<<20); s != http.StatusRequestEntityTooLarge {
			t.Errorf("11 MiB %s upload = %d, want 413 before the body", ct, s)
		}
	}
	// Chunked, without a declared length: read up to the limit, then 413.
	req, _ := http.NewRequest(http.MethodPost, app.base+docs+"?title=Big", io.MultiReader(bytes.NewReader(make([]byte, 11<<20))))
	req.Header.Set("Authorization", "Bearer "+app.key)
	req.Header.Set("Content-Type", "application/pdf")
	req.ContentLength = -1
	if resp, err := app.client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("11 MiB chunked upload = %d, want 413", resp.StatusCode)
		}
	}

	// A 3 MiB PDF (its bulk an object no page uses) is accepted.
	pdf := docparsetest.PDF("Big manual", []string{"The manual covers descaling."},
		docparsetest.PDFOptions{ExtraObjects: []string{"(" + strings.Repeat("x", 3<<20) + ")"}})
	status, got := apiJSON(t, app.client, http.MethodPost, app.base+docs+"?title=Descaling+manual", app.key, "application/pdf", bytes.NewReader(pdf))
	if status != http.StatusCreated || got["title"] != "Descaling manual" || got["content_type"] != "application/pdf" || got["size_bytes"] != float64(len(pdf)) {
		t.Fatalf("3 MiB PDF upload: %d %v", status, got)
	}
	// The admin UI's upload route has the same exception and no other UI
	// route does. (No session: a body let through meets the login check,
	// not a 413.)
	ui := "/w/ws_aaaaaaaaaaaaaaaaaaaaaaaaaa/bots/" + bot["id"].(string) + "/documents"
	if s := headersOnly(t, app.addr, ui, "", "multipart/form-data; boundary=x", 11<<20); s != http.StatusRequestEntityTooLarge {
		t.Errorf("11 MiB to the UI upload route = %d, want 413 before the body", s)
	}
	if s := headersOnly(t, app.addr, "/login", "", "application/x-www-form-urlencoded", 2<<20); s != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB to /login = %d, want 413 before the body", s)
	}
	ct, form := multipartFile(t, "big.pdf", "application/pdf", pdf, "")
	req, _ = http.NewRequest(http.MethodPost, app.base+ui, form)
	req.Header.Set("Content-Type", ct)
	resp, err := app.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Errorf("3 MiB to the UI upload route refused for its size")
	}

	// JSON stays capped at 1 MiB on the same route.
	big := `{"title":"t","content_type":"text/plain","content":"` + strings.Repeat("a", 2<<20) + `"}`
	if status, got := apiJSON(t, app.client, http.MethodPost, app.base+docs, app.key, "application/json", strings.NewReader(big)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB of JSON to the documents route = %d %v, want 413", status, got)
	}
}

// TestUploadedDocumentsAreCitedSources: a PDF sent as the raw body, a DOCX
// sent as a multipart form and an HTML page sent with its media type are
// read, indexed and cited by title in retrieval-only answers, through the
// running app's API.
func TestUploadedDocumentsAreCitedSources(t *testing.T) {
	t.Parallel()
	app := startEdgeApp(t, false)
	status, bot := apiJSON(t, app.client, http.MethodPost, app.base+"/api/v1/bots", app.key, "application/json", strings.NewReader(`{"name":"Shop"}`))
	if status != http.StatusCreated {
		t.Fatalf("create bot: %d %v", status, bot)
	}
	botURL := app.base + "/api/v1/bots/" + bot["id"].(string)

	pdf := docparsetest.PDF("ignored: the query names the title", []string{"Parcels are dispatched from our Rotterdam warehouse\nwithin two working days of payment."},
		docparsetest.PDFOptions{Compress: true, Compact: true})
	status, got := apiJSON(t, app.client, http.MethodPost, botURL+"/documents?title=Dispatch+policy", app.key, "application/pdf", bytes.NewReader(pdf))
	if status != http.StatusCreated || got["title"] != "Dispatch policy" {
		t.Fatalf("PDF upload: %d %v", status, got)
	}
	docx := docparsetest.DOCX("Kettle warranty", []string{"Every kettle carries a warranty of three years against limescale damage."},
		docparsetest.DOCXOptions{Heading: "Warranty"})
	ct, body := multipartFile(t, "kettle-warranty.docx", "application/octet-stream", docx, "")
	status, got = apiJSON(t, app.client, http.MethodPost, botURL+"/documents", app.key, ct, body)
	if status != http.StatusCreated || got["title"] != "kettle-warranty" || got["content_type"] != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
		t.Fatalf("DOCX upload: %d %v", status, got)
	}
	html := `<html><head><title>Gift cards</title><script>steal()</script></head><body><h1>Gift cards</h1>` +
		`<p>Gift vouchers never expire and can be redeemed in every branch.</p></body></html>`
	status, got = apiJSON(t, app.client, http.MethodPost, botURL+"/documents", app.key, "text/html; charset=utf-8", strings.NewReader(html))
	if status != http.StatusCreated || got["title"] != "Gift cards" {
		t.Fatalf("HTML upload (titled by the page): %d %v", status, got)
	}

	for _, q := range []struct{ question, title, passage string }{
		{"How soon are parcels dispatched from the warehouse?", "Dispatch policy", "within two working days"},
		{"How long is the kettle warranty?", "kettle-warranty", "three years against limescale"},
		{"Do gift vouchers expire?", "Gift cards", "never expire"},
	} {
		status, reply := apiJSON(t, app.client, http.MethodPost, botURL+"/chat", app.key, "application/json",
			strings.NewReader(fmt.Sprintf(`{"user_id":"u1","message":%q}`, q.question)))
		if status != http.StatusOK {
			t.Fatalf("chat %q: %d %v", q.question, status, reply)
		}
		text, _ := reply["reply"].(string)
		if reply["mode"] != "retrieval_only" || !strings.Contains(text, q.passage) || !strings.Contains(text, "Source: "+q.title) {
			t.Fatalf("%q: the answer does not quote and cite %q: %v", q.question, q.title, reply)
		}
		sources, _ := reply["sources"].([]any)
		if len(sources) == 0 {
			t.Fatalf("%q: no sources: %v", q.question, reply)
		}
		if first, _ := sources[0].(map[string]any); first["title"] != q.title {
			t.Fatalf("%q: first source is not %q: %v", q.question, q.title, sources)
		}
		if strings.Contains(text, "steal") {
			t.Fatalf("script text reached an answer: %q", text)
		}
	}

	// Hostile documents are refused with their reason, within the
	// default limits, and the app goes on answering.
	pdfBomb := docparsetest.Assemble([]string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>", docparsetest.Stream(make([]byte, 128<<20), true)}, "/Root 1 0 R")
	nestedPDF := docparsetest.PDF("Nested", []string{"x"}, docparsetest.PDFOptions{ExtraCatalog: "/D " + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)})
	good := docparsetest.PDF("Bad xref", []string{"x"}, docparsetest.PDFOptions{})
	badXref := append(append([]byte(nil), good[:bytes.LastIndex(good, []byte("startxref"))]...), "startxref\n9\n%%EOF\n"...)
	xml := append([]byte(`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`),
		bytes.Repeat([]byte("<w:p><w:r><w:t>aaaa</w:t></w:r></w:p>"), (80<<20)/38)...)
	docxBomb := zipWith(t, "word/document.xml", xml)
	nestedHTML := []byte(strings.Repeat("<div>", 10<<20/5))
	for _, tc := range []struct {
		name, mediaType string
		body            []byte
		status          int
		msg             string
	}{
		{"PDF decompression bomb", "application/pdf", pdfBomb, http.StatusRequestEntityTooLarge, "decompresses to more than"},
		{"PDF nested a million deep", "application/pdf", nestedPDF, http.StatusBadRequest, "nested more than"},
		{"PDF with a malformed xref", "application/pdf", badXref, http.StatusBadRequest, "cross-reference"},
		{"DOCX zip bomb", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docxBomb, http.StatusRequestEntityTooLarge, "decompresses to more than"},
		{"HTML of nested tags at the size limit", "text/html", nestedHTML, http.StatusBadRequest, "nested more than"},
	} {
		status, got = apiJSON(t, app.client, http.MethodPost, botURL+"/documents?title=Hostile", app.key, tc.mediaType, bytes.NewReader(tc.body))
		if e, _ := got["error"].(map[string]any); status != tc.status || !strings.Contains(fmt.Sprint(e["message"]), tc.msg) {
			t.Errorf("%s: %d %v, want %d with %q", tc.name, status, got, tc.status, tc.msg)
		}
	}
	if status, reply := apiJSON(t, app.client, http.MethodPost, botURL+"/chat", app.key, "application/json",
		strings.NewReader(`{"user_id":"u1","message":"Do gift vouchers expire?"}`)); status != http.StatusOK {
		t.Fatalf("chat after hostile uploads: %d %v", status, reply)
	}
}

// zipWith is a zip archive of one deflated entry.
func zipWith(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
