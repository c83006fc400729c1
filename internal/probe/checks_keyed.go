package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Categories of the checks that need API keys: rate limits (a burst until
// 429), cross-workspace access (IDOR, with two keys) and server-side
// request forgery through the URLs the API accepts.
const (
	CatRateLimit = "rate-limits"
	CatIDOR      = "idor"
	CatSSRF      = "ssrf"
)

// maxBurst bounds a burst: enough to pass any default limit the probe
// meets (the management reads allow 20 a minute, sign-ins 5), few enough
// to stay polite to a deployment with higher limits.
const maxBurst = 40

// burst is the outcome of sending one request until the deployment
// answers 429.
type burst struct {
	sent   int
	limit  *Response // the 429, if one came
	policy string    // RateLimit-Policy of the first answer
	err    error
	status int // the last status when no 429 came
}

// runBurst sends rq (made fresh each time) up to maxBurst times, never
// paced, until a 429.
func runBurst(ctx context.Context, t *Target, rq func() (Request, error)) burst {
	var b burst
	for b.sent < maxBurst {
		q, err := rq()
		if err != nil {
			b.err = err
			return b
		}
		q.NoPace = true
		r, err := t.Do(ctx, q)
		if err != nil {
			b.err = err
			return b
		}
		b.sent++
		if b.policy == "" {
			b.policy = r.Header.Get("RateLimit-Policy")
		}
		b.status = r.Status
		if r.Status == http.StatusTooManyRequests {
			b.limit = r
			return b
		}
	}
	return b
}

// apiBurst reads the key's bot list until the management read limit.
func apiBurst(ctx context.Context, t *Target) burst {
	return memo(t, "burst api", func() burst {
		return runBurst(ctx, t, func() (Request, error) { return Request{Path: "/api/v1/bots", Bearer: true}, nil })
	})
}

// loginBurst posts wrong passwords to the sign-in form, with its cookie
// and CSRF token, until the per-address sign-in limit.
func loginBurst(ctx context.Context, t *Target) burst {
	return memo(t, "burst login", func() burst {
		email := "probe-" + plantedValue()[:12] + "@example.invalid"
		cookies, csrf, _, err := signInForm(ctx, t, "")
		if err != nil {
			return burst{err: err}
		}
		return runBurst(ctx, t, func() (Request, error) {
			form := "email=" + queryEscape(email) + "&password=palisade-probe-wrong&csrf=" + queryEscape(csrf)
			return Request{Method: http.MethodPost, Path: "/login", Body: []byte(form), Header: http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookies}}}, nil
		})
	})
}

// limitCheck builds a check of one burst's 429.
func limitCheck(name string, sev Severity, desc string, needsKey bool, b func(context.Context, *Target) burst, f func(b burst) Outcome) Check {
	return Check{Category: CatRateLimit, Name: name, Severity: sev, Reference: "V2.4.1", Description: desc, Exclusive: true,
		Run: func(ctx context.Context, t *Target) Outcome {
			if needsKey && !t.HasKey() {
				return Skipf("needs --api-key (the burst is against the API's management reads)")
			}
			res := b(ctx, t)
			if res.err != nil {
				return requestFailed(ctx, res.err)
			}
			if res.limit == nil {
				return Failf("%d requests, the last = %d, and no 429 (policy %q)", res.sent, res.status, res.policy)
			}
			return f(res)
		}}
}

func retryAfter(b burst) Outcome {
	v := b.limit.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 3600 {
		return Failf("the 429 after %d requests has Retry-After %q, want whole seconds", b.sent, v)
	}
	return Passf("429 after %d requests, Retry-After: %d", b.sent, n)
}

func rateLimitFields(b burst) Outcome {
	name, r, _, ok := parseRateLimit(b.limit.Header.Get("RateLimit"))
	if !ok || b.limit.Header.Get("RateLimit-Policy") == "" {
		return Failf("the 429 has RateLimit %q and RateLimit-Policy %q", b.limit.Header.Get("RateLimit"), b.limit.Header.Get("RateLimit-Policy"))
	}
	if r != 0 {
		return Failf("the 429 says %d requests remain in %s", r, name)
	}
	return Passf("RateLimit: %s", b.limit.Header.Get("RateLimit"))
}

