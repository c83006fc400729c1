package sqlstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

var errActivitySpan = errors.New("activity: the span must run forward and cover at most " + strconv.Itoa(store.MaxActivityDays) + " days")

// DailyActivity buckets rows into days with a CASE over the days'
// boundaries, passed as parameters, rather than a date function: the two
// dialects store and format timestamps differently, and this way one
// query serves both and uses the (workspace_id, created_at) indexes.
func (s *Store) DailyActivity(ctx context.Context, scope palisade.Scope, p store.ActivityParams) ([]store.DayActivity, error) {
	from := p.From.UTC().Truncate(24 * time.Hour)
	to := p.To.UTC().Truncate(24 * time.Hour)
	n := int(to.Sub(from)/(24*time.Hour)) + 1
	if n < 1 || n > store.MaxActivityDays {
		return nil, errActivitySpan
	}
	out := make([]store.DayActivity, n)
	for i := range out {
		out[i].Day = store.DayKey(from.Add(time.Duration(i) * 24 * time.Hour))
	}
	ws := string(scope.Workspace())
	// bucketed returns the query's CASE expression over created_at and its
	// arguments: $1 is the workspace, $2 and $3 the span, then one
	// boundary per day after the first.
	bucketed := func() (string, []any) {
		args := []any{ws, dbTime(from), dbTime(to.Add(24 * time.Hour))}
		if n == 1 {
			return "0", args
		}
		var b strings.Builder
		b.WriteString("CASE")
		for i := 1; i < n; i++ {
			args = append(args, dbTime(from.Add(time.Duration(i)*24*time.Hour)))
			b.WriteString(" WHEN created_at < $" + strconv.Itoa(len(args)) + " THEN " + strconv.Itoa(i-1))
		}
		b.WriteString(" ELSE " + strconv.Itoa(n-1) + " END")
		return b.String(), args
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		bucket, args := bucketed()
		rows, err := tx.Query(ctx, `SELECT b, role, COUNT(*) FROM (SELECT `+bucket+` AS b, role FROM messages
			WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3) m GROUP BY b, role`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var day, count int64
			var role string
			if err := rows.Scan(&day, &role, &count); err != nil {
				rows.Close()
				return err
			}
			switch role {
			case palisade.MessageUser:
				out[day].Questions += count
			case palisade.MessageAssistant:
				out[day].Answers += count
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		if len(p.Refusals) > 0 {
			bucket, args := bucketed()
			in := make([]string, len(p.Refusals))
			for i, a := range p.Refusals {
				args = append(args, a)
				in[i] = "$" + strconv.Itoa(len(args))
			}
			rows, err := tx.Query(ctx, `SELECT b, COUNT(*) FROM (SELECT `+bucket+` AS b FROM audit_log
				WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND action IN (`+strings.Join(in, ", ")+`)) a GROUP BY b`, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var day, count int64
				if err := rows.Scan(&day, &count); err != nil {
					rows.Close()
					return err
				}
				out[day].Refusals += count
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}

		rows, err = tx.Query(ctx, `SELECT day, CAST(SUM(count) AS BIGINT) FROM refusals_daily
			WHERE workspace_id = $1 AND day >= $2 AND day <= $3 GROUP BY day`, ws, out[0].Day, out[n-1].Day)
		if err != nil {
			return err
		}
		for rows.Next() {
			var day string
			var count int64
			if err := rows.Scan(&day, &count); err != nil {
				rows.Close()
				return err
			}
			if i := int(dayIndex(from, day)); i >= 0 && i < n {
				out[i].RateLimited = count
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		rows, err = tx.Query(ctx, `SELECT day, CAST(SUM(tokens_in) AS BIGINT), CAST(SUM(tokens_out) AS BIGINT) FROM usage_daily
			WHERE workspace_id = $1 AND day >= $2 AND day <= $3 GROUP BY day`, ws, out[0].Day, out[n-1].Day)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var day string
			var in, outTokens int64
			if err := rows.Scan(&day, &in, &outTokens); err != nil {
				return err
			}
			if i := int(dayIndex(from, day)); i >= 0 && i < n {
				out[i].TokensIn, out[i].TokensOut = in, outTokens
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.mapErr(err, "summing activity")
	}
	return out, nil
}

// dayIndex is how many days day (YYYY-MM-DD) comes after from; -1 when it
// does not parse.
func dayIndex(from time.Time, day string) int64 {
	d, err := time.Parse("2006-01-02", day)
	if err != nil {
		return -1
	}
	return int64(d.Sub(from) / (24 * time.Hour))
}

var errRefusalCount = errors.New("refusals: the day must be YYYY-MM-DD, the kind 1 to " + strconv.Itoa(store.MaxRefusalKind) + " bytes, the count positive")

func (s *Store) AddRefusals(ctx context.Context, scope palisade.Scope, day, kind string, n int64) error {
	if _, err := time.Parse("2006-01-02", day); err != nil || kind == "" || len(kind) > store.MaxRefusalKind || n <= 0 {
		return errRefusalCount
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO refusals_daily (workspace_id, day, kind, count) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id, day, kind) DO UPDATE SET count = refusals_daily.count + excluded.count`,
			string(scope.Workspace()), day, kind, n)
		return err
	})
	return s.mapErr(err, "counting refusals")
}
