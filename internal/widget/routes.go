package widget

import (
	"encoding/json"
	"net/http"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Route is one widget route: its rate-limit class per client IP
// (ClassStatic: none) and whether the bot's domains may call it across
// origins.
type Route struct {
	Method  string
	Pattern string
	Class   ratelimit.Class
	CORS    bool
	Handle  httpx.HandlerFunc
}

// Routes lists every route of the widget. Nothing is served that is not
// listed here.
func (wg *Widget) Routes() []Route {
	return []Route{
		{http.MethodGet, "/widget.js", ratelimit.ClassStatic, false, wg.script},
		{http.MethodGet, "/widget/assets/{file}", ratelimit.ClassStatic, false, wg.asset},
		{http.MethodGet, "/widget/{botId}", ratelimit.ClassWidgetIP, false, wg.frame},
		// Only the frame itself starts a session.
		{http.MethodPost, "/widget/{botId}/session", ratelimit.ClassWidgetIP, false, wg.start},
		{http.MethodPost, "/widget/{botId}/messages", ratelimit.ClassWidgetIP, true, wg.message},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