func rateLimitChecks() []Check {
	return []Check{
		limitCheck("api-burst-meets-429", High, "a bounded burst of API reads with one key meets 429", true, apiBurst, func(b burst) Outcome {
			return Passf("429 after %d requests (policy %s)", b.sent, b.policy)
		}),
		limitCheck("api-429-retry-after", Medium, "the API's 429 says when to retry (Retry-After in seconds)", true, apiBurst, retryAfter),
		limitCheck("api-429-ratelimit-headers", Low, "the API's 429 carries RateLimit and RateLimit-Policy with nothing remaining", true, apiBurst, rateLimitFields),
		limitCheck("api-429-json-error", Low, "the API's 429 is the JSON error with the code rate_limited", true, apiBurst, func(b burst) Outcome {
			var e struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b.limit.Body, &e); err != nil || e.Error.Code == "" {
				return Failf("the 429's body is not the JSON error: %q", oneLine(string(b.limit.Body)))
			}
			return Passf("code %s", e.Error.Code)
		}),
		limitCheck("login-burst-meets-429", High, "a bounded burst of wrong passwords from one address meets 429", false, loginBurst, func(b burst) Outcome {
			return Passf("429 after %d attempts (policy %s)", b.sent, b.policy)
		}),
		limitCheck("login-429-retry-after", Medium, "the sign-in form's 429 says when to retry", false, loginBurst, retryAfter),
		limitCheck("login-429-ratelimit-headers", Low, "the sign-in form's 429 carries RateLimit and RateLimit-Policy with nothing remaining", false, loginBurst, rateLimitFields),
	}
}

// inventory is what one key can list: ids by kind, and the paths that
// read one of them.
type inventory struct {
	items map[string][]item // kind -> items
	err   error
}

type item struct {
	id    string
	paths []string // GET paths that read it
}

type listed struct {
	Data []struct {
		ID string `json:"id"`
	} `json:"data"`
}

// idorKinds are the kinds of objects whose ids the IDOR checks try across
// workspaces.
var idorKinds = []string{"bots", "documents", "channels", "conversations", "keys", "webhooks", "provider-keys"}

// collect lists what key B (keyB) or key A can see, up to a few of each
// kind: every read is a GET, so it writes nothing.
func collect(ctx context.Context, t *Target, keyB bool) inventory {
	return memo(t, fmt.Sprintf("inventory %v", keyB), func() inventory {
		inv := inventory{items: map[string][]item{}}
		list := func(path string) ([]string, error) {
			r, err := t.Do(ctx, Request{Path: path, Bearer: !keyB, KeyB: keyB})
			if err != nil {
				return nil, err
			}
			if r.Status != http.StatusOK {
				return nil, nil
			}
			var l listed
			if err := json.Unmarshal(r.Body, &l); err != nil {
				return nil, fmt.Errorf("GET %s: the list is not JSON: %w", path, err)
			}
			var ids []string
			for i, d := range l.Data {
				if i == 3 {
					break
				}
				ids = append(ids, d.ID)
			}
			return ids, nil
		}
		bots, err := list("/api/v1/bots")
		if err != nil {
			inv.err = err
			return inv
		}
		for _, b := range bots {
			base := "/api/v1/bots/" + b
			inv.items["bots"] = append(inv.items["bots"], item{b, []string{base, base + "/budget", base + "/documents", base + "/channels"}})
			docs, err := list(base + "/documents")
			if err != nil {
				inv.err = err
				return inv
			}
			for _, d := range docs {
				inv.items["documents"] = append(inv.items["documents"], item{d, []string{base + "/documents/" + d}})
			}
			chs, err := list(base + "/channels")
			if err != nil {
				inv.err = err
				return inv
			}
			for _, c := range chs {
				inv.items["channels"] = append(inv.items["channels"], item{c, []string{base + "/channels/" + c}})
			}
		}
		for kind, path := range map[string]string{"conversations": "/api/v1/conversations", "keys": "/api/v1/keys", "webhooks": "/api/v1/webhooks",
			"provider-keys": "/api/v1/provider-keys"} {
			ids, err := list(path)
			if err != nil {
				inv.err = err
				return inv
			}
			for _, id := range ids {
				var paths []string
				switch kind {
				case "conversations":
					paths = []string{path + "/" + id, path + "/" + id + "/messages"}
				case "webhooks":
					paths = []string{path + "/" + id + "/deliveries"}
				}
				inv.items[kind] = append(inv.items[kind], item{id, paths})
			}
		}
		return inv
	})
}

