// Hookflow's addition to FerretDB v1.24.2's SQLite backend (copied in by src/dev/tools.ts).

package metadata

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/FerretDB/FerretDB/internal/util/fsql"
)

// plainField is a top-level field name that can be written into SQL and JSON paths as it is.
var plainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SortKeyField reports whether a field gets sort-key indexes and pushdown.
func SortKeyField(field string) bool {
	return plainField.MatchString(field)
}

// SortKey is an SQL expression of a top-level field whose SQLite order and equality are those of
// FerretDB's sort order and comparison, for every value type that has exact order here:
//
//	null, missing -> NULL                    (lowest, as in BSON order)
//	int, long, double -> INTEGER or REAL     (numbers compare across types, as in BSON)
//	string -> TEXT                           (binary order, as Go compares strings)
//	objectId -> BLOB 0x08 + 12 bytes
//	bool -> BLOB 0x09 + 0 or 1
//	date -> BLOB 0x0A + big-endian (milliseconds + 2^62)
//
// SQLite orders NULL < numbers < TEXT < BLOB, and BLOBs bytewise, so that is BSON's order of these
// types. Values without an exact order here get a constant BLOB in their BSON type's place: object
// 0x05, array 0x06, binData 0x07, timestamp 0x0B, regex 0x0C, a date beyond ±2^62 ms 0x0F. They
// are "inexact" (see [InexactCondition]); a query on a field that holds any of them is not pushed down.
func SortKey(field string) string {
	if !SortKeyField(field) {
		panic("SortKey: not a plain field: " + field)
	}

	// Parenthesised: `||` binds as tightly as `->>`, left to right.
	v := fmt.Sprintf(`(%s->>'$.%s')`, DefaultColumn, field)

	return fmt.Sprintf(`(CASE %s`, typeName(field)) +
		fmt.Sprintf(` WHEN 'string' THEN %[1]s WHEN 'int' THEN %[1]s WHEN 'long' THEN %[1]s WHEN 'double' THEN %[1]s`, v) +
		fmt.Sprintf(` WHEN 'objectId' THEN unhex('08' || %s)`, v) +
		fmt.Sprintf(` WHEN 'bool' THEN (CASE %s WHEN 1 THEN X'0901' ELSE X'0900' END)`, v) +
		fmt.Sprintf(` WHEN 'date' THEN (CASE WHEN abs(%[1]s) < 4611686018427387904 THEN unhex(printf('0A%%016X', %[1]s + 4611686018427387904)) ELSE X'0F' END)`, v) +
		` WHEN 'object' THEN X'05' WHEN 'array' THEN X'06' WHEN 'binData' THEN X'07' WHEN 'timestamp' THEN X'0B' WHEN 'regex' THEN X'0C'` +
		` ELSE NULL END)`
}

// typeName is the SQL expression of a top-level field's sjson type name (NULL if missing).
func typeName(field string) string {
	return fmt.Sprintf(`(%s->>'$."$s".p.%s.t')`, DefaultColumn, field)
}

// InexactCondition is true for a document whose field holds a value that [SortKey] cannot order exactly
// (an array above all: a filter on it matches its elements).
func InexactCondition(field string) string {
	return fmt.Sprintf(
		`(%[1]s IN ('object', 'array', 'binData', 'timestamp', 'regex') OR (%[1]s = 'date' AND abs(%[2]s->>'$.%[3]s') >= 4611686018427387904))`,
		typeName(field), DefaultColumn, field,
	)
}

// InexactIndexName names the partial index of the rows with an inexact value in the field. It is
// empty while no such row exists, so that finding out costs one index lookup.
func InexactIndexName(tableName, field string) string {
	return tableName + "_hfx_" + hex.EncodeToString([]byte(field))
}

// hookflowIndexColumns returns the sort-key columns of a secondary index, or nil for an index that
// keeps FerretDB's own expressions (the unique `_id_` index, which `_id` lookups use, and fields that
// are not plain names).
func hookflowIndexColumns(index IndexInfo) []string {
	if index.Name == "_id_" {
		return nil
	}

	columns := make([]string, len(index.Key))
	for i, key := range index.Key {
		if !SortKeyField(key.Field) {
			return nil
		}

		columns[i] = SortKey(key.Field)
		if key.Descending {
			columns[i] += " DESC"
		}
	}

	return columns
}

// hookflowCreateInexactIndexes creates, for every field of a sort-key index, the partial index of
// the rows where that field holds an inexact value.
func hookflowCreateInexactIndexes(ctx context.Context, db *fsql.DB, tableName string, index IndexInfo) error {
	if hookflowIndexColumns(index) == nil {
		return nil
	}

	for _, key := range index.Key {
		q := fmt.Sprintf(
			`CREATE INDEX IF NOT EXISTS %q ON %q (%s) WHERE %s`,
			InexactIndexName(tableName, key.Field), tableName, typeName(key.Field), InexactCondition(key.Field),
		)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}

	return nil
}

// Logger is the registry's logger, for the pushdown's debug lines.
func (r *Registry) Logger() *slog.Logger {
	return r.l
}
