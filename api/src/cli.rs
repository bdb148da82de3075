//! The command line: flags and environment variables, documented in `--help`.
//!
//! [`run`] takes its arguments and output streams from the caller, so tests
//! drive the real command in-process and read exactly what a user would see.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use domain::sourcing::{MaxShipments, SearchBudget, SplitPolicy};
use domain::synth::{LineCount, NetworkSpec, generate_network, generate_orders};
use infra::batch::{self, BatchOrder};
use infra::db::{self as database, DatabaseSettings};
use infra::store::Store;

use crate::simulate::{self, Format};

/// Exit code for input the command cannot use (bad flags, bad files).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when writing results fails.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(name = "shipmix", version, about = "GraphQL fulfillment gateway for multi-warehouse 3PL networks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum PolicyArg {
    ShipAvailable,
    ShipComplete,
}

impl From<PolicyArg> for SplitPolicy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::ShipAvailable => SplitPolicy::ShipAvailable,
            PolicyArg::ShipComplete => SplitPolicy::ShipComplete,
        }
    }
}

/// Where the database is: `DATABASE_URL` (Postgres) or, by default, a
/// SQLite file under the data directory.
#[derive(Debug, Clone, clap::Args)]
struct DatabaseArgs {
    /// Directory for the embedded SQLite database (created if missing).
    #[arg(long, value_name = "DIR", env = "SHIPMIX_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// `postgres://user@host/db` (or `sqlite://…`); overrides --data-dir.
    #[arg(long, value_name = "URL", env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Database connection pool size.
    #[arg(long, value_name = "N", env = "SHIPMIX_DB_POOL", default_value_t = 16)]
    db_pool: u32,
}

