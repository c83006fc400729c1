package sqlstore

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- users ----

const userCols = `id, email, name, password_hash, email_verified_at, totp_enabled, created_at`

func scanUser(r Row) (palisade.User, error) {
	var u palisade.User
	var id string
	err := r.Scan(&id, &u.Email, &u.Name, &u.PasswordHash, nullTimeScan{&u.EmailVerifiedAt}, &u.TOTPEnabled, timeScan{&u.CreatedAt})
	u.ID = palisade.UserID(id)
	return u, err
}

func (s *Store) CreateUser(ctx context.Context, p store.CreateUserParams) (palisade.User, error) {
	u := palisade.User{ID: palisade.NewUserID(), Email: strings.ToLower(p.Email), Name: p.Name, PasswordHash: p.PasswordHash, CreatedAt: dbTime(p.Now)}
	err := s.account(ctx, u.ID, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			string(u.ID), u.Email, u.Name, u.PasswordHash, u.CreatedAt)
		return err
	})
	return u, s.mapErr(err, "creating user")
}

func (s *Store) GetUser(ctx context.Context, id palisade.UserID) (palisade.User, error) {
	var u palisade.User
	err := s.account(ctx, id, func(tx Tx) (err error) {
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, string(id)))
		return err
	})
	return u, s.mapErr(err, "reading user")
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (palisade.User, error) {
	var u palisade.User
	email = strings.ToLower(email)
	err := s.lookup(ctx, lookupEmail+email, func(tx Tx) (err error) {
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, email))
		return err
	})
	return u, s.mapErr(err, "reading user")
}

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	// On PostgreSQL no scope sees every user: a function counts them,
	// returning the number and nothing else (migration 00008).
	q := `SELECT COUNT(*) FROM users`
	if s.d.Dialect() == store.DialectPostgres {
		q = `SELECT palisade_count_users()`
	}
	err := s.platform(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, q).Scan(&n)
	})
	return n, s.mapErr(err, "counting users")
}

// ---- one-time tokens ----

// tokenLookup is the lookup key of a one-time token's row.
func tokenLookup(hash []byte) string { return lookupToken + hex.EncodeToString(hash) }

func (s *Store) CreateOneTimeToken(ctx context.Context, p store.CreateTokenParams) error {
	err := s.lookup(ctx, tokenLookup(p.Hash), func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO one_time_tokens (token_hash, purpose, email, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.Hash, p.Purpose, strings.ToLower(p.Email), nullString(string(p.UserID)), dbTime(p.Now), dbTime(p.ExpiresAt))
		return err
	})
	return s.mapErr(err, "creating one-time token")
}

func (s *Store) ConsumeOneTimeToken(ctx context.Context, purpose string, hash []byte, now time.Time) (store.OneTimeToken, error) {
	var t store.OneTimeToken
	err := s.lookup(ctx, tokenLookup(hash), func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1`,
			dbTime(now), hash, purpose)
		if err != nil {
			return err
		}
		if n != 1 {
			return store.ErrNotFound
		}
		var uid string
		err = tx.QueryRow(ctx, `SELECT purpose, email, user_id, expires_at FROM one_time_tokens WHERE token_hash = $1`, hash).
			Scan(&t.Purpose, &t.Email, strScan{&uid}, timeScan{&t.ExpiresAt})
		t.UserID = palisade.UserID(uid)
		return err
	})
	return t, s.mapErr(err, "consuming one-time token")
}
