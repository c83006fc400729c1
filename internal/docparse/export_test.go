package docparse

import "context"

// RunParser runs parse the way Extract runs a format's parser, so a test
// can hand it one that panics.
func RunParser(mediaType string, parse func() (Document, error)) (Document, error) {
	return run(context.Background(), mediaType, nil, Limits{}.withDefaults(), func(*state, []byte) (Document, error) { return parse() })
}
