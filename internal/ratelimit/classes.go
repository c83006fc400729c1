package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Class names a group of routes sharing one limit (SPEC R4). The class name
// is also the policy name, so it is what clients see in RateLimit headers.
type Class string

// The limited route classes. Each comment says what the key is.
const (
	ClassMgmtWrite     Class = "mgmt_write"     // per principal: creating or changing bots, channels, keys, members, settings
	ClassMgmtRead      Class = "mgmt_read"      // per principal: management reads
	ClassIngest        Class = "ingest"         // per principal: documents added to a bot's knowledge
	ClassAPIMessage    Class = "api_message"    // per API key: messages sent to a bot through the API
	ClassLoginIP       Class = "login_ip"       // per client IP (IPKey): log-in attempts
	ClassLoginAccount  Class = "login_account"  // per account: failed log-ins from devices it does not know
	ClassLoginDevice   Class = "login_device"   // per known device: failed log-ins from a device the account signed in from before
	ClassSecondFactor  Class = "second_factor"  // per account: failed second-factor codes, at log-in and in re-checks
	ClassReauth        Class = "reauth"         // per account: failed password re-checks of a signed-in user
	ClassResetIP       Class = "reset_ip"       // per client IP (IPKey): password-reset requests
	ClassResetAccount  Class = "reset_account"  // per account: password-reset requests
	ClassWebhook       Class = "webhook"        // per bot and channel (Key(bot, channel)): inbound webhooks
	ClassWidgetSession Class = "widget_session" // per widget session: widget messages
	ClassWidgetIP      Class = "widget_ip"      // per client IP (IPKey): widget requests
	ClassExport        Class = "export"         // per principal: workspace and account data exports
)

// ClassStatic names static assets, which are never rate limited: it has no
// policy, and a configuration that tries to give it one is refused.
const ClassStatic Class = "static"

type classDef struct {
	class Class
	limit int
	per   string
}

func classDefs() []classDef {
	return []classDef{
		{ClassMgmtWrite, 5, "principal"},
		{ClassMgmtRead, 20, "principal"},
		// Knowledge arrives in batches (a handbook is dozens of pages), so
		// ingestion has its own budget rather than the five management
		// writes a minute that guard configuration changes.
		{ClassIngest, 60, "principal"},
		{ClassAPIMessage, 60, "API key"},
		{ClassLoginIP, 5, "client IP"},
		{ClassLoginAccount, 5, "account"},
		{ClassLoginDevice, 5, "known device"},
		{ClassSecondFactor, 5, "account"},
		{ClassReauth, 5, "account"},
		{ClassResetIP, 5, "client IP"},
		{ClassResetAccount, 5, "account"},
		{ClassWebhook, 120, "bot and channel"},
		{ClassWidgetSession, 20, "widget session"},
		{ClassWidgetIP, 60, "client IP"},
		// An export reads the whole workspace: a couple a minute is plenty
		// for a person and keeps a leaked key from turning it into load.
		{ClassExport, 2, "principal"},
	}
}

// Classes lists every limited class in a stable order (ClassStatic is not
// among them).
func Classes() []Class {
	defs := classDefs()
	out := make([]Class, len(defs))
	for i, d := range defs {
		out[i] = d.class
	}
	return out
}

// Per says what a class is counted per ("principal", "client IP", ...), for
// help texts; it is empty for an unknown class.
func (c Class) Per() string {
	for _, d := range classDefs() {
		if d.class == c {
			return d.per
		}
	}
	return ""
}

// Table maps every limited class to its policy. Each policy's name is its
// class name.
type Table map[Class]Policy

// Defaults returns a new table holding the defaults of SPEC R4, all per
// minute.
func Defaults() Table {
	t := make(Table, len(classDefs()))
	for _, d := range classDefs() {
		t[d.class] = Policy{Name: string(d.class), Limit: d.limit, Window: time.Minute}
	}
	return t
}

// Policy returns the policy of class c. It reports false for ClassStatic and
// for unknown classes; wire that case at start-up, never per request.
func (t Table) Policy(c Class) (Policy, bool) {
	p, ok := t[c]
	return p, ok
}

// Set overrides the rate of class c with a rate in ParseRate syntax, as given
// by a flag or an environment variable.
func (t Table) Set(c Class, rate string) error {
	if err := checkClass(c); err != nil {
		return err
	}
	limit, window, err := ParseRate(rate)
	if err != nil {
		return fmt.Errorf("rate limit for %s: %w", c, err)
	}
	t[c] = Policy{Name: string(c), Limit: limit, Window: window}
	return nil
}

// Validate checks that t has a valid policy, named after its class, for every
// limited class and nothing else.
func (t Table) Validate() error {
	var errs []error
	for _, c := range Classes() {
		p, ok := t[c]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("rate limit for %s is missing", c))
		case p.Name != string(c):
			errs = append(errs, fmt.Errorf("rate limit for %s is named %q", c, p.Name))
		default:
			if err := p.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for c := range t {
		if err := checkClass(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkClass(c Class) error {
	if c == ClassStatic {
		return fmt.Errorf("rate-limit class %q: static assets are never rate limited", c)
	}
	if !slices.Contains(Classes(), c) {
		names := make([]string, 0, len(classDefs()))
		for _, k := range Classes() {
			names = append(names, string(k))
		}
		return fmt.Errorf("unknown rate-limit class %q (known: %s)", c, strings.Join(names, ", "))
	}
	return nil
}

// maxConfigSize bounds a rate-limits file; a real one is a few hundred bytes.
const maxConfigSize = 64 << 10

// configFile is the shape of a rate-limits file:
//
//	classes:
//	  mgmt_write: "5/min"
//	  webhook: "300/1m"
type configFile struct {
	Classes map[string]string `yaml:"classes"`
}

// ParseConfig reads a rate-limits YAML document and returns the defaults with
// its classes overridden. Unknown fields, unknown classes (including
// "static"), malformed rates, duplicate keys and extra documents are refused
// with an error naming the culprit.
func ParseConfig(data []byte) (Table, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("rate-limits file is larger than %d bytes", maxConfigSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cf configFile
	if err := dec.Decode(&cf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("rate-limits file is empty (want a 'classes:' mapping)")
		}
		return nil, fmt.Errorf("parsing rate-limits file: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("rate-limits file must hold exactly one YAML document")
	}
	t := Defaults()
	// Sorted so the first error reported does not depend on map order.
	names := make([]string, 0, len(cf.Classes))
	for name := range cf.Classes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := t.Set(Class(name), cf.Classes[name]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// LoadFile reads the rate-limits file at path (see ParseConfig).
func LoadFile(path string) (Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening rate-limits file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading rate-limits file %s: %w", path, err)
	}
	t, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
