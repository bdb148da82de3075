//! `shipmix simulate`: plans a batch of orders offline and summarizes what a
//! policy does to them, next to the greedy rules of thumb.
//!
//! Everything is read and validated before the first plan, and the whole
//! output is rendered before the first byte is written, so a bad file never
//! leaves half a report behind.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use domain::Money;
use domain::sourcing::{
    Baseline, FulfillmentPlan, MaxShipments, Release, SearchBudget, SplitPolicy, explain, plan_baseline,
    plan_fulfillment,
};
use indicatif::{ProgressBar, ProgressStyle};
use infra::batch::{self, BatchError, BatchNetwork, BatchOrder};
use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per order, then one summary object.
    Jsonl,
    /// A human-readable table and summary.
    Table,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub network: PathBuf,
    pub orders: PathBuf,
    pub format: Format,
    pub sequential: bool,
    pub policy: Option<SplitPolicy>,
    pub max_shipments: Option<MaxShipments>,
    pub budget: SearchBudget,
    pub explain: bool,
    pub progress: bool,
}

/// Batches at least this long get a progress bar (on a terminal).
const PROGRESS_FROM: usize = 2_000;

/// Runs a simulation and returns the rendered report.
pub fn run(options: &Options) -> Result<String, BatchError> {
    let BatchNetwork { network, .. } = batch::read_network(&options.network)?;
    let mut orders = batch::read_orders(&options.orders)?;
    if options.policy.is_some() || options.max_shipments.is_some() {
        for order in &mut orders {
            let policy = options.policy.unwrap_or(order.request.policy());
            let cap = options.max_shipments.or(order.request.max_shipments());
            order.request = order.request.with_policy(policy, cap);
        }
    }

    let bar = if options.progress && orders.len() >= PROGRESS_FROM {
        // Draws to stderr only when it is a terminal.
        let bar = ProgressBar::new(orders.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} planning {pos}/{len} orders [{bar:30}] {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut live = network.clone();
    let mut plans = Vec::with_capacity(orders.len());
    let mut times = Vec::with_capacity(orders.len());
    let mut explanations = Vec::new();
    for order in &orders {
        let against = if options.sequential { &live } else { &network };
        let started = Instant::now();
        let plan = plan_fulfillment(&order.request, against, options.budget.clone());
        times.push(started.elapsed());
        if options.explain {
            explanations.push(explain(&order.request, against, &plan, options.budget.clone()).to_string());
        }
        if options.sequential {
            live.commit(&plan);
        }
        plans.push(plan);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let baselines = Baseline::ALL.map(|baseline| {
        let mut live = network.clone();
        let mut tally = Tally::default();
        for order in &orders {
            let against = if options.sequential { &live } else { &network };
            let plan = plan_baseline(&order.request, against, baseline);
            if options.sequential {
                live.commit(&plan);
            }
            tally.add(&plan);
        }
        (baseline, tally)
    });
    let mut tally = Tally::default();
    plans.iter().for_each(|p| tally.add(p));
    let summary = Summary::new(&tally, &mut times, &baselines);
    Ok(match options.format {
        Format::Jsonl => render_jsonl(&orders, &plans, &explanations, &summary),
        Format::Table => render_table(&orders, &plans, &explanations, &summary),
    })
}

#[derive(Debug, Default, Clone)]
struct Tally {
    orders: u64,
    split: u64,
    shipments: u64,
    cost: Money,
    units_now: u64,
    units_backordered: u64,
    with_backorders: u64,
    proven: u64,
}

impl Tally {
    fn add(&mut self, plan: &FulfillmentPlan) {
        self.orders += 1;
        self.split += u64::from(plan.shipment_count() > 1);
        self.shipments += plan.shipment_count() as u64;
        self.cost = self.cost + plan.shipping_cost();
        self.units_now += plan.units_now();
        self.units_backordered += plan.units_backordered();
        self.with_backorders += u64::from(plan.units_backordered() > 0);
        self.proven += u64::from(plan.optimal());
    }

    fn ratio(&self, count: u64) -> f64 {
        if self.orders == 0 { 0.0 } else { round4(count as f64 / self.orders as f64) }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StrategySummary {
    split_rate: f64,
    mean_shipments: f64,
    total_shipping_cost: String,
    units_now: u64,
    units_backordered: u64,
}

impl From<&Tally> for StrategySummary {
    fn from(t: &Tally) -> Self {
        Self {
            split_rate: t.ratio(t.split),
            mean_shipments: t.ratio(t.shipments),
            total_shipping_cost: t.cost.to_string(),
            units_now: t.units_now,
            units_backordered: t.units_backordered,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Timing {
    p50: u64,
    p99: u64,
    max: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    orders: u64,
    split_rate: f64,
    mean_shipments: f64,
    total_shipping_cost: String,
    units_now: u64,
    units_backordered: u64,
    orders_with_backorders: u64,
    proven_optimal: f64,
    planning_micros: Timing,
    baselines: serde_json::Map<String, serde_json::Value>,
}

impl Summary {
    fn new(t: &Tally, times: &mut [Duration], baselines: &[(Baseline, Tally)]) -> Self {
        times.sort_unstable();
        let pct = |p: f64| {
            if times.is_empty() {
                return 0;
            }
            // Nearest-rank percentile.
            let rank = ((p * times.len() as f64).ceil() as usize).clamp(1, times.len());
            times[rank - 1].as_micros() as u64
        };
        Self {
            orders: t.orders,
            split_rate: t.ratio(t.split),
            mean_shipments: t.ratio(t.shipments),
            total_shipping_cost: t.cost.to_string(),
            units_now: t.units_now,
            units_backordered: t.units_backordered,
            orders_with_backorders: t.with_backorders,
            proven_optimal: t.ratio(t.proven),
            planning_micros: Timing { p50: pct(0.50), p99: pct(0.99), max: pct(1.0) },
            baselines: baselines
                .iter()
                .map(|(b, tally)| {
                    let value = serde_json::to_value(StrategySummary::from(tally)).expect("plain data");
                    (b.name().to_owned(), value)
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LineJson<'a> {
    sku: &'a str,
    quantity: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentJson<'a> {
    warehouse: &'a str,
    lines: Vec<LineJson<'a>>,
    cost: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanJson<'a> {
    id: &'a str,
    shipments: Vec<ShipmentJson<'a>>,
    backordered: Vec<LineJson<'a>>,
    shipment_count: usize,
    shipping_cost: String,
    optimal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a str>,
}

fn render_jsonl(
    orders: &[BatchOrder],
    plans: &[FulfillmentPlan],
    explanations: &[String],
    summary: &Summary,
) -> String {
    let mut out = String::new();
    for (i, (order, plan)) in orders.iter().zip(plans).enumerate() {
        let json = PlanJson {
            id: &order.id,
            shipments: plan
                .shipments()
                .iter()
                .map(|s| ShipmentJson {
                    warehouse: s.warehouse().as_str(),
                    lines: s
                        .lines()
                        .iter()
                        .map(|l| LineJson { sku: l.sku().as_str(), quantity: l.quantity().units() })
                        .collect(),
                    cost: s.cost().to_string(),
                })
                .collect(),
            backordered: plan.backordered().map(|(sku, quantity)| LineJson { sku: sku.as_str(), quantity }).collect(),
            shipment_count: plan.shipment_count(),
            shipping_cost: plan.shipping_cost().to_string(),
            optimal: plan.optimal(),
            explanation: explanations.get(i).map(String::as_str),
        };
        out.push_str(&serde_json::to_string(&json).expect("plain data"));
        out.push('\n');
    }
    let summary = serde_json::json!({ "summary": summary });
    out.push_str(&serde_json::to_string(&summary).expect("plain data"));
    out.push('\n');
    out
}

fn render_table(orders: &[BatchOrder], plans: &[FulfillmentPlan], explanations: &[String], s: &Summary) -> String {
    let mut out = String::new();
    let id_width = orders.iter().map(|o| o.id.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "{:<id_width$}  {:>9}  {:>10}  {:>11}  {:<7}  PLAN",
        "ORDER", "SHIPMENTS", "COST", "BACKORDERED", "OPTIMAL"
    );
    for (i, (order, plan)) in orders.iter().zip(plans).enumerate() {
        let mut packages: Vec<String> = plan
            .shipments()
            .iter()
            .map(|sh| {
                let lines: Vec<String> =
                    sh.lines().iter().map(|l| format!("{}×{}", l.sku(), l.quantity().units())).collect();
                format!("{}[{}]", sh.warehouse(), lines.join(" "))
            })
            .collect();
        if plan.release() == Release::HeldUntilComplete {
            packages.insert(0, "held until complete:".to_owned());
        }
        let waiting: Vec<String> = plan.backordered().map(|(sku, u)| format!("{sku}×{u}")).collect();
        if !waiting.is_empty() {
            packages.push(format!("backordered[{}]", waiting.join(" ")));
        }
        let _ = writeln!(
            out,
            "{:<id_width$}  {:>9}  {:>10}  {:>11}  {:<7}  {}",
            order.id,
            plan.shipment_count(),
            plan.shipping_cost().to_string(),
            plan.units_backordered(),
            if plan.optimal() { "yes" } else { "no" },
            packages.join(" "),
        );
        if let Some(why) = explanations.get(i) {
            let _ = writeln!(out, "{:<id_width$}  {why}", "");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "orders               {}", s.orders);
    let _ = writeln!(out, "split rate           {:.2}%", s.split_rate * 100.0);
    let _ = writeln!(out, "mean shipments       {:.4}", s.mean_shipments);
    let _ = writeln!(out, "shipping cost        {}", s.total_shipping_cost);
    let _ = writeln!(out, "units now            {}", s.units_now);
    let _ = writeln!(out, "units backordered    {} ({} orders)", s.units_backordered, s.orders_with_backorders);
    let _ = writeln!(out, "proven optimal       {:.2}%", s.proven_optimal * 100.0);
    let _ = writeln!(
        out,
        "planning time        p50 {} µs, p99 {} µs, max {} µs",
        s.planning_micros.p50, s.planning_micros.p99, s.planning_micros.max
    );
    for (name, b) in &s.baselines {
        let _ = writeln!(
            out,
            "baseline {name:<12} split rate {:.2}%, mean shipments {:.4}, shipping cost {}, units now {}",
            b["splitRate"].as_f64().unwrap_or_default() * 100.0,
            b["meanShipments"].as_f64().unwrap_or_default(),
            b["totalShippingCost"].as_str().unwrap_or_default(),
            b["unitsNow"].as_u64().unwrap_or_default(),
        );
    }
    out
}
