package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Limits of fetching a document from a URL.
const (
	maxURL       = 2048
	fetchTimeout = 30 * time.Second
)

// Fetched is a document as a URL served it.
type Fetched struct {
	MediaType string
	Body      []byte
	// Name is the last segment of the URL's path, for a title.
	Name string
}

// domainRule is one allowed domain of a bot as the egress policy names
// it: an https origin's host and port, or a bare host name on 443.
func domainRule(domain string) (host string, port int) {
	host, port = domain, 443
	if h, ok := strings.CutPrefix(domain, "https://"); ok {
		host = h
		if hp, p, ok := strings.Cut(h, ":"); ok {
			if n, err := strconv.Atoi(p); err == nil {
				host, port = hp, n
			}
		}
	}
	return host, port
}

// FetchURL GETs a document from one of a bot's allowed domains: https
// only, to a host and port the bot allows, through an egress client whose
// policy holds rules for those domains alone (GET, any path, public
// addresses only), so the fetch can never reach what the process's own
// policy allows, nor follow a redirect off the bot's domains. The body is
// capped at the file limit.
func (s *Service) FetchURL(ctx context.Context, domains []string, rawURL string) (Fetched, error) {
	if len(rawURL) > maxURL {
		return Fetched{}, palisade.FieldError("url", "url must be at most %d characters", maxURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return Fetched{}, palisade.FieldError("url", "url must be an absolute https:// URL")
	}
	if u.Scheme != "https" {
		return Fetched{}, palisade.FieldError("url", "url must use https")
	}
	if u.User != nil {
		return Fetched{}, palisade.FieldError("url", "url must not carry a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	port := 443
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return Fetched{}, palisade.FieldError("url", "url has a bad port")
		}
	}
	var rules []egress.Rule
	allowed := false
	for i, d := range domains {
		h, p := domainRule(d)
		if h == host && p == port {
			allowed = true
		}
		rules = append(rules, egress.Rule{Name: fmt.Sprintf("bot-document-%d", i+1), Host: h, Ports: []int{p},
			Methods: []string{http.MethodGet}, Paths: []string{"/**"}})
	}
	if !allowed {
		return Fetched{}, palisade.FieldError("url", "url must be on one of the bot's allowed domains")
	}
	policy, err := egress.NewPolicy(rules...)
	if err != nil {
		return Fetched{}, palisade.WrapError(err, palisade.CodeInvalid, "the bot's allowed domains cannot be fetched from")
	}
	opts := s.FetchOptions
	opts.MaxResponseBytes = s.maxFileBytes()
	if opts.Timeout == 0 || opts.Timeout > fetchTimeout {
		opts.Timeout = fetchTimeout
	}
	client, err := egress.New(policy, opts)
	if err != nil {
		return Fetched{}, fmt.Errorf("building the document fetch client: %w", err)
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Fetched{}, palisade.FieldError("url", "url is not a valid request target")
	}
	req.Header.Set("Accept", strings.Join(FileTypes(), ", "))
	resp, err := client.Do(req)
	if err != nil {
		return Fetched{}, fetchError(err, s.maxFileBytes())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Fetched{}, palisade.Errorf(palisade.CodeInvalid, "the page answered HTTP %d, not 200", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxFileBytes()+1))
	if err != nil {
		return Fetched{}, fetchError(err, s.maxFileBytes())
	}
	if int64(len(body)) > s.maxFileBytes() {
		return Fetched{}, palisade.Errorf(palisade.CodeTooLarge, "the document must be at most %d bytes", s.maxFileBytes())
	}
	name := path.Base(resp.Request.URL.Path)
	mt := FileType(resp.Header.Get("Content-Type"), name)
	if mt == "" {
		return Fetched{}, palisade.Errorf(palisade.CodeInvalid, "the page is not a document of a type that is read (%s)", strings.Join(FileTypes(), ", "))
	}
	if name == "/" || name == "." {
		name = ""
	}
	return Fetched{MediaType: mt, Body: body, Name: name}, nil
}

func fetchError(err error, max int64) error {
	var de *egress.DenialError
	switch {
	case errors.As(err, &de):
		return palisade.WrapError(err, palisade.CodeInvalid,
			"the URL may not be fetched: it must be https, on one of the bot's allowed domains, at a public address ("+string(de.Denial.Reason)+")")
	case errors.Is(err, egress.ErrResponseTooLarge):
		return palisade.Errorf(palisade.CodeTooLarge, "the document must be at most %d bytes", max)
	case errors.Is(err, context.Canceled):
		return palisade.WrapError(err, palisade.CodeUnavailable, "fetching the document was cancelled")
	}
	return palisade.WrapError(err, palisade.CodeUnavailable, "the URL could not be fetched")
}

// FileType is the media type of a file as sent: its Content-Type when
// that is a type documents are read as, else the one its name's extension
// says (for clients that send application/octet-stream); "" for neither.
func FileType(contentType, filename string) string {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		for _, t := range FileTypes() {
			if t == mt {
				return mt
			}
		}
	}
	return typeByExtension(filename)
}

// typeByExtension gives a file's media type from its name's extension.
func typeByExtension(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		return TypePDF
	case ".docx":
		return TypeDOCX
	case ".html", ".htm":
		return TypeHTML
	case ".md", ".markdown":
		return TypeMarkdown
	case ".txt":
		return TypePlain
	}
	return ""
}

// TitleFromFilename is a file's name without its folders and extension:
// the title of an upload that names none, since the uploader chose it
// (a document's own title is often an editor's leftover).
func TitleFromFilename(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" {
		return ""
	}
	return cleanFallbackTitle(name)
}