// lists are the collection paths whose answers must not name the other
// workspace's ids.
var idorLists = map[string]string{"bots": "/api/v1/bots", "conversations": "/api/v1/conversations", "keys": "/api/v1/keys",
	"webhooks": "/api/v1/webhooks", "provider-keys": "/api/v1/provider-keys"}

func idorChecks() []Check {
	var cs []Check
	for _, kind := range idorKinds {
		for _, dir := range []struct {
			name   string
			ownerB bool // whose ids are tried
		}{{"a-to-b", false}, {"b-to-a", true}} {
			cs = append(cs, Check{Category: CatIDOR, Name: kind + " " + dir.name, Severity: Critical, Reference: "V8.2.2",
				Description: fmt.Sprintf("every %s id one workspace's key lists is refused to the other workspace's key, read directly and in its lists", strings.TrimSuffix(kind, "s")),
				Run: func(ctx context.Context, t *Target) Outcome {
					if !t.HasKeyB() {
						return Skipf("needs two API keys of different workspaces (--api-key twice, or --api-key-b)")
					}
					owner := collect(ctx, t, dir.ownerB)
					if owner.err != nil {
						return requestFailed(ctx, owner.err)
					}
					items := owner.items[kind]
					if len(items) == 0 {
						return Skipf("the owning workspace's key lists no %s to try", kind)
					}
					tried := 0
					for _, it := range items {
						for _, p := range it.paths {
							r, err := t.Do(ctx, Request{Path: p, Bearer: dir.ownerB, KeyB: !dir.ownerB})
							if err != nil {
								return requestFailed(ctx, err)
							}
							tried++
							if r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
								return Failf("GET %s with the other workspace's key = %d, want 404", p, r.Status)
							}
						}
					}
					if lp, ok := idorLists[kind]; ok {
						r, err := t.Do(ctx, Request{Path: lp, Bearer: dir.ownerB, KeyB: !dir.ownerB})
						if err != nil {
							return requestFailed(ctx, err)
						}
						tried++
						for _, it := range items {
							if strings.Contains(string(r.Body), it.id) {
								return Failf("GET %s with the other workspace's key lists %s", lp, it.id)
							}
						}
					}
					return Passf("%d %s, %d reads with the other key: all refused", len(items), kind, tried)
				}})
		}
	}
	cs = append(cs, Check{Category: CatIDOR, Name: "keys-are-different-workspaces", Severity: Info, Reference: "V8.2.2",
		Description: "the two API keys given belong to different workspaces, so the cross-workspace checks prove something",
		Run: func(ctx context.Context, t *Target) Outcome {
			if !t.HasKeyB() {
				return Skipf("needs two API keys of different workspaces (--api-key twice, or --api-key-b)")
			}
			var ids [2][]string
			for i, b := range []bool{false, true} {
				r, err := t.Do(ctx, Request{Path: "/api/v1/keys", Bearer: !b, KeyB: b})
				if err != nil {
					return requestFailed(ctx, err)
				}
				if r.Status != http.StatusOK {
					return Failf("GET /api/v1/keys with key %c = %d: give keys that can list keys", 'A'+i, r.Status)
				}
				var l listed
				_ = json.Unmarshal(r.Body, &l)
				for _, d := range l.Data {
					ids[i] = append(ids[i], d.ID)
				}
			}
			for _, a := range ids[0] {
				for _, b := range ids[1] {
					if a == b {
						return Failf("both keys list the key %s: they are of the same workspace", a)
					}
				}
			}
			return Passf("the keys list %d and %d keys, none in common", len(ids[0]), len(ids[1]))
		}})
	return cs
}

