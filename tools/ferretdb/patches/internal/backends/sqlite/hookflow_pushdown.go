// Hookflow's addition to FerretDB v1.24.2's SQLite backend (copied in by src/dev/tools.ts).
//
// Upstream runs only an `_id` equality in SQLite and filters and sorts everything else in its own
// process, over the whole collection. Here a find's filter, sort and limit run in SQLite on the
// sort-key indexes (metadata.SortKey) where that gives exactly what upstream returns:
//
//   - Every condition translated is a condition on a field's sort key whose SQLite meaning is FerretDB's
//     (equality, $in, and type-bracketed $gt/$gte/$lt/$lte on null, numbers, strings, objectIds, bools
//     and dates), provided the field holds no inexact value (arrays above all) in the collection. That
//     is checked in the same read transaction, on an index of such rows that is empty in the usual case.
//   - A filter translated only in part selects a superset: the handler filters, sorts, skips and limits
//     the rows again, as always. Rows come in rowid order, the order of upstream's table scan, so that
//     the handler's (unstable) sort sees the same input as upstream's.
//   - Only a filter translated in full, with a sort translated in full, gets a LIMIT, of one row more
//     than asked: if no two of those rows tie on the sort key, upstream's first rows are these, in this
//     order; if two tie, the query runs again without the limit.

package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// maxPushedLimit bounds the rows the limited query holds in memory.
const maxPushedLimit = 10_000

// pushdown is a find translated to SQL.
type pushdown struct {
	where    []string
	args     []any
	fields   map[string]struct{} // fields the SQL depends on through their sort keys
	exact    bool                // every condition of the filter is in where
	idLookup bool                // an `_id` equality or $in, which the unique `_id` index serves
}

func (p *pushdown) term(field, sql string, args ...any) {
	p.where = append(p.where, sql)
	p.args = append(p.args, args...)
	p.fields[field] = struct{}{}
}

// translateFilter adds the conditions of a filter document (an implicit $and) that it can translate.
func (p *pushdown) translateFilter(filter *types.Document) {
	iter := filter.Iterator()
	defer iter.Close()

	for {
		key, value, err := iter.Next()
		if err != nil {
			return
		}

		switch {
		case key == "$comment":
		case key == "$and":
			arr, ok := value.(*types.Array)
			if !ok || arr.Len() == 0 {
				p.exact = false
				continue
			}

			for i := 0; i < arr.Len(); i++ {
				doc, ok := must.NotFail(arr.Get(i)).(*types.Document)
				if !ok {
					p.exact = false
					continue
				}

				p.translateFilter(doc)
			}
		case key == "$or":
			p.translateOr(value)
		case strings.HasPrefix(key, "$") || !metadata.SortKeyField(key):
			p.exact = false
		default:
			p.translateField(key, value)
		}
	}
}

// translateOr adds an $or whose every branch translates; a branch translated in part still makes the
// $or a superset. A branch with no condition translated makes the $or match anything: it is left out.
func (p *pushdown) translateOr(value any) {
	arr, ok := value.(*types.Array)
	if !ok || arr.Len() == 0 {
		p.exact = false
		return
	}

	branches := make([]string, 0, arr.Len())
	var args []any
	fields := map[string]struct{}{}
	exact := true

	for i := 0; i < arr.Len(); i++ {
		doc, ok := must.NotFail(arr.Get(i)).(*types.Document)
		if !ok {
			p.exact = false
			return
		}

		branch := &pushdown{fields: fields, exact: true}
		branch.translateFilter(doc)

		if len(branch.where) == 0 {
			p.exact = false
			return
		}

		branches = append(branches, "("+strings.Join(branch.where, " AND ")+")")
		args = append(args, branch.args...)
		exact = exact && branch.exact
	}

	p.where = append(p.where, "("+strings.Join(branches, " OR ")+")")
	p.args = append(p.args, args...)

	for f := range fields {
		p.fields[f] = struct{}{}
	}

	p.exact = p.exact && exact
}

// translateField adds the conditions on one field: a value (equality) or an operator document.
func (p *pushdown) translateField(field string, value any) {
	if field == "_id" && p.idTerm(value) {
		return
	}

	k := metadata.SortKey(field)

	ops, isDoc := value.(*types.Document)
	if !isDoc {
		p.equality(field, k, value)
		return
	}

	if ops.Len() == 0 {
		p.exact = false
		return
	}

	for _, op := range ops.Keys() {
		if !strings.HasPrefix(op, "$") {
			// an embedded document to match as a whole
			p.exact = false
			return
		}
	}

	iter := ops.Iterator()
	defer iter.Close()

	for {
		op, operand, err := iter.Next()
		if err != nil {
			return
		}

		switch op {
		case "$eq":
			p.equality(field, k, operand)
		case "$in":
			p.in(field, k, operand)
		case "$gt", "$gte", "$lt", "$lte":
			p.comparison(field, k, op, operand)
		default:
			p.exact = false
		}
	}
}

