package servicetest

import (
	"os"
	"os/exec"
	"testing"
)

// EnvChromium names the browser binary for the real-browser tests. When it is
// set, only that path is tried: a wrong value must not silently fall back to
// another browser.
const EnvChromium = "PALISADE_TEST_CHROMIUM"

// debianChromium is where Debian's chromium package installs the browser.
const debianChromium = "/usr/bin/chromium"

// Chromium returns the path of the browser for the real-browser tests:
// PALISADE_TEST_CHROMIUM, else Debian's /usr/bin/chromium, else chromium on
// PATH. It skips the test when there is none, and fails instead when
// PALISADE_TEST_REQUIRE_SERVICES=1 (CI installs the browser and sets it).
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		if isExecutable(p) {
			return p
		}
		missing(t, "Chromium", EnvChromium, EnvChromium+"="+p+" is not an executable file")
	}
	if isExecutable(debianChromium) {
		return debianChromium
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	missing(t, "Chromium", EnvChromium, "no "+debianChromium+" and no chromium on PATH; install Debian's chromium package")
	return ""
}

// isExecutable reports whether path is a regular file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