// ssrfTargets are URLs an outgoing webhook must never reach: loopback,
// the cloud metadata address, private and unspecified addresses.
var ssrfTargets = []struct{ name, url string }{
	{"loopback-v4", "https://127.0.0.1:9/palisade-probe"},
	{"loopback-v6", "https://[::1]:9/palisade-probe"},
	{"localhost-name", "https://localhost:9/palisade-probe"},
	{"cloud-metadata", "https://169.254.169.254/latest/meta-data/"},
	{"private-10", "https://10.0.0.1:9/palisade-probe"},
	{"private-192-168", "https://192.168.0.1:9/palisade-probe"},
	{"unspecified", "https://0.0.0.0:9/palisade-probe"},
	{"mapped-v6-loopback", "https://[::ffff:127.0.0.1]:9/palisade-probe"},
}

// ssrfWait bounds how long a check waits for the worker to attempt the
// test delivery.
const ssrfWait = 20 * time.Second

func ssrfChecks() []Check {
	var cs []Check
	for _, tg := range ssrfTargets {
		cs = append(cs, Check{Category: CatSSRF, Name: "webhook-url " + tg.name, Severity: High, Reference: "V1.3.6",
			Description: "an outgoing webhook endpoint at " + tg.url + " is refused when registered or when dialled, and is deleted again",
			Run: func(ctx context.Context, t *Target) Outcome {
				if !t.HasKey() {
					return Skipf("needs --api-key with webhooks:write (the URL is taken by POST /api/v1/webhooks)")
				}
				return webhookSSRF(ctx, t, tg.url)
			}})
	}
	return cs
}

func webhookSSRF(ctx context.Context, t *Target, target string) Outcome {
	body, _ := json.Marshal(map[string]any{"url": target, "description": "palisade probe (deleted at once)"})
	r, err := t.Do(ctx, Request{Method: http.MethodPost, Path: "/api/v1/webhooks", Header: jsonHeader(), Body: body, Bearer: true})
	if err != nil {
		return requestFailed(ctx, err)
	}
	switch {
	case r.Status == http.StatusNotFound || r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized:
		return Skipf("POST /api/v1/webhooks = %d: no outgoing webhooks here, or the key may not create them", r.Status)
	case r.Status == http.StatusBadRequest || r.Status == http.StatusUnprocessableEntity:
		return Passf("refused when registered: %d %s", r.Status, oneLine(normaliseIDs(r.Body)))
	case r.Status != http.StatusCreated && r.Status != http.StatusOK:
		return Failf("POST /api/v1/webhooks = %d", r.Status)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &created); err != nil || created.ID == "" {
		return Failf("the created endpoint has no id: %q", oneLine(string(r.Body)))
	}
	path := "/api/v1/webhooks/" + created.ID
	defer func() {
		_, _ = t.Do(context.WithoutCancel(ctx), Request{Method: http.MethodDelete, Path: path, Bearer: true})
	}()
	tr, err := t.Do(ctx, Request{Method: http.MethodPost, Path: path + "/test", Bearer: true})
	if err != nil {
		return requestFailed(ctx, err)
	}
	if tr.Status/100 != 2 {
		return Failf("POST %s/test = %d", "/api/v1/webhooks/<id>", tr.Status)
	}
	deadline := time.Now().Add(ssrfWait)
	for {
		dr, err := t.Do(ctx, Request{Path: path + "/deliveries", Bearer: true})
		if err != nil {
			return requestFailed(ctx, err)
		}
		var ds struct {
			Data []struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			} `json:"data"`
		}
		_ = json.Unmarshal(dr.Body, &ds)
		if len(ds.Data) > 0 {
			d := ds.Data[len(ds.Data)-1]
			switch {
			case d.Status != 0:
				return Failf("the test delivery to %s was answered %d", target, d.Status)
			case strings.Contains(d.Error, "refused") || strings.Contains(d.Error, "denied"):
				return Passf("accepted as a URL, refused when dialled: %s", d.Error)
			}
			return Failf("the test delivery to %s was attempted: %q (a dial, not a refusal)", target, d.Error)
		}
		if time.Now().After(deadline) {
			return Skipf("no delivery attempt was recorded within %s (is a worker running?)", ssrfWait)
		}
		select {
		case <-ctx.Done():
			return requestFailed(ctx, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
