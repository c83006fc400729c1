package sqlite

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// maxCachedStatements bounds the statements one connection keeps compiled;
// the store's statements are a few hundred fixed strings, and one built
// with a varying shape past the bound is compiled and closed as before.
const maxCachedStatements = 512

// stmtConnector opens SQLite connections that keep each statement they
// compile and reuse it the next time the same SQL runs: parsing and
// planning a statement cost as much as running most of them (a sixth of a
// chat turn's CPU before this).
type stmtConnector struct {
	dsn string
	d   *sqlite.Driver
}

func (c *stmtConnector) Connect(context.Context) (sqldriver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(innerConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite connection lacks the context methods the statement cache forwards")
	}
	return &cachingConn{inner: inner, stmts: map[string]*cachedStmt{}}, nil
}

func (c *stmtConnector) Driver() sqldriver.Driver { return c.d }

// innerConn is what the cache needs of a modernc connection.
type innerConn interface {
	sqldriver.Conn
	sqldriver.ConnBeginTx
	sqldriver.ConnPrepareContext
	sqldriver.Pinger
	sqldriver.SessionResetter
	sqldriver.Validator
}

// cachingConn hides the connection's own Exec and Query so database/sql
// prepares each statement, and answers a prepare from the cache. A cached
// statement is lent to one use at a time: database/sql closes the handle
// when the statement's rows are closed (or after an exec), which returns
// it; the same SQL run again while its rows are still open (a query run
// inside the loop over its own results) gets a statement of its own.
// database/sql uses a connection from one goroutine at a time, so the map
// and the flags need no lock of their own.
type cachingConn struct {
	inner innerConn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	sqldriver.Stmt
	busy bool
}

func (c *cachingConn) Prepare(query string) (sqldriver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (sqldriver.Stmt, error) {
	if cs := c.stmts[query]; cs != nil {
		if !cs.busy {
			cs.busy = true
			return &lentStmt{cs}, nil
		}
		return c.inner.PrepareContext(ctx, query)
	}
	st, err := c.inner.PrepareContext(ctx, query)
	if err != nil || len(c.stmts) >= maxCachedStatements {
		return st, err
	}
	cs := &cachedStmt{Stmt: st, busy: true}
	c.stmts[query] = cs
	return &lentStmt{cs}, nil
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.Stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.inner.Close())
	return errors.Join(errs...)
}

func (c *cachingConn) Begin() (sqldriver.Tx, error) {
	return c.inner.BeginTx(context.Background(), sqldriver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts sqldriver.TxOptions) (sqldriver.Tx, error) {
	return c.inner.BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.inner.Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }

func (c *cachingConn) IsValid() bool { return c.inner.IsValid() }

// lentStmt is a cached statement lent to one use; closing it returns it.
type lentStmt struct{ cs *cachedStmt }

func (s *lentStmt) Close() error {
	s.cs.busy = false
	return nil
}

func (s *lentStmt) NumInput() int { return s.cs.NumInput() }

func (s *lentStmt) Exec(args []sqldriver.Value) (sqldriver.Result, error) {
	return s.cs.Exec(args)
}

func (s *lentStmt) Query(args []sqldriver.Value) (sqldriver.Rows, error) {
	return s.cs.Query(args)
}

func (s *lentStmt) ExecContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	ec, ok := s.cs.Stmt.(sqldriver.StmtExecContext)
	if !ok {
		return nil, errors.New("sqlite statement lacks ExecContext")
	}
	return ec.ExecContext(ctx, args)
}

func (s *lentStmt) QueryContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	qc, ok := s.cs.Stmt.(sqldriver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlite statement lacks QueryContext")
	}
	return qc.QueryContext(ctx, args)
}