impl DatabaseArgs {
    fn settings(&self) -> Result<DatabaseSettings, String> {
        match &self.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(DatabaseSettings { url: url.clone(), max_connections: self.db_pool })
            }
            Some(url) if url.starts_with("sqlite:") => Ok(DatabaseSettings { url: url.clone(), max_connections: 4 }),
            Some(url) => Err(format!("DATABASE_URL must start with postgres:// or sqlite:, got {url:?}")),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .map_err(|e| format!("cannot create data directory {}: {e}", self.data_dir.display()))?;
                Ok(DatabaseSettings::sqlite_in(&self.data_dir))
            }
        }
    }
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the GraphQL gateway.
    ///
    /// Without DATABASE_URL it runs on the embedded default: a SQLite file
    /// under --data-dir. The endpoint is /graphql (GraphiQL in a browser);
    /// /healthz and /readyz report liveness and database readiness.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", env = "SHIPMIX_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Log lines as text for people or as JSON objects for collectors.
        #[arg(long, value_enum, env = "SHIPMIX_LOG_FORMAT", default_value = "text")]
        log_format: LogFormat,
        #[command(flatten)]
        database: DatabaseArgs,
        /// Redis for the shared stock cache; an in-process cache when unset.
        #[arg(long, value_name = "URL", env = "REDIS_URL")]
        redis_url: Option<String>,
        /// Seconds a cached availability entry may serve reads.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_CACHE_TTL", default_value_t = 30)]
        cache_ttl: u64,
        /// Load the demo network into an empty database (a database that
        /// holds a network is left as it is).
        #[arg(long)]
        demo: bool,
        /// Do not apply pending migrations on start.
        #[arg(long)]
        no_migrate: bool,
        /// Largest request body accepted, in bytes.
        #[arg(long, value_name = "BYTES", env = "SHIPMIX_MAX_BODY_BYTES", default_value_t = crate::server::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Largest response body, in bytes; a larger answer is refused with
        /// RESPONSE_TOO_LARGE.
        #[arg(long, value_name = "BYTES", env = "SHIPMIX_MAX_RESPONSE_BYTES", default_value_t = crate::server::DEFAULT_MAX_RESPONSE_BYTES)]
        max_response_bytes: usize,
        /// HTTP worker threads.
        #[arg(long, value_name = "N", env = "SHIPMIX_WORKERS", default_value_t = 2)]
        workers: usize,
        /// Seconds a client has to send its request headers.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_HEADER_TIMEOUT", default_value_t = 5)]
        header_timeout: u64,
        /// Seconds a client has to send its request body once the headers are in.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_BODY_TIMEOUT", default_value_t = 10)]
        body_timeout: u64,
        /// Seconds an idle keep-alive connection stays open.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_KEEP_ALIVE", default_value_t = 5)]
        keep_alive: u64,
        /// Open connections per worker thread; more wait in the listen backlog.
        #[arg(long, value_name = "N", env = "SHIPMIX_MAX_CONNECTIONS", default_value_t = 1024)]
        max_connections: usize,
        /// Search nodes per plan before settling for an unproven plan.
        #[arg(long, value_name = "NODES", env = "SHIPMIX_SEARCH_BUDGET", default_value_t = SearchBudget::default().node_limit())]
        search_budget: u64,
        /// Milliseconds all the searches of one request may take together;
        /// past it, each answers its best plan so far (optimal: false).
        #[arg(long, value_name = "MS", env = "SHIPMIX_PLAN_TIME_BUDGET_MS", default_value_t = 1000)]
        plan_time_budget_ms: u64,
        /// Plans searched at once, off the HTTP workers (default: every core but one).
        #[arg(long, value_name = "N", env = "SHIPMIX_PLANNING_THREADS")]
        planning_threads: Option<usize>,
        /// Seconds a quote's plan token stays redeemable.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_PLAN_TOKEN_TTL", default_value_t = 900)]
        plan_token_ttl: u64,
        /// Answer introspection and serve GraphiQL without a key (every
        /// other request still needs one). On with --demo.
        #[arg(long, env = "SHIPMIX_PUBLIC_INTROSPECTION")]
        public_introspection: bool,
        /// Seconds a replica trusts what it read of an API key: a revoked key
        /// is refused everywhere within this.
        #[arg(long, value_name = "SECS", env = "SHIPMIX_KEY_TTL", default_value_t = 2)]
        key_ttl: u64,
        /// A role's cost bucket, ROLE=SIZE/PER_SECOND (points), or ROLE=off
        /// for no limit; repeat per role. Defaults: STOREFRONT, PARTNER and
        /// AGENT 200000/10000, ADMIN off.
        #[arg(long, value_name = "ROLE=SIZE/RATE", value_parser = parse_rate_limit, env = "SHIPMIX_RATE_LIMITS", value_delimiter = ',')]
        rate_limit: Vec<(domain::access::Role, Option<domain::access::BucketSize>)>,
        /// A browser origin allowed to call /graphql (CORS), e.g.
        /// https://shop.example.com, or * for any; repeat per origin. None by default.
        #[arg(long, value_name = "ORIGIN", env = "SHIPMIX_CORS_ORIGINS", value_delimiter = ',')]
        cors_origin: Vec<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Translate row numbers (as the tables hold them) into the ids clients
    /// see, or back with --decode: one per argument, or per line of stdin.
    Ids {
        #[arg(long, value_enum, ignore_case = true)]
        kind: IdKindArg,
        /// Read public ids and print row numbers.
        #[arg(long)]
        decode: bool,
        values: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Count every backorder queue's rank tree again from its backorders
    /// and exit: after backorders were written to the database by hand or
    /// by an import, before queue positions are read.
    RecountQueues {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Load a network file (the simulate format) into the database.
    ///
    /// Warehouses are upserted by code; skus the catalog lacks are created
    /// with the sku as name and a zero price; every stock row becomes an
    /// absolute level (onHand = available).
    Import {
        /// Network file: {"warehouses": [...], "stock": [...]}.
        #[arg(long, value_name = "FILE")]
        network: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Plan a batch of orders offline and print each plan and a summary.
    ///
    /// Orders are planned independently against the network's stock unless
    /// --sequential consumes stock order by order. The summary compares the
    /// optimizer with two greedy baselines on the same orders.
    Simulate {
        /// Network file: {"warehouses": [...], "stock": [...]}.
        #[arg(long, value_name = "FILE")]
        network: PathBuf,
        /// Orders file: {"orders": [...]} (a combined file works for both).
        #[arg(long, value_name = "FILE")]
        orders: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// Take each plan's units out of stock before planning the next order.
        #[arg(long)]
        sequential: bool,
        /// Plan every order under this policy, whatever the file says.
        #[arg(long, value_enum, ignore_case = true)]
        policy: Option<PolicyArg>,
        /// Cap every order at this many shipments, whatever the file says.
        #[arg(long, value_name = "K", value_parser = parse_max_shipments)]
        max_shipments: Option<MaxShipments>,
        /// Search nodes per order before settling for an unproven plan.
        #[arg(long, value_name = "NODES", env = "SHIPMIX_SEARCH_BUDGET", default_value_t = SearchBudget::default().node_limit())]
        search_budget: u64,
        /// Explain each plan (runs the engine a few more times per order).
        #[arg(long)]
        explain: bool,
    },
    /// Write a seeded, realistic network and orders in the batch format.
    ///
    /// Warehouses sit in real metro areas, sku popularity is Zipf-distributed
    /// and most orders are small: data to try policies and benchmarks on.
    Generate {
        /// Number of warehouses.
        #[arg(long, default_value_t = 100)]
        warehouses: usize,
        /// Number of skus in the catalog.
        #[arg(long, default_value_t = 5000)]
        skus: usize,
        /// Number of orders.
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        /// Lines per order; realistic (mostly 1-3, up to 20) when omitted.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=200))]
        lines: Option<u16>,
        /// Seed; the same seed always writes the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the network.
        #[arg(long, value_name = "FILE")]
        network_out: PathBuf,
        /// Where to write the orders.
        #[arg(long, value_name = "FILE")]
        orders_out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum IdKindArg {
    Order,
    Line,
    Shipment,
    Backorder,
    Substitution,
}

impl From<IdKindArg> for infra::secrets::IdKind {
    fn from(kind: IdKindArg) -> Self {
        use infra::secrets::IdKind;
        match kind {
            IdKindArg::Order => IdKind::Order,
            IdKindArg::Line => IdKind::Line,
            IdKindArg::Shipment => IdKind::Shipment,
            IdKindArg::Backorder => IdKind::Backorder,
            IdKindArg::Substitution => IdKind::Substitution,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key and print its secret (shown this once; only a hash is kept).
    Create {
        /// STOREFRONT, PARTNER, AGENT or ADMIN.
        #[arg(long, value_parser = parse_role)]
        role: domain::access::Role,
        /// The partner a PARTNER key is bound to.
        #[arg(long, value_name = "CODE")]
        partner: Option<String>,
        /// Who holds it; order timelines and the stock audit trail say it.
        #[arg(long, value_name = "TEXT", default_value = "unnamed key")]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List every key (never a secret).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a key by id: refused by every replica within --key-ttl.
    Revoke {
        id: i64,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl KeysAction {
    fn database(&self) -> &DatabaseArgs {
        match self {
            KeysAction::Create { database, .. }
            | KeysAction::List { database }
            | KeysAction::Revoke { database, .. } => database,
        }
    }
}

/// The deployment's fulfillment policy (readable as `fulfillmentPolicy`).
#[derive(Debug, clap::Args)]
struct PolicyArgs {
    /// Charge per package after the first (e.g. 4.95); unset: the merchant
    /// absorbs extra packages.
    #[arg(long, value_name = "AMOUNT", env = "SHIPMIX_PARTIAL_SHIPMENT_CHARGE")]
    partial_shipment_charge: Option<rust_decimal::Decimal>,
    /// Days a backorder may wait before it is overdue (BACKORDER_OVERDUE).
    #[arg(long, value_name = "DAYS", env = "SHIPMIX_MAX_BACKORDER_DAYS")]
    max_backorder_days: Option<u32>,
    /// Cancel overdue backorders instead of only flagging them.
    #[arg(long, env = "SHIPMIX_CANCEL_OVERDUE")]
    cancel_overdue: bool,
    /// Hours a backorder may await the shopper's confirmation before it expires.
    #[arg(long, value_name = "HOURS", env = "SHIPMIX_CONFIRMATION_WINDOW_HOURS")]
    confirmation_window_hours: Option<u32>,
    /// Percent of the delayed units' value credited once when a backorder's
    /// estimate slips past --delay-compensation-after-days.
    #[arg(long, value_name = "PERCENT", env = "SHIPMIX_DELAY_COMPENSATION_PERCENT")]
    delay_compensation_percent: Option<rust_decimal::Decimal>,
    #[arg(long, value_name = "DAYS", env = "SHIPMIX_DELAY_COMPENSATION_AFTER_DAYS", default_value_t = 3)]
    delay_compensation_after_days: u32,
    /// Seconds between the backorder worker's passes.
    #[arg(long, value_name = "SECS", env = "SHIPMIX_MAINTENANCE_INTERVAL", default_value_t = 60)]
    maintenance_interval: u64,
}

impl PolicyArgs {
    fn policy(&self) -> Result<domain::policy::FulfillmentPolicy, String> {
        use domain::policy::{DelayCompensation, FulfillmentPolicy, PartialShipmentCharge};
        const HOUR_MS: i64 = 3_600_000;
        FulfillmentPolicy {
            partial_shipment_charge: self.partial_shipment_charge.map_or(PartialShipmentCharge::Absorb, |c| {
                PartialShipmentCharge::PerExtraPackage(domain::Money::new(c))
            }),
            max_backorder_ms: self.max_backorder_days.map(|d| i64::from(d) * 24 * HOUR_MS),
            cancel_overdue: self.cancel_overdue,
            unconfirmed_expiry_ms: self.confirmation_window_hours.map(|h| i64::from(h) * HOUR_MS),
            delay_compensation: self
                .delay_compensation_percent
                .map(|percent| DelayCompensation { threshold_days: self.delay_compensation_after_days, percent }),
        }
        .validate()
        .map_err(|e| e.to_string())
    }
}

fn parse_role(value: &str) -> Result<domain::access::Role, String> {
    value.trim().parse().map_err(|e: domain::access::UnknownRole| e.to_string())
}

fn parse_rate_limit(value: &str) -> Result<(domain::access::Role, Option<domain::access::BucketSize>), String> {
    let (role, bucket) = value.split_once('=').ok_or_else(|| format!("{value:?} is not ROLE=SIZE/PER_SECOND"))?;
    let role = parse_role(role)?;
    if bucket.trim().eq_ignore_ascii_case("off") {
        return Ok((role, None));
    }
    let (size, rate) = bucket.split_once('/').ok_or_else(|| format!("{value:?} is not ROLE=SIZE/PER_SECOND"))?;
    let number = |n: &str| n.trim().parse::<u64>().ok().filter(|n| (1..=1_000_000_000_000).contains(n));
    match (number(size), number(rate)) {
        (Some(size), Some(per_second)) => Ok((role, Some(domain::access::BucketSize { size, per_second }))),
        _ => Err(format!("{value:?}: the size and the rate are whole numbers from 1 to 10^12")),
    }
}

fn parse_max_shipments(value: &str) -> Result<MaxShipments, String> {
    let k: i64 = value.parse().map_err(|_| format!("{value:?} is not a whole number"))?;
    MaxShipments::new(k).map_err(|e| e.to_string())
}

/// Runs the command line; returns the process exit code.
pub fn run<I, T>(args: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let rendered = e.render().to_string();
            let _ = if e.use_stderr() {
                stderr.write_all(rendered.as_bytes())
            } else {
                stdout.write_all(rendered.as_bytes())
            };
            return code;
        }
    };
    match cli.command {
        Command::Serve {
            listen,
            log_format,
            database,
            redis_url,
            cache_ttl,
            demo,
            no_migrate,
            max_body_bytes,
            max_response_bytes,
            workers,
            header_timeout,
            body_timeout,
            keep_alive,
            max_connections,
            search_budget,
            plan_time_budget_ms,
            planning_threads,
            plan_token_ttl,
            public_introspection,
            key_ttl,
            rate_limit,
            cors_origin,
            policy,
        } => {
            let mut rate_limits = crate::throttle::RateLimits::default();
            for (role, bucket) in rate_limit {
                rate_limits.set(role, bucket);
            }
            let database = match database.settings() {
                Ok(d) => d,
                Err(e) => return bad_input(stderr, &e),
            };
            let maintenance_interval = std::time::Duration::from_secs(policy.maintenance_interval.max(1));
            let policy = match policy.policy() {
                Ok(p) => p,
                Err(e) => return bad_input(stderr, &e),
            };
            let settings = crate::server::ServeSettings {
                listen,
                database,
                cache: infra::cache::CacheSettings {
                    redis_url: redis_url.filter(|u| !u.is_empty()),
                    ttl: std::time::Duration::from_secs(cache_ttl.max(1)),
                    ..Default::default()
                },
                migrate: !no_migrate,
                demo,
                http: crate::server::HttpLimits {
                    workers,
                    max_body_bytes,
                    max_response_bytes,
                    header_timeout: std::time::Duration::from_secs(header_timeout.max(1)),
                    body_timeout: std::time::Duration::from_secs(body_timeout.max(1)),
                    keep_alive: std::time::Duration::from_secs(keep_alive),
                    max_connections,
                },
                gateway: crate::state::GatewaySettings {
                    search_budget: SearchBudget::nodes(search_budget),
                    plan_time_budget: std::time::Duration::from_millis(plan_time_budget_ms),
                    planning_threads: planning_threads.unwrap_or_else(crate::planning::default_threads),
                    plan_token_ttl: std::time::Duration::from_secs(plan_token_ttl),
                    policy,
                    maintenance_interval,
                    key_ttl: std::time::Duration::from_secs(key_ttl),
                    public_introspection: public_introspection || demo,
                    rate_limits,
                    cors_origins: cors_origin,
                    ..Default::default()
                },
            };
            // Held until the server stops: dropping it flushes the traces.
            let _telemetry = match init_telemetry(log_format) {
                Ok(guard) => guard,
                Err(e) => return bad_input(stderr, &format!("telemetry: {e:#}")),
            };
            block_on(stderr, async {
                let app = crate::server::Application::build(&settings).await?;
                let _ = writeln!(stdout, "shipmix listening on {} (GraphiQL in a browser)", app.url());
                if settings.demo {
                    for (name, _, _, secret) in crate::demo::KEYS {
                        let _ = writeln!(stdout, "  {name:<22} Authorization: Bearer {secret}");
                    }
                }
                let _ = stdout.flush();
                app.run_until_stopped().await?;
                Ok(())
            })
        }
        Command::Ids { kind, decode, values, database } => {
            let database = match database.settings() {
                Ok(d) => d,
                Err(e) => return bad_input(stderr, &e),
            };
            let values = if values.is_empty() {
                std::io::stdin().lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).collect()
            } else {
                values
            };
            let mut refused = None;
            let code = block_on(stderr, async {
                let connection = database::connect(&database).await?;
                database::migrate(&connection).await?;
                let secrets = infra::secrets::Secrets::load(&Store::new(connection)).await?;
                for value in &values {
                    let value = value.trim();
                    let out = if decode {
                        match secrets.row_id(kind.into(), value) {
                            Ok(Some(row)) => row.to_string(),
                            _ => {
                                refused = Some(format!("{value:?} is not an id of this kind"));
                                break;
                            }
                        }
                    } else {
                        match value.parse::<i64>() {
                            Ok(row) if row > 0 => secrets.public_id(kind.into(), row),
                            _ => {
                                refused = Some(format!("{value:?} is not a row number"));
                                break;
                            }
                        }
                    };
                    writeln!(stdout, "{out}")?;
                }
                Ok(())
            });
            match refused {
                Some(message) => bad_input(stderr, &message),
                None => code,
            }
        }
        Command::Keys { action } => {
            let database = match action.database().settings() {
                Ok(d) => d,
                Err(e) => return bad_input(stderr, &e),
            };
            let mut refused = None;
            let code = block_on(stderr, async {
                let connection = database::connect(&database).await?;
                database::migrate(&connection).await?;
                let store = Store::new(connection);
                match keys(&store, action, stdout).await {
                    Ok(()) => {}
                    Err(crate::error::ApiError::User(e)) => refused = Some(e.message),
                    Err(e) => return Err(anyhow::Error::new(e)),
                }
                Ok(())
            });
            match refused {
                Some(message) => bad_input(stderr, &message),
                None => code,
            }
        }
        Command::Migrate { database } => on_migrated(database, stderr, async move |_| {
            let _ = writeln!(stdout, "migrations applied");
            Ok(())
        }),
        Command::RecountQueues { database } => on_migrated(database, stderr, async move |store| {
            let queues = store.recount_queues().await?;
            let _ = writeln!(stdout, "recounted {queues} queues");
            Ok(())
        }),
        Command::Import { network, database } => {
            // Validate the file before touching the database.
            if let Err(e) = batch::read_network(&network) {
                return bad_input(stderr, &e.to_string());
            }
            on_migrated(database, stderr, async move |store| {
                let done = crate::import::import_network(&store, &network).await?;
                let _ = writeln!(
                    stdout,
                    "imported {} warehouses, {} stock levels ({} new products)",
                    done.warehouses, done.levels, done.new_products
                );
                Ok(())
            })
        }
        Command::Simulate { network, orders, format, sequential, policy, max_shipments, search_budget, explain } => {
            let options = simulate::Options {
                network,
                orders,
                format,
                sequential,
                policy: policy.map(Into::into),
                max_shipments,
                budget: SearchBudget::nodes(search_budget),
                explain,
                progress: true,
            };
            match simulate::run(&options) {
                Ok(report) => write_out(stdout, stderr, report.as_bytes()),
                Err(e) => {
                    let _ = writeln!(stderr, "error: {e}");
                    EXIT_BAD_INPUT
                }
            }
        }
        Command::Generate { warehouses, skus, orders, lines, seed, network_out, orders_out } => {
            let spec = NetworkSpec { warehouses, skus, seed };
            let net = generate_network(spec);
            let lines = lines.map_or(LineCount::Realistic, |n| LineCount::Exactly(n.into()));
            let generated: Vec<BatchOrder> = generate_orders(&net, orders, lines, seed)
                .into_iter()
                .map(|o| BatchOrder { id: o.id, request: o.request })
                .collect();
            let mut network_json = batch::network_to_json(&net.network, &net.names, &net.skus);
            network_json.push('\n');
            let mut orders_json = batch::orders_to_json(&generated);
            orders_json.push('\n');
            for (path, text) in [(&network_out, network_json), (&orders_out, orders_json)] {
                if let Err(e) = std::fs::write(path, text) {
                    let _ = writeln!(stderr, "error: {}: cannot write: {e}", path.display());
                    return EXIT_FAILURE;
                }
            }
            let _ = writeln!(
                stdout,
                "wrote {} warehouses and {} stocked skus to {}, {} orders to {}",
                net.network.warehouses().len(),
                net.network.sku_count(),
                network_out.display(),
                orders,
                orders_out.display()
            );
            0
        }
    }
}

/// `shipmix keys …`: the same use cases as the GraphQL key mutations.
async fn keys(store: &Store, action: KeysAction, stdout: &mut dyn Write) -> Result<(), crate::error::ApiError> {
    let internal = |e: std::io::Error| crate::error::ApiError::Internal(e.into());
    match action {
        KeysAction::Create { role, partner, name, .. } => {
            let created = crate::operations::create_key(store, &name, role, partner.as_deref()).await?;
            let record = &created.record;
            writeln!(
                stdout,
                "created key {} ({}, {:?}); its secret, shown this once:",
                record.id,
                record.grant.role(),
                record.name
            )
            .map_err(internal)?;
            writeln!(stdout, "{}", created.secret).map_err(internal)?;
        }
        KeysAction::List { .. } => {
            writeln!(
                stdout,
                "{:>5}  {:<10}  {:<12}  {:<24}  {:<10}  {:<24}  name",
                "id", "role", "partner", "created", "state", "last used"
            )
            .map_err(internal)?;
            for key in store.keys().await? {
                let when = |ms: Option<i64>| {
                    ms.and_then(chrono::DateTime::from_timestamp_millis)
                        .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                };
                writeln!(
                    stdout,
                    "{:>5}  {:<10}  {:<12}  {:<24}  {:<10}  {:<24}  {}",
                    key.id,
                    key.grant.role(),
                    key.grant.partner().unwrap_or("-"),
                    when(Some(key.created_at_ms)),
                    if key.revoked_at_ms.is_some() { "revoked" } else { "active" },
                    when(key.last_used_at_ms),
                    key.name
                )
                .map_err(internal)?;
            }
        }
        KeysAction::Revoke { id, .. } => {
            let key = store.revoke_key(id).await?;
            writeln!(stdout, "revoked key {} ({:?}); every replica refuses it within its key TTL", key.id, key.name)
                .map_err(internal)?;
        }
    }
    Ok(())
}

fn bad_input(stderr: &mut dyn Write, message: &str) -> u8 {
    let _ = writeln!(stderr, "error: {message}");
    EXIT_BAD_INPUT
}

/// Runs an async command on a fresh runtime; errors are reported with their
/// causes and exit 1.
/// Runs `work` on a store of the configured database once its migrations
/// are applied.
fn on_migrated(
    database: DatabaseArgs,
    stderr: &mut dyn Write,
    work: impl AsyncFnOnce(Store) -> anyhow::Result<()>,
) -> u8 {
    let database = match database.settings() {
        Ok(d) => d,
        Err(e) => return bad_input(stderr, &e),
    };
    block_on(stderr, async {
        let connection = database::connect(&database).await?;
        database::migrate(&connection).await?;
        work(Store::new(connection)).await
    })
}

fn block_on(stderr: &mut dyn Write, work: impl std::future::Future<Output = anyhow::Result<()>>) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot start the runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e:#}");
            EXIT_FAILURE
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object per line: time, level, message, fields and the
    /// spans it is in (a request's id among them).
    Json,
}

/// Logs to stderr (`RUST_LOG` filters, default `info`), and traces over
/// OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; the guard flushes them.
fn init_telemetry(format: LogFormat) -> anyhow::Result<infra::telemetry::TelemetryGuard> {
    let style = match format {
        LogFormat::Text => infra::telemetry::LogStyle::Text,
        LogFormat::Json => infra::telemetry::LogStyle::Json,
    };
    infra::telemetry::init(&infra::telemetry::TelemetrySettings::from_env(style))
}

fn write_out(stdout: &mut dyn Write, stderr: &mut dyn Write, bytes: &[u8]) -> u8 {
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot write output: {e}");
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_logs_are_one_object_a_line_with_the_request_id() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = infra::telemetry::subscriber(infra::telemetry::LogStyle::Json, move || writer.clone(), None);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1");
            let _entered = span.enter();
            tracing::info!(order_id = 7, "order placed");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().expect("a line")).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "order placed");
        assert_eq!(line["fields"]["order_id"], 7);
        assert_eq!(line["span"]["request_id"], "r-1");
    }
}
