package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// TestCanarySecretsNeverLeak: an end-to-end scenario seeded
// with distinctive canary secrets (a Telegram bot token and webhook secret
// as channel credentials, a workspace's provider key, an API key, a
// password, the master key and a Redis password in the configuration).
// Every log line, every HTTP response body and header, the output of every
// command, and a raw dump of palisade.db, its WAL and keys.db are captured;
// no canary appears in any of them in plaintext (nor hex or base64 of it).
func TestCanarySecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		tgToken     = "7234567890:AAHCanaryTelegramBotToken_xyz0123"
		webhookSec  = "whsecCanaryWebhookSecret9f8e7d6c5b4a"
		providerKey = "sk-proj-CanaryProviderKey0123456789ABCDEFGHIJ"
		password    = "Canary-Password-Correct-Horse-42!"
		redisPass   = "CanaryRedisPassw0rdXYZ"
		waToken     = "EAAGCanaryWhatsAppAccessTokenInTheStore0123"
		waAppSecret = "CanaryWhatsAppAppSecretInTheStore4567"
		waVerify    = "CanaryWhatsAppVerifyTokenInTheStore89"
		slackToken  = "xoxb-7234567890-7234567890123-CanarySlackBotTokenQ9"
		slackSign   = "CanarySlackSigningSecret7e6d5c4b3a"
	)
	masterRaw := []byte("CANARY-MASTER-KEY-0123456789abcd")
	masterKey := base64.StdEncoding.EncodeToString(masterRaw)
	dir := filepath.Join(t.TempDir(), "palisade-data")
	env := map[string]string{
		"PALISADE_DATA_DIR":   dir,
		"PALISADE_MASTER_KEY": masterKey,
		// Port 1: nothing answers, so readiness reports a Redis error,
		// which must not carry the password.
		"PALISADE_REDIS_URL": "redis://default:" + redisPass + "@127.0.0.1:1/0",
	}
	var captured bytes.Buffer // everything that must be free of canaries
	capture := func(what string, b []byte) {
		fmt.Fprintf(&captured, "\n==== %s ====\n", what)
		captured.Write(b)
	}

	// Workspace and API key through the CLI; the key is printed once, to
	// stdout, which is the one place it may appear.
	ws := createWorkspace(t, env, "Canary")
	var keyErr syncBuffer
	apiKeyOut, err := runCLI(t, t.Context(), env, &keyErr, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "canary",
		"--scopes", "bots:read,bots:write")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, keyErr.String())
	}
	apiKey := strings.TrimSpace(apiKeyOut)
	if _, err := auth.ParseAPIKey(apiKey); err != nil {
		t.Fatalf("apikey create printed %q: %v", apiKey, err)
	}
	capture("apikey create stderr", []byte(keyErr.String()))

	// Sealed secrets through the store, and a user with a password.
	s := openSealed(t, env)
	ctx := t.Context()
	bot, err := s.CreateBot(ctx, ws, palisade.Bot{Name: "canary-bot", Model: "gpt-4o-mini", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.CreateChannel(ctx, ws, store.CreateChannelParams{BotID: bot.ID, Kind: "telegram", Credentials: secret.New(tgToken), Secret: secret.New(webhookSec), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// A WhatsApp channel on the same bot, its sealed values in the form
	// the adapter writes them.
	waCreds := channel.EncodeFields(map[string]string{"access_token": waToken, "phone_number_id": "106540352242922"})
	waSecret := channel.EncodeFields(map[string]string{"app_secret": waAppSecret, "verify_token": waVerify})
	if _, err := s.CreateChannel(ctx, ws, store.CreateChannelParams{BotID: bot.ID, Kind: "whatsapp", ExternalID: "106540352242922", Credentials: waCreds,
		Secret: waSecret, Status: "active", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateChannel(ctx, ws, store.CreateChannelParams{BotID: bot.ID, Kind: "slack", Credentials: secret.New(`{"bot_token":"` + slackToken + `"}`),
		Secret: secret.New(`{"signing_secret":"` + slackSign + `"}`), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProviderKey(ctx, ws, store.CreateProviderKeyParams{Provider: "openai", Key: secret.New(providerKey), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.NewInsecureTestHasher().Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.CreateUserParams{Email: "canary@example.com", Name: "Canary", PasswordHash: hash, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.ChannelCredentials(ctx, ws, ch.ID); err != nil || v.Reveal() != tgToken {
		t.Fatalf("the canary token does not round-trip: %v", err) // the dump check below is not blind
	}
	s.close()

	// Serve, and exercise the API, including its errors.
	r := serve(t, env)
	client := &http.Client{Timeout: 10 * time.Second}
	nreq := 0
	do := func(method, path, bearer, body string) {
		t.Helper()
		nreq++
		req, err := http.NewRequest(method, r.public+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h bytes.Buffer
		_ = resp.Header.Write(&h)
		// Labelled by number: the paths themselves carry canaries.
		capture(fmt.Sprintf("request %d -> %d headers", nreq, resp.StatusCode), h.Bytes())
		capture(fmt.Sprintf("request %d -> %d body", nreq, resp.StatusCode), b)
	}
	do("GET", "/healthz", "", "")
	do("GET", "/readyz", "", "")
	do("GET", "/api/v1/bots", apiKey, "")
	do("GET", "/api/v1/bots", "", "")
	do("GET", "/api/v1/bots", "pal_"+strings.Repeat("x", 43), "")
	do("GET", "/api/v1/bots", tgToken, "")
	do("GET", "/api/v1/bots/"+string(bot.ID)+"?token="+tgToken+"&key="+providerKey, apiKey, "")
	do("GET", "/api/v1/bots/not-an-id?secret="+webhookSec, apiKey, "")
	do("POST", "/api/v1/bots", apiKey, `{"name": "`+providerKey+`", "system_prompt": "`+tgToken+`", "bogus": "`+webhookSec+`"}`)
	do("POST", "/api/v1/bots", apiKey, `{"name": "`+password+`", "model": "`+providerKey)
	do("GET", "/bot"+tgToken+"/sendMessage", "", "")
	do("POST", "/hooks/slack/"+string(bot.ID), slackToken, `{"type":"url_verification","challenge":"`+slackSign+`"}`)
	do("POST", "/api/v1/bots/"+string(bot.ID)+"/chat", apiKey, `{"message": "my key is `+providerKey+`"}`)
	do("GET", "/api/v1/bots/"+string(bot.ID)+"/channels", apiKey, "")
	do("GET", "/hooks/whatsapp/"+string(bot.ID)+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+waVerify, "", "")
	do("GET", "/hooks/whatsapp/"+string(bot.ID)+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+waAppSecret, "", "")
	do("POST", "/hooks/whatsapp/"+string(bot.ID), "", `{"object":"whatsapp_business_account","entry":[{"id":"`+waToken+`"}]}`)

	// Key commands while the server runs.
	for _, args := range [][]string{{"keys", "status"}, {"keys", "rotate"}, {"keys", "reencrypt", "--settle", "0"}} {
		var e syncBuffer
		out, err := runCLI(t, t.Context(), env, &e, args...)
		if err != nil {
			t.Fatalf("palisade %v while serving: %v\n%s", args, err, e.String())
		}
		capture(strings.Join(args, " ")+" stdout", []byte(out))
		capture(strings.Join(args, " ")+" stderr", []byte(e.String()))
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	capture("serve stderr (the log)", []byte(r.stderr.String()))
	capture("serve stdout", []byte(r.stdout.String()))

	// The data still opens after all that: the secrets are there, sealed.
	s = openSealed(t, env)
	if v, err := s.ChannelSecret(ctx, ws, ch.ID); err != nil || v.Reveal() != webhookSec {
		t.Fatalf("the webhook secret no longer opens: %v", err)
	}
	s.close()

	// Raw files: the database, its WAL and shared memory, the key store.
	files := 0
	for _, name := range []string{"palisade.db", "palisade.db-wal", "palisade.db-shm", "keys.db", "keys.db-wal", "keys.db-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		files++
		capture(name, b)
	}
	if files < 2 {
		t.Fatalf("only %d database files found in %s", files, dir)
	}
	if !strings.Contains(r.stderr.String(), "palisade is serving") || !strings.Contains(captured.String(), string(ws.Workspace())) {
		t.Fatal("the capture is blind: it holds neither the log nor the workspace id")
	}
	if !strings.Contains(captured.String(), "-> 200 body ====\n1158201444") {
		t.Fatal("the WhatsApp channel did not answer its challenge: its verify token was not exercised")
	}

	if n := strings.Count(r.stderr.String(), `"http request"`); n < 12 {
		t.Fatalf("the access log holds %d requests, want every one of the 12 made", n)
	}
	canaries := map[string]string{"telegram token": tgToken, "webhook secret": webhookSec, "provider key": providerKey,
		"password": password, "API key": apiKey, "Redis password": redisPass, "master key": masterKey, "master key bytes": string(masterRaw),
		"WhatsApp access token": waToken, "WhatsApp app secret": waAppSecret, "WhatsApp verify token": waVerify,
		"Slack bot token": slackToken, "Slack signing secret": slackSign}
	dump := captured.Bytes()
	for name, c := range canaries {
		for form, v := range map[string]string{"plaintext": c, "hex": hex.EncodeToString([]byte(c)), "base64": base64.StdEncoding.EncodeToString([]byte(c))} {
			if i := bytes.Index(dump, []byte(v)); i >= 0 {
				start := max(0, bytes.LastIndex(dump[:i], []byte("\n==== ")))
				section := dump[start:min(len(dump), start+80)]
				t.Errorf("the %s leaked (%s) in: %q", name, form, section)
			}
		}
	}
	// The Telegram token's secret half alone must not appear either (a
	// log line may keep the bot id, never the part after the colon).
	if bytes.Contains(dump, []byte(tgToken[strings.IndexByte(tgToken, ':')+1:])) {
		t.Error("the secret half of the Telegram token leaked")
	}
}
