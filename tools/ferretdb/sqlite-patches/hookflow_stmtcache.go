// Hookflow: a cache of prepared statements per SQLite connection.
//
// The driver compiles every statement again on each use: its stmt keeps only the SQL text, and each
// exec or query calls sqlite3_prepare_v2 and then sqlite3_finalize. FerretDB sends the same few
// statements over and over (an update of one document by _id, an insert, a find by _id), and with
// the expression indexes of its collections compiling one costs more than running it: in a profile
// of Hookflow's bench, sqlite3Prepare and the reallocations it makes took about 40 % of FerretDB's CPU.
//
// Here prepareV2 keeps each statement it compiles, keyed by its SQL text, and finalize resets a kept
// statement (sqlite3_reset, sqlite3_clear_bindings) instead of destroying it, so that the next use of
// the same text on the same connection skips the compiler. A statement is handed to one user at a time:
// a text whose statement is still in use (rows open) is compiled afresh and not kept. Statements
// compiled with sqlite3_prepare_v2 recompile themselves when the schema changes. Close finalizes them.
package sqlite

import (
	"sync"

	"modernc.org/libc"

	sqlite3 "modernc.org/sqlite/lib"
)

// hookflowStmtCacheSize bounds the statements kept per connection; the least recently used idle one
// makes room for a new text.
const hookflowStmtCacheSize = 128

type hookflowCachedStmt struct {
	pstmt uintptr
	text  string
	// tail is how many bytes of the text this statement consumed (a text may hold several statements).
	tail uintptr
	busy bool
	used uint64
}

type hookflowStmtCache struct {
	mu     sync.Mutex
	byText map[string]*hookflowCachedStmt
	byStmt map[uintptr]*hookflowCachedStmt
	clock  uint64
}

func (c *conn) prepareV2(zSQL *uintptr) (uintptr, error) {
	cache := &c.hookflowStmts
	start := *zSQL
	text := libc.GoString(start)

	cache.mu.Lock()
	if kept := cache.byText[text]; kept != nil && !kept.busy {
		kept.busy = true
		cache.clock++
		kept.used = cache.clock
		cache.mu.Unlock()
		*zSQL = start + kept.tail
		return kept.pstmt, nil
	}
	inUse := cache.byText[text] != nil
	cache.mu.Unlock()

	pstmt, err := c.hookflowPrepareV2Uncached(zSQL)
	if err != nil || pstmt == 0 || inUse {
		return pstmt, err
	}

	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.byText == nil {
		cache.byText = map[string]*hookflowCachedStmt{}
		cache.byStmt = map[uintptr]*hookflowCachedStmt{}
	}
	if len(cache.byText) >= hookflowStmtCacheSize && !cache.evictOne(c) {
		return pstmt, nil
	}
	cache.clock++
	kept := &hookflowCachedStmt{pstmt: pstmt, text: text, tail: *zSQL - start, busy: true, used: cache.clock}
	cache.byText[text] = kept
	cache.byStmt[pstmt] = kept
	return pstmt, nil
}

// evictOne finalizes the least recently used idle statement; false if every kept one is in use.
func (cache *hookflowStmtCache) evictOne(c *conn) bool {
	var oldest *hookflowCachedStmt
	for _, kept := range cache.byText {
		if !kept.busy && (oldest == nil || kept.used < oldest.used) {
			oldest = kept
		}
	}
	if oldest == nil {
		return false
	}
	delete(cache.byText, oldest.text)
	delete(cache.byStmt, oldest.pstmt)
	_ = c.hookflowFinalizeUncached(oldest.pstmt)
	return true
}

func (c *conn) finalize(pstmt uintptr) error {
	cache := &c.hookflowStmts
	cache.mu.Lock()
	kept := cache.byStmt[pstmt]
	cache.mu.Unlock()
	if kept == nil {
		return c.hookflowFinalizeUncached(pstmt)
	}

	// The error of a failed step was returned by that step; reset repeats it, so it is not returned again.
	sqlite3.Xsqlite3_reset(c.tls, pstmt)
	sqlite3.Xsqlite3_clear_bindings(c.tls, pstmt)
	cache.mu.Lock()
	kept.busy = false
	cache.mu.Unlock()
	return nil
}

// hookflowCloseStmts finalizes every kept statement; Close calls it before closing the connection.
func (c *conn) hookflowCloseStmts() {
	cache := &c.hookflowStmts
	cache.mu.Lock()
	defer cache.mu.Unlock()
	for pstmt := range cache.byStmt {
		_ = c.hookflowFinalizeUncached(pstmt)
	}
	cache.byText = nil
	cache.byStmt = nil
}
