// Command temporal runs Temporal server v1.32.2 and its Web UI in one process, on SQLite.
//
// It replaces the Temporal CLI's dev server (v1.5.1, server v1.29.1) for Hookflow's embedded stack.
// That one keeps a single history shard and a single SQLite connection; since v1.32 the SQLite plugin
// honours several connections when the database is in WAL mode, so this launcher opens a few and
// spreads workflows over several shards. It takes the dev server's flags that Hookflow uses, so the
// stack starts either one the same way (src/dev/servers.ts).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

const clusterName = "active"

type options struct {
	ip               string
	port             int
	uiPort           int
	headless         bool
	namespaces       repeated
	dbFile           string
	pragmas          repeated
	searchAttributes repeated
	dynamicConfig    repeated
	logLevel         string
	historyShards    int
	sqliteConns      int
}

// repeated collects a flag given several times, as the dev server's flags are.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var o options
	flag.StringVar(&o.ip, "ip", "127.0.0.1", "IP address the frontend and the UI bind to")
	flag.IntVar(&o.port, "port", 7233, "frontend gRPC port")
	flag.IntVar(&o.uiPort, "ui-port", 0, "Web UI port (default: frontend port + 1000)")
	flag.BoolVar(&o.headless, "headless", false, "run without the Web UI")
	flag.Var(&o.namespaces, "namespace", "namespace to create (repeatable; default always exists)")
	flag.StringVar(&o.dbFile, "db-filename", "", "SQLite file; empty keeps everything in memory")
	flag.Var(&o.pragmas, "sqlite-pragma", "SQLite pragma name=value (repeatable)")
	flag.Var(&o.searchAttributes, "search-attribute", "custom search attribute name=Type (repeatable)")
	flag.Var(&o.dynamicConfig, "dynamic-config-value", "dynamic config key=JSON value (repeatable)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	flag.IntVar(&o.historyShards, "history-shards", 4, "history shards; fixed once a database file exists")
	flag.IntVar(&o.sqliteConns, "sqlite-max-conns", 4, "SQLite connections (several need journal_mode=WAL; in memory always 1)")
	flag.Parse()

	if o.uiPort == 0 {
		o.uiPort = o.port + 1000
	}
	server, err := buildServer(&o)
	if err != nil {
		fail("%v", err)
	}
	var ui *uiserver.Server
	if !o.headless {
		ui = buildUI(&o)
		// Start blocks while the UI serves; a failure to bind is fatal, as the dev server's is.
		go func() {
			if err := ui.Start(); err != nil {
				fail("web UI: %v", err)
			}
		}()
	}
	if err := server.Start(); err != nil {
		fail("%v", err)
	}
	fmt.Printf("temporal ready %s:%d\n", o.ip, o.port)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	if ui != nil {
		ui.Stop()
	}
	server.Stop()
}

func buildUI(o *options) *uiserver.Server {
	return uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                o.ip,
		Port:                o.uiPort,
		TemporalGRPCAddress: fmt.Sprintf("%s:%d", o.ip, o.port),
		EnableUI:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}))
}

func buildServer(o *options) (temporal.Server, error) {
	sqlConf, err := sqlConfig(o)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort(o.ip)
	if err != nil {
		return nil, err
	}
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.ip
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = int32(o.historyShards)
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             fmt.Sprintf("%s:%d", o.ip, o.port),
				HTTPAddress:            fmt.Sprintf("%s:%d", o.ip, httpPort),
				ClusterID:              primitives.NewUUID().String(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, name := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		var service config.Service
		service.RPC.BindOnIP = o.ip
		if name == primitives.FrontendService {
			service.RPC.GRPCPort = o.port
			service.RPC.HTTPPort = httpPort
		} else if service.RPC.GRPCPort, err = freePort(o.ip); err != nil {
			return nil, err
		}
		conf.Services[string(name)] = service
		hosts[name] = static.SingleLocalHost(fmt.Sprintf("%s:%d", o.ip, service.RPC.GRPCPort))
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = fmt.Sprintf("%s:%d", o.ip, o.port)

	dynamic := dynamicconfig.StaticClient{
		// The dev server's own choices: a larger mutable-state cache and more visibility queries a second.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	for _, kv := range o.dynamicConfig {
		key, raw, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("bad --dynamic-config-value %q: want key=JSON", kv)
		}
		var value any
		if err := json.Unmarshal([]byte(raw), &value); err != nil {
			return nil, fmt.Errorf("bad --dynamic-config-value %q: %v", kv, err)
		}
		dynamic[dynamicconfig.MakeKey(key)] = value
	}

	level := o.logLevel
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: level, Format: "console", OutputFile: ""}))
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, err
	}
	return temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamic),
	)
}

// sqlConfig creates the schema and the namespaces (with their search attributes) before the server
// starts, as the dev server does: the server itself expects both to exist.
func sqlConfig(o *options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName, MaxConns: 1, MaxIdleConns: 1}
	if o.dbFile == "" {
		// One shared-cache in-memory database; extra connections to it would only contend for its table locks.
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = strconv.Itoa(rand.Intn(9999999))
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = o.dbFile
		conf.MaxConns = o.sqliteConns
		conf.MaxIdleConns = o.sqliteConns
	}
	for _, kv := range o.pragmas {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("bad --sqlite-pragma %q: want name=value", kv)
		}
		conf.ConnectAttributes[name] = value
	}
	if o.dbFile != "" {
		if !strings.EqualFold(conf.ConnectAttributes["journal_mode"], "wal") {
			// Without WAL, SQLite allows one connection at a time and more only fail with "database is locked".
			conf.MaxConns, conf.MaxIdleConns = 1, 1
		}
		if _, err := os.Stat(o.dbFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(o.dbFile), 0o755); err != nil {
				return nil, err
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("setting up the schema: %w", err)
			}
		}
	}

	attributes := map[string]enumspb.IndexedValueType{}
	for _, kv := range o.searchAttributes {
		name, typeName, ok := strings.Cut(kv, "=")
		value, known := enumspb.IndexedValueType_shorthandValue[typeName]
		if !ok || !known {
			return nil, fmt.Errorf("bad --search-attribute %q: want name=Type (Keyword, KeywordList, Text, Int, Double, Bool, Datetime)", kv)
		}
		attributes[name] = enumspb.IndexedValueType(value)
	}
	names := append([]string{"default"}, o.namespaces...)
	var namespaces []*sqliteschema.NamespaceConfig
	for _, name := range names {
		ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, attributes)
		if err != nil {
			return nil, err
		}
		namespaces = append(namespaces, ns)
	}
	if err := sqliteschema.CreateNamespaces(conf, namespaces...); err != nil {
		return nil, fmt.Errorf("creating namespaces: %w", err)
	}
	return conf, nil
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "temporal: "+format+"\n", args...)
	os.Exit(1)
}
