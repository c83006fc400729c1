package discordgateway_test

import (
	"testing"

	"github.com/palisadehq/palisade/internal/discordgateway"
)

// FuzzDecodeFrame: whatever the Gateway sends, the decoder never panics,
// and a dispatch it accepts has an event name and a positive sequence
// number.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}`))
	f.Add([]byte(`{"op":0,"d":{"id":"1"},"s":3,"t":"MESSAGE_CREATE"}`))
	f.Add([]byte(`{"op":9,"d":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := discordgateway.DecodeFrame(data)
		if err != nil {
			return
		}
		if fr.Op == 0 && (fr.T == nil || fr.S == nil || *fr.S <= 0) {
			t.Fatalf("a dispatch without its name or sequence: %+v", fr)
		}
	})
}
