package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/store"
)

// KeysSchema is the schema of the key store.
const KeysSchema = "palisade_keys"

// DumpTable is one table of a dump: its rows are in File, in PostgreSQL's
// binary COPY format, with Columns in that order (generated columns left
// out: the database computes them again).
type DumpTable struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	File    string   `json:"file"`
}

// DumpSequence is a sequence's position.
type DumpSequence struct {
	Schema   string `json:"schema"`
	Name     string `json:"name"`
	Last     int64  `json:"last_value"`
	IsCalled bool   `json:"is_called"`
}

// DumpManifest lists what one directory of a dump holds.
type DumpManifest struct {
	Tables    []DumpTable    `json:"tables"`
	Sequences []DumpSequence `json:"sequences"`
}

// DumpManifestFile is the manifest's name in a dump directory.
const DumpManifestFile = "tables.json"

var dumpIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func quoteDumpIdent(s string) (string, error) {
	if !dumpIdentRE.MatchString(s) {
		return "", fmt.Errorf("unexpected name %q in the catalog", s)
	}
	return `"` + s + `"`, nil
}

func (t DumpTable) qualified() (string, error) {
	s, err := quoteDumpIdent(t.Schema)
	if err != nil {
		return "", err
	}
	n, err := quoteDumpIdent(t.Name)
	if err != nil {
		return "", err
	}
	return s + "." + n, nil
}

func (t DumpTable) columnList() (string, error) {
	q := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		var err error
		if q[i], err = quoteDumpIdent(c); err != nil {
			return "", err
		}
	}
	return "(" + strings.Join(q, ", ") + ")", nil
}

