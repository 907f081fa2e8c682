// Hookflow's addition to FerretDB v1.24.2's handler (copied in by src/dev/tools.ts).
//
// Upstream deletes in two steps: it reads and decodes every document the filter selects, filters them
// again in Go, and deletes the survivors by `_id`. For a filter that is only an `_id` equality or an
// `_id` $in of strings and ObjectIDs, the documents to delete are those ids, whatever they hold (an
// `_id` is never an array, and these types compare only with themselves), so the read is skipped and
// the ids go straight to the backend's delete. The count deleted is the rows the backend removed, which
// is what upstream counts. Retention deletes this way, 500 to 1000 documents a command.

package handler

import (
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// hookflowDeleteIDs returns the ids a delete removes when its filter names nothing but them.
func hookflowDeleteIDs(p *common.Delete) ([]any, bool) {
	if p.Limited || p.Filter.Len() != 1 || p.Filter.Keys()[0] != "_id" {
		return nil, false
	}

	values := []any{must.NotFail(p.Filter.Get("_id"))}

	if ops, ok := values[0].(*types.Document); ok {
		if ops.Len() != 1 {
			return nil, false
		}

		switch op := ops.Keys()[0]; op {
		case "$eq":
			values = []any{must.NotFail(ops.Get(op))}
		case "$in":
			arr, ok := must.NotFail(ops.Get(op)).(*types.Array)
			if !ok || arr.Len() == 0 {
				return nil, false
			}

			values = make([]any, 0, arr.Len())
			for i := 0; i < arr.Len(); i++ {
				values = append(values, must.NotFail(arr.Get(i)))
			}
		default:
			return nil, false
		}
	}

	for _, v := range values {
		switch v.(type) {
		case string, types.ObjectID:
		default:
			return nil, false
		}
	}

	return values, true
}