// idTerm adds an `_id` equality or $in of strings and ObjectIds on the unique `_id` index, written as
// upstream's own `_id` lookup is (an `_id` is never an array, so that is exact).
func (p *pushdown) idTerm(value any) bool {
	values := []any{value}

	if ops, ok := value.(*types.Document); ok {
		if ops.Len() != 1 {
			return false
		}

		op := ops.Keys()[0]
		operand := must.NotFail(ops.Get(op))

		switch op {
		case "$eq":
			values = []any{operand}
		case "$in":
			arr, ok := operand.(*types.Array)
			if !ok || arr.Len() == 0 {
				return false
			}

			values = values[:0]
			for i := 0; i < arr.Len(); i++ {
				values = append(values, must.NotFail(arr.Get(i)))
			}
		default:
			return false
		}
	}

	args := make([]any, len(values))

	for i, v := range values {
		switch v.(type) {
		case string, types.ObjectID:
			args[i] = string(must.NotFail(sjson.MarshalSingleValue(v)))
		default:
			return false
		}
	}

	p.where = append(p.where, metadata.IDColumn+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+")")
	p.args = append(p.args, args...)
	p.idLookup = true

	return true
}

func (p *pushdown) equality(field, k string, value any) {
	if _, ok := value.(types.NullType); ok {
		p.term(field, k+" IS NULL")
		return
	}

	key, ok := sortKeyValue(value)
	if !ok {
		p.exact = false
		return
	}

	p.term(field, k+" = ?", key)
}

func (p *pushdown) in(field, k string, operand any) {
	arr, ok := operand.(*types.Array)
	if !ok {
		p.exact = false
		return
	}

	var keys []any
	var null bool

	for i := 0; i < arr.Len(); i++ {
		v := must.NotFail(arr.Get(i))
		if _, ok := v.(types.NullType); ok {
			null = true
			continue
		}

		key, ok := sortKeyValue(v)
		if !ok {
			p.exact = false
			return
		}

		keys = append(keys, key)
	}

	terms := []string{}
	if len(keys) > 0 {
		terms = append(terms, k+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")+")")
	}

	if null {
		terms = append(terms, k+" IS NULL")
	}

	if len(terms) == 0 {
		p.term(field, "0")
		return
	}

	p.term(field, "("+strings.Join(terms, " OR ")+")", keys...)
}

// comparison adds a range within the operand's type, as FerretDB's operators compare only values of
// the same type (numbers of any type together).
func (p *pushdown) comparison(field, k, op string, operand any) {
	key, ok := sortKeyValue(operand)
	if !ok {
		p.exact = false
		return
	}

	var low, high any // the bounds of the operand's type among sort keys: low <= key < high

	switch operand.(type) {
	case float64, int32, int64:
		high = ""
	case string:
		low, high = "", []byte{}
	case types.ObjectID:
		low, high = []byte{0x08}, []byte{0x09}
	case bool:
		low, high = []byte{0x09}, []byte{0x0A}
	case time.Time:
		low, high = []byte{0x0A}, []byte{0x0B}
	default:
		p.exact = false
		return
	}

	sqlOp := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
	p.term(field, fmt.Sprintf("%s %s ?", k, sqlOp), key)

	if low != nil {
		p.term(field, k+" >= ?", low)
	}

	if high != nil {
		p.term(field, k+" < ?", high)
	}
}

// sortKeyValue is the value of metadata.SortKey for a scalar with exact order, as an SQL argument.
func sortKeyValue(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}

		return v, true
	case types.ObjectID:
		return append([]byte{0x08}, v[:]...), true
	case bool:
		if v {
			return []byte{0x09, 1}, true
		}

		return []byte{0x09, 0}, true
	case time.Time:
		ms := v.UnixMilli()
		if ms <= -(1<<62) || ms >= 1<<62 {
			return nil, false
		}

		b := []byte{0x0A, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[1:], uint64(ms+(1<<62)))

		return b, true
	default:
		return nil, false
	}
}

