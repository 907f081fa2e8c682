// Hookflow's addition to FerretDB v1.24.2 (copied in by src/dev/tools.ts).

package fsql

import (
	"context"
	"database/sql"

	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// InReadTransaction runs f in a read-only transaction: a plain (deferred) BEGIN, whose snapshot holds
// from its first read to the end, and which takes no write lock where the pool's transactions begin
// IMMEDIATE (the launcher's `_txlock=immediate`), so that reads never wait for writers in WAL mode.
func (db *DB) InReadTransaction(ctx context.Context, f func(*Tx) error) error {
	sqlTx, err := db.sqlDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return lazyerrors.Error(err)
	}

	tx := wrapTx(sqlTx, db.l)

	if err = f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}

	return tx.Commit()
}
