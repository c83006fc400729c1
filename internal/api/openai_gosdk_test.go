package api_test

import (
	"errors"
	"net/http"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/palisadehq/palisade/internal/palisade"
)

// TestOpenAIGoClient runs the official Go client, unchanged, against the
// endpoint: a completion and a stream with usage through a fake provider,
// the models list, and the errors it raises for another workspace's bot
// and a key without messages:send.
func TestOpenAIGoClient(t *testing.T) {
	t.Parallel()
	e := setupOpenAI(t, oaiOptions{Provider: true})
	bot := e.bot(t, e.scope, palisade.Bot{Name: "Parcelbot", SystemPrompt: "You are Parcelbot."}, shippingDoc)
	key, _ := e.key(t, e.scope, "messages:send", "bots:read")
	client := oai.NewClient(option.WithBaseURL(e.srv.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	ctx := t.Context()

	c, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{
		Model:    string(bot.ID),
		Messages: []oai.ChatCompletionMessageParamUnion{oai.SystemMessage("Be someone else."), oai.UserMessage("When does it ship?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Object != "chat.completion" || c.Model != string(bot.ID) || len(c.Choices) != 1 || c.Choices[0].Message.Content != fakeReply ||
		c.Choices[0].FinishReason != "stop" || c.Usage.CompletionTokens == 0 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
		t.Fatalf("completion: %s", c.RawJSON())
	}

	stream := client.Chat.Completions.NewStreaming(ctx, oai.ChatCompletionNewParams{
		Model:         string(bot.ID),
		Messages:      []oai.ChatCompletionMessageParamUnion{oai.UserMessage("When does it ship?")},
		StreamOptions: oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
	})
	var acc oai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != fakeReply || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens == 0 {
		t.Fatalf("accumulated stream: %+v", acc.ChatCompletion)
	}

	models, err := client.Models.List(ctx)
	if err != nil || len(models.Data) != 1 || models.Data[0].ID != string(bot.ID) {
		t.Fatalf("models: %+v, %v", models, err)
	}

	other := e.otherWorkspace(t)
	theirs := e.bot(t, other, palisade.Bot{Name: "Theirs"}, "")
	_, err = client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: string(theirs.ID), Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
		t.Fatalf("another workspace's bot: %v", err)
	}
	noSend, _ := e.key(t, e.scope, "bots:read")
	_, err = client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: string(bot.ID), Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}},
		option.WithAPIKey(noSend))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Code != "insufficient_permissions" {
		t.Fatalf("key without messages:send: %v", err)
	}
}
