package faulttest_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

const (
	discordAppID = "787053080478613554"
	discordToken = "Nzg3MDUzMDgwNDc4NjEzNTYw.GaBcDe.FaultHarnessDiscordBotToken0123456"
)

// dcApp is a workspace with a bot connected to a fake Discord, its
// messages arriving over the Gateway session the real binary keeps.
type dcApp struct {
	b   faulttest.Backend
	srv *faulttest.Server
	dc  *channeltest.Discord
}

func newDiscordApp(t *testing.T, bin string, b faulttest.Backend) *dcApp {
	t.Helper()
	dc := channeltest.NewDiscord(t, channeltest.DiscordOptions{})
	app := dc.AddApp(channeltest.DiscordApp{ApplicationID: discordAppID, BotToken: discordToken, BotUserID: "787053080478613560", Username: "fault_harness"})
	model := llmtest.NewOpenAI(t, llmtest.Options{APIKey: modelKey, Reply: answerParcel})
	_, key := faulttest.Workspace(t, bin, b, "Faults", "bots:write,channels:write,bots:read")
	srv := faulttest.StartServer(t, bin, b.Env, "--discord-api-url", dc.URL, "--llm-provider", "openai", "--llm-base-url", model.URL,
		"--llm-api-key", modelKey, "--llm-models", "gpt-4o-mini", "--egress-policy", faulttest.EgressPolicy(t, dc.URL, model.URL),
		"--unsafe-egress-allow-loopback=true", "--job-timeout", jobTimeout.String())
	bot := faulttest.API(t, srv.URL(), key, "POST", "/api/v1/bots", map[string]any{"name": "Faultbot", "model": "gpt-4o-mini"}, 201)
	botID, _ := bot["id"].(string)
	faulttest.API(t, srv.URL(), key, "POST", "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "discord",
		"credentials": map[string]any{"application_id": discordAppID, "public_key": app.PublicKey, "bot_token": discordToken}}, 201)
	dc.WaitConnected(t, discordToken, 1, 0, time.Minute)
	return &dcApp{b: b, srv: srv, dc: dc}
}

var dcReplyRE = regexp.MustCompile(`^Answer to: #([0-9]+)$`)