// translateSort returns the ORDER BY terms of a sort on plain fields, or nil.
func translateSort(sort *types.Document) ([]string, []string) {
	if sort.Len() == 0 {
		return nil, nil
	}

	var terms, fields []string

	for _, field := range sort.Keys() {
		if !metadata.SortKeyField(field) {
			return nil, nil
		}

		var order string

		switch v, _ := sort.Get(field); v {
		case int64(1):
			order = " ASC"
		case int64(-1):
			order = " DESC"
		default:
			return nil, nil
		}

		terms = append(terms, metadata.SortKey(field)+order)
		fields = append(fields, field)
	}

	return terms, fields
}

// hookflowIDEquality returns the value of a filter's one top-level `_id` key, if it has exactly one:
// an equality when it is a string or an ObjectID. (Document.Get panics on a duplicated key.)
func hookflowIDEquality(filter *types.Document) (any, bool) {
	if filter.Len() == 0 {
		return nil, false
	}

	n := 0
	for _, key := range filter.Keys() {
		if key == "_id" {
			n++
		}
	}

	if n != 1 {
		return nil, false
	}

	return must.NotFail(filter.Get("_id")), true
}

// hookflowQuery runs a find on the sort-key indexes, or returns nil for the upstream query.
func (c *collection) hookflowQuery(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams) (*backends.QueryResult, error) {
	if meta.Capped() || params.OnlyRecordIDs || (params.PushdownFilter.Len() == 0 && params.PushdownSort.Len() == 0) {
		return nil, nil
	}

	// A filter with an `_id` equality selects one row at most: upstream's own `_id` lookup (patched to
	// run whatever else the filter holds) finds it on the unique index, and the handler filters the rest.
	if params.PushdownSort.Len() == 0 {
		if v, ok := hookflowIDEquality(params.PushdownFilter); ok {
			switch v.(type) {
			case string, types.ObjectID:
				return nil, nil
			}
		}
	}

	p := &pushdown{fields: map[string]struct{}{}, exact: true}
	if params.PushdownFilter != nil {
		p.translateFilter(params.PushdownFilter)
	}

	orderBy, sortFields := translateSort(params.PushdownSort)

	// Worth it only where an index leads with a field the query uses.
	if !p.idLookup && !leadsAnIndex(meta, p.fields, sortFields) {
		return nil, nil
	}

	var rows []*types.Document
	pushed := false
	mode := "superset"

	err := db.InReadTransaction(ctx, func(tx *fsql.Tx) error {
		fields := make([]string, 0, len(p.fields))
		for f := range p.fields {
			fields = append(fields, f)
		}

		clean, err := noInexactValues(ctx, tx, meta.TableName, fields)
		if err != nil || !clean {
			return err
		}

		// A sort that SQLite cannot run exactly is left to the handler; the filter still narrows the rows.
		if orderBy != nil {
			if clean, err = noInexactValues(ctx, tx, meta.TableName, sortFields); err != nil {
				return err
			}

			if !clean {
				orderBy, sortFields = nil, nil
			}
		}

		limit := params.PushdownLimit
		if p.exact && len(p.where) > 0 && orderBy == nil && params.PushdownSort.Len() == 0 && limit > 0 && limit <= maxPushedLimit {
			// No sort: upstream returns the first matches in rowid order. `rowid+0`, not `rowid`: SQLite
			// could read `rowid` order off the table and scan it all; this way it finds the matches by an
			// index and sorts them.
			orderBy = []string{"rowid+0"}
		}

		if p.exact && orderBy != nil && limit > 0 && limit <= maxPushedLimit {
			docs, ok, err := queryLimited(ctx, tx, meta.TableName, params.Comment, p, orderBy, len(sortFields), limit+1)
			if err != nil {
				return err
			}

			if ok {
				rows, pushed, mode = docs, true, "limited"
				return nil
			}

			mode = "superset (ties at the limit)"
		}

		if len(p.where) == 0 {
			return nil
		}

		// A superset in upstream's order; the handler does the rest.
		q := prepareSelectClause(meta.TableName, params.Comment, false, false) +
			" WHERE " + strings.Join(p.where, " AND ") + " ORDER BY rowid+0"

		rows, err = queryDocuments(ctx, tx, q, p.args)
		pushed = err == nil

		return err
	})
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	if !pushed {
		c.r.Logger().DebugContext(ctx, "hookflow pushdown: none (inexact values or no sort-key index)", slog.String("collection", c.name))
		return nil, nil
	}

	c.r.Logger().DebugContext(ctx, "hookflow pushdown: "+mode, slog.String("collection", c.name), slog.Int("rows", len(rows)))

	return &backends.QueryResult{Iter: newSliceIterator(rows)}, nil
}

