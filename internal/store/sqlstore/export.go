package sqlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// defaultExportPage is how many rows one transaction of an export reads.
const defaultExportPage = 500

// WithExportPage sets how many rows one transaction of an export reads, so
// tests can cross page boundaries with few rows. Called before the store is
// shared.
func (s *Store) WithExportPage(n int) *Store {
	if n > 0 {
		s.exportPage = n
	}
	return s
}

// Column treatments in an export.
const (
	exportKeep   = "keep"   // the value as stored ([]byte hex-encoded)
	exportRedact = "redact" // store.ExportRedacted when set
	exportOpen   = "open"   // a sealed column opened, under exportOpened's name
	exportOmit   = "omit"   // derived from other columns; left out
)

// exportSecretColumns are the tenant columns that hold a secret or
// something derived from one (a hash a guess can be checked against, a
// sealed credential, a cached response that may carry a freshly made key):
// an export shows only whether they are set. exportOpened are the sealed
// columns holding the workspace's own content, opened under a new name.
// Every other column of every tenant table is listed in exportPlainColumns;
// a column in none of the three lists is redacted, so a column added later
// leaks nothing before someone decides, and a conformance test fails until
// they do.
var (
	exportSecretColumns = map[string][]string{
		"api_keys":         {"hash"},
		"bots":             {"gateway_token_hash", "gateway_token_salt"},
		"channels":         {"sealed_credentials", "sealed_secret", "sealed_gateway_session"},
		"event_endpoints":  {"sealed_secret"},
		"idempotency_keys": {"request_hash", "sealed_response"},
		"invitations":      {"token_hash"},
		"provider_keys":    {"sealed_key"},
		// A keyed hash of a personal value: useless without the master
		// key, and nothing a reader of the export needs.
		"pii_placeholders": {"mac"},
	}
	exportOpened = map[string]map[string]string{
		"messages": {"sealed_body": "body", "sealed_sources": "sources"},
	}
	// exportDerived are computed from other exported columns or point into
	// the full-text index (PostgreSQL's vector of a chunk's body, SQLite's
	// rowid of the chunk's index entry).
	exportDerived = map[string][]string{
		"chunks": {"tsv", "fts_rowid"},
	}
	exportPlainColumns = map[string][]string{
		"workspaces":         {"id", "name", "require_mfa", "retention_days", "created_at", "allowed_models", "suspended_at", "suspended_reason"},
		"api_keys":           {"id", "workspace_id", "name", "prefix", "scopes", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at"},
		"audit_log":          {"workspace_id", "seq", "id", "actor", "action", "target", "outcome", "ip", "request_id", "detail", "created_at", "prev_hash", "hash", "hash_version"},
		"bots":               {"id", "workspace_id", "name", "system_prompt", "model", "temperature", "max_output_tokens", "pii_mode", "allowed_domains", "retention_days", "daily_token_budget", "created_at", "updated_at"},
		"channels":           {"id", "workspace_id", "bot_id", "kind", "name", "external_id", "config", "status", "created_at", "updated_at", "gateway_resume_url", "gateway_seq"},
		"chunks":             {"id", "workspace_id", "document_id", "bot_id", "ordinal", "body"},
		"conversations":      {"id", "workspace_id", "bot_id", "key", "channel", "external_user", "created_at", "last_message_at"},
		"deliveries":         {"workspace_id", "bot_id", "source", "key", "created_at"},
		"documents":          {"id", "workspace_id", "bot_id", "title", "content_type", "size_bytes", "created_at"},
		"event_deliveries":   {"id", "workspace_id", "endpoint_id", "event_id", "event_type", "attempt", "status", "error", "duration_ms", "created_at"},
		"event_endpoints":    {"id", "workspace_id", "url", "description", "events", "created_at"},
		"idempotency_keys":   {"id", "workspace_id", "principal", "key", "status", "created_at", "expires_at"},
		"invitations":        {"id", "workspace_id", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at"},
		"memberships":        {"id", "workspace_id", "user_id", "role", "created_at"},
		"messages":           {"id", "workspace_id", "conversation_id", "bot_id", "role", "inbound_ref", "tokens_in", "tokens_out", "created_at", "seq"},
		"pii_placeholders":   {"workspace_id", "conversation_id", "kind", "number"},
		"provider_keys":      {"id", "workspace_id", "provider", "base_url", "created_at"},
		"refusals_daily":     {"workspace_id", "day", "kind", "count"},
		"reply_sends":        {"workspace_id", "bot_id", "source", "ref", "part", "state", "created_at", "updated_at"},
		"usage_daily":        {"workspace_id", "bot_id", "day", "requests", "tokens_in", "tokens_out", "errors", "latency_ms"},
		"usage_reservations": {"id", "workspace_id", "bot_id", "day", "tokens", "created_at", "expires_at"},
		"workspace_plans":    {"workspace_id", "plan", "product_id", "subscription_id", "status", "source_time", "updated_at"},
	}
)

// ExportColumnTreatment says how an export writes table.column: "keep",
// "redact", "open" or "omit", and whether the column is listed at all (an unlisted
// one is redacted).
func ExportColumnTreatment(table, column string) (treatment string, listed bool) {
	if slices.Contains(exportSecretColumns[table], column) {
		return exportRedact, true
	}
	if _, ok := exportOpened[table][column]; ok {
		return exportOpen, true
	}
	if slices.Contains(exportPlainColumns[table], column) {
		return exportKeep, true
	}
	if slices.Contains(exportDerived[table], column) {
		return exportOmit, true
	}
	return exportRedact, false
}

// exportTable is one table of the catalog holding a workspace's rows.
type exportTable struct {
	name    string
	columns []string
	pk      []string // primary key columns, in key order
	filter  string   // the column holding the workspace id
}

// identRE is what a catalog name must look like to be quoted into SQL: the
// names come from the database's own catalog, never from input, and are
// checked anyway.
var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func quoteIdent(s string) (string, error) {
	if !identRE.MatchString(s) {
		return "", fmt.Errorf("unexpected name %q in the catalog", s)
	}
	return `"` + s + `"`, nil
}

// catalogQuery lists (table, column, position in the primary key from 1,
// or 0); PostgreSQL's index key vectors count from 0.
// of every ordinary table of the application's schema.
func (s *Store) catalogQuery() string {
	if s.d.Dialect() == store.DialectPostgres {
		return `SELECT c.relname::text, a.attname::text, COALESCE(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)::bigint
			FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
			ORDER BY c.relname, a.attnum`
	}
	return `SELECT m.name, p.name, p.pk
		FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY m.name, p.cid`
}

// exportTables reads the catalog: the workspaces table, then every table
// with a workspace_id column, by name.
func (s *Store) exportTables(ctx context.Context, scope palisade.Scope) ([]exportTable, error) {
	type col struct {
		name string
		pk   int64
	}
	byTable := map[string][]col{}
	var names []string
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, s.catalogQuery())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var c col
			if err := rows.Scan(&t, &c.name, &c.pk); err != nil {
				return err
			}
			if _, ok := byTable[t]; !ok {
				names = append(names, t)
			}
			byTable[t] = append(byTable[t], c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.mapErr(err, "reading the catalog")
	}
	var out []exportTable
	for _, name := range names {
		cols := byTable[name]
		t := exportTable{name: name}
		type pkCol struct {
			name string
			pos  int64
		}
		var pks []pkCol
		for _, c := range cols {
			if tr, _ := ExportColumnTreatment(name, c.name); tr != exportOmit {
				t.columns = append(t.columns, c.name)
			}
			if c.pk > 0 {
				pks = append(pks, pkCol{c.name, c.pk})
			}
			if c.name == "workspace_id" {
				t.filter = "workspace_id"
			}
		}
		if name == "workspaces" {
			t.filter = "id"
		}
		if t.filter == "" {
			continue
		}
		slices.SortFunc(pks, func(a, b pkCol) int { return int(a.pos - b.pos) })
		for _, p := range pks {
			t.pk = append(t.pk, p.name)
		}
		if len(t.pk) == 0 {
			return nil, fmt.Errorf("exporting: table %s has no primary key to page by", name)
		}
		out = append(out, t)
	}
	slices.SortStableFunc(out, func(a, b exportTable) int {
		switch {
		case a.name == b.name:
			return 0
		case a.name == "workspaces":
			return -1
		case b.name == "workspaces":
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

func (s *Store) ExportWorkspace(ctx context.Context, scope palisade.Scope, sink store.ExportSink) error {
	if !scope.Valid() {
		return store.ErrNoScope
	}
	if _, err := s.GetWorkspace(ctx, scope); err != nil {
		return err
	}
	tables, err := s.exportTables(ctx, scope)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if err := s.exportTable(ctx, scope, t, sink); err != nil {
			return err
		}
	}
	return nil
}

// exportTable pages through one table by its primary key (keyset paging:
// each page starts after the last key of the one before).
func (s *Store) exportTable(ctx context.Context, scope palisade.Scope, t exportTable, sink store.ExportSink) error {
	quoted := make([]string, len(t.columns))
	outNames := make([]string, len(t.columns))
	treat := make([]string, len(t.columns))
	idCol := -1
	for i, c := range t.columns {
		q, err := quoteIdent(c)
		if err != nil {
			return err
		}
		quoted[i] = q
		treat[i], _ = ExportColumnTreatment(t.name, c)
		outNames[i] = c
		if treat[i] == exportOpen {
			outNames[i] = exportOpened[t.name][c]
		}
		if c == "id" {
			idCol = i
		}
	}
	pkIdx := make([]int, len(t.pk))
	pkQuoted := make([]string, len(t.pk))
	for i, p := range t.pk {
		pkIdx[i] = slices.Index(t.columns, p)
		pkQuoted[i], _ = quoteIdent(p)
	}
	table, err := quoteIdent(t.name)
	if err != nil {
		return err
	}
	filter, err := quoteIdent(t.filter)
	if err != nil {
		return err
	}
	if err := sink.Table(t.name, outNames); err != nil {
		return err
	}
	base := `SELECT ` + strings.Join(quoted, ", ") + ` FROM ` + table + ` WHERE ` + filter + ` = $1`
	order := ` ORDER BY ` + strings.Join(pkQuoted, ", ") + fmt.Sprintf(` LIMIT %d`, s.exportPage)
	var after []any
	for {
		q := base
		args := []any{string(scope.Workspace())}
		if after != nil {
			ph := make([]string, len(after))
			for i := range after {
				ph[i] = fmt.Sprintf("$%d", i+2)
			}
			q += ` AND (` + strings.Join(pkQuoted, ", ") + `) > (` + strings.Join(ph, ", ") + `)`
			args = append(args, after...)
		}
		q += order
		var page [][]any
		err := s.tenant(ctx, scope, func(tx Tx) error {
			rows, err := tx.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				vals := make([]any, len(t.columns))
				ptrs := make([]any, len(t.columns))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				page = append(page, vals)
			}
			return rows.Err()
		})
		if err != nil {
			return s.mapErr(err, "exporting "+t.name)
		}
		for _, vals := range page {
			key := make([]any, len(pkIdx))
			for i, j := range pkIdx {
				key[i] = vals[j]
			}
			out, err := s.exportRow(ctx, scope, t.name, t.columns, treat, idCol, vals)
			if err != nil {
				return err
			}
			if err := sink.Row(out); err != nil {
				return err
			}
			after = key
		}
		if len(page) < s.exportPage {
			return nil
		}
	}
}

// exportRow turns one row as scanned into what the sink gets.
func (s *Store) exportRow(ctx context.Context, scope palisade.Scope, table string, cols, treat []string, idCol int, vals []any) ([]any, error) {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch {
		case v == nil:
			out[i] = nil
		case treat[i] == exportRedact:
			out[i] = store.ExportRedacted{}
		case treat[i] == exportOpen:
			sealed, ok := v.([]byte)
			if !ok || idCol < 0 {
				return nil, fmt.Errorf("exporting %s.%s: not a sealed value", table, cols[i])
			}
			var id string
			if err := (strScan{&id}).Scan(vals[idCol]); err != nil {
				return nil, fmt.Errorf("exporting %s.%s: %w", table, cols[i], err)
			}
			pt, err := s.openField(ctx, scope, table, cols[i], id, sealed)
			if err != nil {
				return nil, err
			}
			out[i] = string(pt)
		default:
			out[i] = exportValue(v)
		}
	}
	return out, nil
}

// exportValue normalises a scanned value to the sink's few types.
func exportValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return hex.EncodeToString(x)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC()
	}
	return v
}
