// Command ferretdb runs FerretDB v1 as an embedded library.
//
// The upstream `go install` of FerretDB's own command panics at start because
// build/version/version.txt is generated at release time and missing from the
// module. The embeddable package skips that check, so this tiny launcher is
// what Hookflow's dev stack runs as its MongoDB-protocol server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	sqliteDir := flag.String("sqlite-dir", "", "directory holding the SQLite databases (sqlite handler)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL (postgresql handler); wins over -sqlite-dir")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fail("bad -log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}, Logger: logger}
	switch {
	case *postgresURL != "":
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgresURL
	case *sqliteDir != "":
		dir, err := filepath.Abs(*sqliteDir)
		if err != nil {
			fail("bad -sqlite-dir: %v", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fail("cannot create -sqlite-dir: %v", err)
		}
		config.Handler = "sqlite"
		// FerretDB already sets WAL and a 10 s busy timeout. Immediate transactions take the write lock
		// up front, so concurrent writers wait for it instead of failing with SQLITE_BUSY on a lock
		// upgrade; synchronous=NORMAL is durable across a process crash in WAL mode and skips an fsync per commit.
		config.SQLiteURL = "file:" + dir + "/?_txlock=immediate&_pragma=synchronous(normal)"
	default:
		fail("one of -sqlite-dir or -postgresql-url is required")
	}

	db, err := ferretdb.New(config)
	if err != nil {
		fail("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// HOOKFLOW_FERRETDB_CPU_PROFILE=<file>: a Go CPU profile of the whole run, written when it stops
	// (`go tool pprof -top <file>`); the bench uses it to see where FerretDB's time goes.
	if file := os.Getenv("HOOKFLOW_FERRETDB_CPU_PROFILE"); file != "" {
		out, err := os.Create(file)
		if err != nil {
			fail("cannot create the CPU profile: %v", err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			fail("cannot start the CPU profile: %v", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = out.Close()
		}()
	}

	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()

	// The URI is only known once Run has bound the listener; callers wait for this line.
	fmt.Printf("ferretdb ready %s\n", db.MongoDBURI())

	if err := <-done; err != nil {
		pprof.StopCPUProfile()
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferretdb: "+format+"\n", args...)
	os.Exit(1)
}
