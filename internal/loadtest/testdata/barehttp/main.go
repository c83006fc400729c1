// Command barehttp is the reference the load harness measures palisade
// serve against: a bare net/http server answering every request with a
// small JSON body, on the address given as its one argument, built with
// the same toolchain and flags.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: barehttp ADDR")
	}
	body := []byte(`{"status":"ok"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(os.Args[1], h))
}