// testKill9Discord: a flood of direct messages over the Gateway while the
// server is killed with SIGKILL at random moments and started again. The
// Gateway has no acknowledgement: a message counts as delivered when the
// fake wrote it to a live connection. One read and not yet stored when the
// process died is not lost: the server saves its session and the sequence
// number of the last message stored, the next process resumes from them,
// and the Gateway (the fake as Discord, never deduplicating) replays what
// came after. So every delivered message is answered, and answered once:
// a send retried after a kill carries the same enforced nonce, and Discord
// answers it with the message the first attempt made. Replies are counted
// as the messages the fake created; every request it received is counted
// too.
func testKill9Discord(t *testing.T, bin string, b faulttest.Backend) {
	n := scale(10000, 200)
	kills := scale(8, 2)
	rate := scale(150, 100)
	a := newDiscordApp(t, bin, b)

	ids := make([]string, n)
	base := time.Now()
	for i := range ids {
		ids[i] = channeltest.Snowflake(base, int64(i))
	}
	var mu sync.Mutex
	delivered := make([]bool, n)
	offline := 0 // messages held back while the bot was away, sent when it returned
	done := make(chan struct{})
	go func() {
		defer close(done)
		held := false
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; i < n; {
			select {
			case <-tick.C:
			case <-t.Context().Done():
				return
			}
			chat := strconv.FormatInt(1100000000000000000+int64(i), 10)
			user := strconv.FormatInt(1200000000000000000+int64(i), 10)
			msg := channeltest.MessageCreate(ids[i], chat, "", user, false, fmt.Sprintf("Where is parcel #%d", i), "")
			mu.Lock()
			live := a.dc.DispatchLive(discordToken, "MESSAGE_CREATE", msg)
			if live {
				delivered[i] = true
			}
			mu.Unlock()
			if !live {
				if !held {
					held = true
					mu.Lock()
					offline++
					mu.Unlock()
				}
				continue
			}
			held = false
			i++
		}
	}()

	var downtime []time.Duration
	gap := time.Duration(n) * time.Second / time.Duration(rate) / time.Duration(kills+1)
	for k := range kills {
		select {
		case <-done:
		case <-time.After(gap/2 + time.Duration(rand.Int64N(int64(gap)))):
		}
		a.srv.Kill()
		began := time.Now()
		// A message written after this went over the next connection.
		waitUntil(t, "the fake to see the connection end", time.Minute, func() bool { return !a.dc.Connected(discordToken) })
		a.srv.Start()
		// Recovery ends when the new process holds the Gateway session
		// again (after the dead one's lease expires), resumed.
		waitUntil(t, "the Gateway session to return", 2*time.Minute, func() bool { return a.dc.Connected(discordToken) })
		downtime = append(downtime, time.Since(began))
		t.Logf("kill %d: bot back on the Gateway after %s", k+1, time.Since(began).Round(time.Millisecond))
	}
	<-done

	accepted := map[string]bool{}
	count := func() map[string]int {
		c := map[string]int{}
		for _, s := range a.dc.Created() {
			if m := dcReplyRE.FindStringSubmatch(s.Content); m != nil {
				c[m[1]]++
			}
		}
		return c
	}
	began := time.Now()
	for deadline := time.Now().Add(scale(15*time.Minute, 3*time.Minute)); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, k := range queryStrings(t, b, `SELECT key FROM deliveries WHERE source = 'discord'`) {
			accepted[k] = true
		}
		c, missing := count(), 0
		for i := range n {
			if delivered[i] && c[strconv.Itoa(i)] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	drain := time.Since(began)
	time.Sleep(time.Second)

	c := count()
	replies, dups, lost, unrecorded, deliveredN := 0, 0, 0, 0, 0
	for _, v := range c {
		replies += v
	}
	for i := range n {
		if !delivered[i] {
			continue
		}
		deliveredN++
		got := c[strconv.Itoa(i)]
		switch {
		case !accepted[ids[i]]:
			// Read and never stored, even after the resume replayed
			// what the killed process had not saved.
			unrecorded++
			if lost++; lost <= 10 {
				t.Errorf("message %d (%s) was delivered and never recorded", i, ids[i])
			}
			if got > 0 {
				t.Errorf("message %d answered without a delivery record", i)
			}
		case got == 0:
			if lost++; lost <= 10 {
				t.Errorf("message %d (%s) was recorded and never answered", i, ids[i])
			}
		case got > 1:
			dups += got - 1
			t.Errorf("message %d answered by %d messages", i, got)
		}
	}
	sent := a.dc.Sent()
	replayed := 0
	for _, s := range sent {
		if s.Replayed {
			replayed++
		}
	}
	resumes := 0
	for _, r := range a.dc.Resumes(discordToken) {
		if r.OK {
			resumes++
		}
	}
	faulttest.Print(t, faulttest.Figures{Scenario: "kill -9 during a Discord flood", Store: b.Name, Deliveries: deliveredN, Refused: offline,
		Replies: replies, Duplicates: dups, Lost: lost, Faults: kills, Recovery: maxDur(downtime),
		Note: fmt.Sprintf("over the Gateway; %d creates received, %d answered by their nonce; %d sessions resumed after a kill, %d identified; %d never recorded; queue drained %s after the flood; recovery = kill to Gateway session back",
			len(sent), replayed, resumes, len(a.dc.Identifies(discordToken)), unrecorded, drain.Round(100*time.Millisecond))})
	if deliveredN != n {
		t.Errorf("%d of %d messages delivered", deliveredN, n)
	}
}
