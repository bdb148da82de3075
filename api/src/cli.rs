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

use crate::simulate::{self, Format};

/// Exit code for input the command cannot use (bad flags, bad files).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when writing results fails.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "shipmix",
    version,
    about = "GraphQL fulfillment gateway for multi-warehouse 3PL networks"
)]
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

#[derive(Debug, Subcommand)]
enum Command {
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

fn parse_max_shipments(value: &str) -> Result<MaxShipments, String> {
    let k: i64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))?;
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
        Command::Simulate {
            network,
            orders,
            format,
            sequential,
            policy,
            max_shipments,
            search_budget,
            explain,
        } => {
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
        Command::Generate {
            warehouses,
            skus,
            orders,
            lines,
            seed,
            network_out,
            orders_out,
        } => {
            let spec = NetworkSpec {
                warehouses,
                skus,
                seed,
            };
            let net = generate_network(spec);
            let lines = lines.map_or(LineCount::Realistic, |n| LineCount::Exactly(n.into()));
            let generated: Vec<BatchOrder> = generate_orders(&net, orders, lines, seed)
                .into_iter()
                .map(|o| BatchOrder {
                    id: o.id,
                    request: o.request,
                })
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

fn write_out(stdout: &mut dyn Write, stderr: &mut dyn Write, bytes: &[u8]) -> u8 {
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot write output: {e}");
            EXIT_FAILURE
        }
    }
}