// catalog lists the ordinary tables of schema with their stored columns,
// and its sequences, as the transaction sees them.
func catalog(ctx context.Context, tx pgx.Tx, schema string) ([]DumpTable, []DumpSequence, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname::text, a.attname::text
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
		ORDER BY c.relname, a.attnum`, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the catalog of %s: %w", schema, err)
	}
	var tables []DumpTable
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if len(tables) == 0 || tables[len(tables)-1].Name != t {
			tables = append(tables, DumpTable{Schema: schema, Name: t, File: schema + "." + t + ".copy"})
		}
		tables[len(tables)-1].Columns = append(tables[len(tables)-1].Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	srows, err := tx.Query(ctx, `SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY c.relname`, schema)
	if err != nil {
		return nil, nil, err
	}
	var seqs []DumpSequence
	for srows.Next() {
		var s DumpSequence
		if err := srows.Scan(&s.Name); err != nil {
			srows.Close()
			return nil, nil, err
		}
		s.Schema = schema
		seqs = append(seqs, s)
	}
	srows.Close()
	return tables, seqs, srows.Err()
}

// Dump writes every table of the data schema (the connection's current
// schema) into dataDir and of the key schema into keysDir, one file per
// table, with a manifest in each, all read in one REPEATABLE READ, READ
// ONLY transaction: the two halves are the database at one instant. url
// must be the admin role's, which sees every row. progress, when not nil,
// is told each table as it is written.
func Dump(ctx context.Context, url, dataDir, keysDir string, progress func(table string)) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("beginning the backup transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var dataSchema string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&dataSchema); err != nil {
		return err
	}
	for _, half := range []struct{ schema, dir string }{{dataSchema, dataDir}, {KeysSchema, keysDir}} {
		tables, seqs, err := catalog(ctx, tx, half.schema)
		if err != nil {
			return err
		}
		if len(tables) == 0 {
			return fmt.Errorf("schema %s has no tables: is this a migrated Palisade database?", half.schema)
		}
		for i := range seqs {
			q, err := quoteDumpIdent(seqs[i].Name)
			if err != nil {
				return err
			}
			sq, _ := quoteDumpIdent(half.schema)
			if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM `+sq+`.`+q).Scan(&seqs[i].Last, &seqs[i].IsCalled); err != nil {
				return fmt.Errorf("reading sequence %s: %w", seqs[i].Name, err)
			}
		}
		for _, t := range tables {
			qt, err := t.qualified()
			if err != nil {
				return err
			}
			cols, err := t.columnList()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(filepath.Join(half.dir, t.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("dumping %s: %w", t.Name, err)
			}
			_, err = tx.Conn().PgConn().CopyTo(ctx, f, `COPY `+qt+` `+cols+` TO STDOUT (FORMAT binary)`)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("dumping %s.%s: %w", t.Schema, t.Name, err)
			}
			if progress != nil {
				progress(t.Schema + "." + t.Name)
			}
		}
		b, err := json.MarshalIndent(DumpManifest{Tables: tables, Sequences: seqs}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(half.dir, DumpManifestFile), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ReadDumpManifest reads a dump directory's manifest.
func ReadDumpManifest(dir string) (DumpManifest, error) {
	var m DumpManifest
	b, err := os.ReadFile(filepath.Join(dir, DumpManifestFile))
	if err != nil {
		return m, fmt.Errorf("reading the dump's table list: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("reading the dump's table list: %w", err)
	}
	return m, nil
}

// ErrSchemaMismatch refuses a restore into a database whose tables are not
// the dump's: migrate it to the backup's version first.
var ErrSchemaMismatch = errors.New("the database's tables are not the backup's")

// Load replaces the rows of every table of the two dumps with the dumped
// rows, and the sequences' positions, in one transaction as the admin role
// at url: either the whole backup is in place afterwards or nothing
// changed. The database must be migrated to the backup's version (the same
// tables and columns), which is checked first.
func Load(ctx context.Context, url, dataDir, keysDir string, progress func(table string)) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var dataSchema string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&dataSchema); err != nil {
		return err
	}
	type half struct {
		dir string
		m   DumpManifest
	}
	var halves []half
	var all []DumpTable
	for _, h := range []struct{ schema, dir string }{{dataSchema, dataDir}, {KeysSchema, keysDir}} {
		m, err := ReadDumpManifest(h.dir)
		if err != nil {
			return err
		}
		have, _, err := catalog(ctx, tx, h.schema)
		if err != nil {
			return err
		}
		if len(have) != len(m.Tables) {
			return fmt.Errorf("%w: schema %s has %d tables, the backup %d", ErrSchemaMismatch, h.schema, len(have), len(m.Tables))
		}
		for i, t := range m.Tables {
			if t.Schema != h.schema || t.Name != have[i].Name || !slices.Equal(t.Columns, have[i].Columns) || t.File != have[i].File {
				return fmt.Errorf("%w: table %s.%s differs", ErrSchemaMismatch, h.schema, have[i].Name)
			}
		}
		halves = append(halves, half{h.dir, m})
		all = append(all, m.Tables...)
	}
	names := make([]string, len(all))
	for i, t := range all {
		if names[i], err = t.qualified(); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("emptying the tables: %w", err)
	}
	order, err := loadOrder(ctx, tx, all)
	if err != nil {
		return err
	}
	dirOf := map[string]string{}
	for _, h := range halves {
		for _, t := range h.m.Tables {
			dirOf[t.File] = h.dir
		}
	}
	for _, t := range order {
		qt, _ := t.qualified()
		cols, err := t.columnList()
		if err != nil {
			return err
		}
		f, err := os.Open(filepath.Join(dirOf[t.File], t.File))
		if err != nil {
			return fmt.Errorf("restoring %s: %w", t.Name, err)
		}
		_, err = tx.Conn().PgConn().CopyFrom(ctx, f, `COPY `+qt+` `+cols+` FROM STDIN (FORMAT binary)`)
		f.Close()
		if err != nil {
			return fmt.Errorf("restoring %s.%s: %w", t.Schema, t.Name, err)
		}
		if progress != nil {
			progress(t.Schema + "." + t.Name)
		}
	}
	for _, h := range halves {
		for _, s := range h.m.Sequences {
			sq, err := quoteDumpIdent(s.Schema)
			if err != nil {
				return err
			}
			nq, err := quoteDumpIdent(s.Name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, $3)`, sq+"."+nq, s.Last, s.IsCalled); err != nil {
				return fmt.Errorf("restoring sequence %s: %w", s.Name, err)
			}
		}
	}
	return tx.Commit(ctx)
}

// loadOrder orders tables so that every table comes after the tables its
// foreign keys point to.
func loadOrder(ctx context.Context, tx pgx.Tx, tables []DumpTable) ([]DumpTable, error) {
	rows, err := tx.Query(ctx, `
		SELECT cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text
		FROM pg_catalog.pg_constraint k
		JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
		JOIN pg_catalog.pg_class p ON p.oid = k.confrelid JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
		WHERE k.contype = 'f'`)
	if err != nil {
		return nil, fmt.Errorf("reading foreign keys: %w", err)
	}
	deps := map[string][]string{}
	for rows.Next() {
		var cs, c, ps, p string
		if err := rows.Scan(&cs, &c, &ps, &p); err != nil {
			rows.Close()
			return nil, err
		}
		if cs+"."+c != ps+"."+p {
			deps[cs+"."+c] = append(deps[cs+"."+c], ps+"."+p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	byName := map[string]DumpTable{}
	for _, t := range tables {
		byName[t.Schema+"."+t.Name] = t
	}
	var out []DumpTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("foreign keys form a cycle through %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range deps[n] {
			if _, ok := byName[d]; ok {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		out = append(out, byName[n])
		return nil
	}
	for _, t := range tables {
		if err := visit(t.Schema + "." + t.Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeletedWorkspacesSince lists the workspaces the platform audit chain of
// the database at url records as deleted at or after since (RFC 3339).
func DeletedWorkspacesSince(ctx context.Context, url string, since string) ([]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT DISTINCT target FROM platform_audit_log WHERE action = $1 AND outcome = 'success' AND created_at >= $2::timestamptz ORDER BY target`,
		store.AuditActionWorkspaceDeleted, since)
	if err != nil {
		return nil, fmt.Errorf("reading deleted workspaces: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
