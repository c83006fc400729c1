package admin_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
)

// postFile submits the multipart file form with the token of page.
func (b *browser) postFile(page, path, filename, contentType string, data []byte, title string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	return b.postFileWithToken(b.csrf(page), path, filename, contentType, data, title)
}

func (b *browser) postFileWithToken(token, path, filename, contentType string, data []byte, title string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", token)
	_ = mw.WriteField("title", title)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	pw, _ := mw.CreatePart(h)
	_, _ = pw.Write(data)
	_ = mw.Close()
	r := b.request(http.MethodPost, path, nil)
	r.Body = io.NopCloser(&body)
	r.ContentLength = int64(body.Len())
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return b.send(r)
}