// leadsAnIndex reports whether a sort-key index of the collection leads with one of the fields.
func leadsAnIndex(meta *metadata.Collection, filterFields map[string]struct{}, sortFields []string) bool {
	for _, index := range meta.Settings.Indexes {
		if index.Name == "_id_" || len(index.Key) == 0 {
			continue
		}

		lead := index.Key[0].Field
		if _, ok := filterFields[lead]; ok {
			return true
		}

		if len(sortFields) > 0 && sortFields[0] == lead {
			return true
		}
	}

	return false
}

// noInexactValues reports whether every field has its index of inexact rows (so the collection's
// indexes are sort-key indexes) and that index is empty.
func noInexactValues(ctx context.Context, tx *fsql.Tx, tableName string, fields []string) (bool, error) {
	for _, field := range fields {
		name := metadata.InexactIndexName(tableName, field)

		var exists bool
		q := `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?)`
		if err := tx.QueryRowContext(ctx, q, name).Scan(&exists); err != nil {
			return false, err
		}

		if !exists {
			return false, nil
		}

		var inexact bool
		q = fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %q INDEXED BY %q WHERE %s)`, tableName, name, metadata.InexactCondition(field))
		if err := tx.QueryRowContext(ctx, q).Scan(&inexact); err != nil {
			return false, err
		}

		if inexact {
			return false, nil
		}
	}

	return true, nil
}

// queryLimited reads `limit` rows in sort-key order and reports whether no two of them tie on the
// sort key, so that any sort of all matches starts with these.
func queryLimited(ctx context.Context, tx *fsql.Tx, table, comment string, p *pushdown, orderBy []string, keys int, limit int64) ([]*types.Document, bool, error) {
	selectKeys := ""
	if keys > 0 {
		cols := make([]string, keys)
		for i := range cols {
			cols[i] = strings.TrimSuffix(strings.TrimSuffix(orderBy[i], " ASC"), " DESC")
		}

		selectKeys = ", " + strings.Join(cols, ", ")
	}

	q := strings.Replace(prepareSelectClause(table, comment, false, false), " FROM ", selectKeys+" FROM ", 1)
	if len(p.where) > 0 {
		q += " WHERE " + strings.Join(p.where, " AND ")
	}

	q += " ORDER BY " + strings.Join(orderBy, ", ") + " LIMIT ?"

	args := append(append([]any{}, p.args...), limit)

	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()

	var docs []*types.Document
	var previous []any

	for rows.Next() {
		var raw string
		current := make([]any, keys)
		dest := []any{&raw}

		for i := range current {
			dest = append(dest, &current[i])
		}

		if err = rows.Scan(dest...); err != nil {
			return nil, false, err
		}

		if previous != nil && keys > 0 && sameKeys(previous, current) {
			return nil, false, nil
		}

		previous = current

		doc, err := unmarshalRow(raw)
		if err != nil {
			return nil, false, err
		}

		docs = append(docs, doc)
	}

	return docs, true, rows.Err()
}

// sameKeys compares sort keys as SQLite does: numbers by value, text and blobs by bytes.
func sameKeys(a, b []any) bool {
	for i := range a {
		if !sameKey(a[i], b[i]) {
			return false
		}
	}

	return true
}

func sameKey(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case int64:
		switch b := b.(type) {
		case int64:
			return a == b
		case float64:
			return float64(a) == b && b >= -(1<<63) && b < 1<<63 && int64(b) == a
		}
	case float64:
		switch b := b.(type) {
		case float64:
			return a == b
		case int64:
			return sameKey(b, a)
		}
	case string:
		switch b := b.(type) {
		case string:
			return a == b
		case []byte:
			return false
		}
	case []byte:
		if b, ok := b.([]byte); ok {
			return bytes.Equal(a, b)
		}
	}

	return false
}

// queryDocuments reads all rows of a query.
func queryDocuments(ctx context.Context, tx *fsql.Tx, q string, args []any) ([]*types.Document, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	var docs []*types.Document

	for rows.Next() {
		var raw string
		if err = rows.Scan(&raw); err != nil {
			return nil, err
		}

		doc, err := unmarshalRow(raw)
		if err != nil {
			return nil, err
		}

		docs = append(docs, doc)
	}

	return docs, rows.Err()
}

func unmarshalRow(raw string) (*types.Document, error) {
	return sjson.Unmarshal([]byte(raw))
}

func newSliceIterator(docs []*types.Document) types.DocumentsIterator {
	return iterator.Values(iterator.ForSlice(docs))
}
