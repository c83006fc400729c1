// Command vulnmod calls a function with a known vulnerability
// (golang.org/x/text/language.ParseAcceptLanguage before v0.3.8, GO-2022-1059)
// so that the vulnerability check has something to find.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("ACCEPT_LANGUAGE"))
	fmt.Println(tags, err)
}
