// Command barehttp is the reference the memory benchmark measures
// palisade serve against: a net/http server that only answers 200, on the
// address given as its one argument, built with the same toolchain and
// flags, so the difference is what palisade itself holds.
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
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	log.Fatal(http.ListenAndServe(os.Args[1], h))
}
