//! `shipmix simulate` and `shipmix generate`, end to end.

use expect_test::expect_file;
use serde_json::Value;

use crate::support::{Scratch, example, jsonl, shipmix};

const NETWORK: &str = r#"{
  "warehouses": [
    {"code": "EAST", "latitude": 40.5, "longitude": -74.4, "baseCost": 5, "costPerKm": 0.002},
    {"code": "WEST", "name": "Reno", "latitude": 39.5, "longitude": -119.8, "baseCost": 5.5, "costPerKm": 0.0025, "priority": 10}
  ],
  "stock": [
    {"warehouse": "EAST", "sku": "A", "available": 3},
    {"warehouse": "WEST", "sku": "A", "available": 1},
    {"warehouse": "WEST", "sku": "B", "available": 2}
  ]
}"#;

/// Runs `simulate` on the checked-in sample with extra flags.
fn simulate_sample(extra: &[&str]) -> crate::support::Run {
    let (net, ords) = (example("network.json"), example("orders.json"));
    let mut args = vec!["simulate", "--network", &net, "--orders", &ords];
    args.extend_from_slice(extra);
    shipmix(&args)
}

fn orders(lines: &str) -> String {
    format!(
        r#"{{"orders": [{{"id": "o1", "destination": {{"latitude": 40.7, "longitude": -74.0}}, "lines": {lines}}}]}}"#
    )
}

#[test]
fn the_sample_batch_plans_every_order_optimally_and_summarizes() {
    let run = simulate_sample(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let lines = jsonl(&run.stdout);
    let (plans, summary) = lines.split_at(lines.len() - 1);
    assert_eq!(plans.len(), 10);
    for plan in plans {
        let keys: Vec<&str> = plan.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["backordered", "id", "optimal", "shipmentCount", "shipments", "shippingCost"]);
        assert_eq!(plan["optimal"], true);
        assert_eq!(plan["shipmentCount"].as_u64().unwrap() as usize, plan["shipments"].as_array().unwrap().len());
    }
    let summary = &summary[0]["summary"];
    assert_eq!(summary["orders"], 10);
    assert_eq!(summary["provenOptimal"], 1.0);
    assert_eq!(summary["splitRate"], 0.4);
    assert_eq!(summary["totalShippingCost"], "115.99");
    assert_eq!(summary["unitsBackordered"], 2);
    let baselines = summary["baselines"].as_object().unwrap();
    for name in ["priorityFill", "nearestFill"] {
        let b = &baselines[name];
        assert!(b["meanShipments"].as_f64().unwrap() >= summary["meanShipments"].as_f64().unwrap());
        assert_eq!(b["unitsNow"], summary["unitsNow"]);
    }
    assert!(summary["planningMicros"]["p99"].as_u64().unwrap() >= summary["planningMicros"]["p50"].as_u64().unwrap());

    // The plans themselves are pinned: a change to the engine that changes a
    // plan must show up in review. `UPDATE_EXPECT=1` rewrites the file.
    let pinned: String = run.stdout.lines().take(plans.len()).map(|l| format!("{l}\n")).collect();
    expect_file!["snapshots/examples.jsonl"].assert_eq(&pinned);
}

#[test]
fn table_format_shows_each_plan_held_shipments_and_the_baselines() {
    let run = simulate_sample(&["--format", "table", "--explain"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("ORDER "), "{}", run.stdout);
    let mia = run.stdout.lines().find(|l| l.starts_with("mia-1")).unwrap();
    assert!(mia.contains("held until complete: WH006[STOVE-1×2 FILTER-H2O×1] backordered[CHAIR-LITE×1]"), "{mia}");
    assert!(run.stdout.contains("Runner-up: WH007 + WH008 for 14.49 (+0.03)."), "{}", run.stdout);
    assert!(run.stdout.contains("split rate           40.00%"));
    assert!(run.stdout.contains("baseline priorityFill split rate 70.00%"));
}

#[test]
fn policy_and_cap_flags_override_the_orders_file() {
    let run = simulate_sample(&["--max-shipments", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = jsonl(&run.stdout);
    assert!(lines[..10].iter().all(|p| p["shipmentCount"].as_u64().unwrap() <= 1));
    assert_eq!(lines[10]["summary"]["splitRate"], 0.0);

    let run = simulate_sample(&["--policy", "SHIP_COMPLETE", "--format", "table"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // den-1-capped backorders a sleeping bag, so under SHIP_COMPLETE it is held.
    let capped = run.stdout.lines().find(|l| l.starts_with("den-1-capped")).unwrap();
    assert!(capped.contains("held until complete"), "{capped}");
    let whole = run.stdout.lines().find(|l| l.starts_with("den-1 ")).unwrap();
    assert!(!whole.contains("held"), "{whole}");
    let lower = simulate_sample(&["--policy", "ship_complete"]);
    assert_eq!(lower.code, 0, "{}", lower.stderr);
}

#[test]
fn sequential_mode_consumes_stock_order_by_order() {
    let scratch = Scratch::new();
    let net = scratch.file("net.json", NETWORK);
    let two = r#"{"orders": [
        {"id": "first", "destination": {"latitude": 40.7, "longitude": -74.0}, "lines": [{"sku": "A", "quantity": 3}]},
        {"id": "second", "destination": {"latitude": 40.7, "longitude": -74.0}, "lines": [{"sku": "A", "quantity": 3}]}
    ]}"#;
    let ords = scratch.file("orders.json", two);
    let (net, ords) = (net.to_str().unwrap(), ords.to_str().unwrap());
    let independent = jsonl(&shipmix(&["simulate", "--network", net, "--orders", ords]).stdout);
    assert_eq!(independent[1]["backordered"], Value::Array(vec![]));
    let sequential = jsonl(&shipmix(&["simulate", "--network", net, "--orders", ords, "--sequential"]).stdout);
    assert_eq!(sequential[0]["shipments"][0]["warehouse"], "EAST");
    assert_eq!(sequential[1]["shipments"][0]["warehouse"], "WEST");
    assert_eq!(sequential[1]["backordered"][0]["quantity"], 2);
    assert_eq!(sequential[2]["summary"]["unitsBackordered"], 2);
}

#[test]
fn money_is_read_as_exact_decimals() {
    // As a binary float 1.005 is 1.00499999…, which would round down.
    let scratch = Scratch::new();
    let net = scratch.file(
        "net.json",
        r#"{"warehouses": [{"code": "W", "latitude": 0, "longitude": 0, "baseCost": 1.005, "costPerKm": 0}],
            "stock": [{"warehouse": "W", "sku": "A", "available": 1}]}"#,
    );
    let ords = scratch.file("o.json", &orders(r#"[{"sku": "A", "quantity": 1}]"#));
    let run = shipmix(&["simulate", "--network", net.to_str().unwrap(), "--orders", ords.to_str().unwrap()]);
    assert_eq!(jsonl(&run.stdout)[0]["shippingCost"], "1.01");
}

#[test]
fn a_combined_file_serves_as_network_and_orders() {
    let scratch = Scratch::new();
    let mut combined: Value = serde_json::from_str(NETWORK).unwrap();
    let ords: Value = serde_json::from_str(&orders(r#"[{"sku": "B", "quantity": 1}]"#)).unwrap();
    combined["orders"] = ords["orders"].clone();
    let both = scratch.file("both.json", &combined.to_string());
    let both = both.to_str().unwrap();
    let run = shipmix(&["simulate", "--network", both, "--orders", both]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(jsonl(&run.stdout)[0]["shipments"][0]["warehouse"], "WEST");
}

/// Runs simulate on a network and an orders text and expects exit 2, no
/// output, and exactly `message` on stderr (with `{net}` and `{orders}`
/// standing for the file paths).
fn rejects(network: &str, orders: &str, message: &str) {
    let scratch = Scratch::new();
    let net = scratch.file("net.json", network);
    let ords = scratch.file("orders.json", orders);
    let run = shipmix(&["simulate", "--network", net.to_str().unwrap(), "--orders", ords.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.stdout, "", "nothing may be half-printed");
    let expected = message.replace("{net}", net.to_str().unwrap()).replace("{orders}", ords.to_str().unwrap());
    assert_eq!(run.stderr.trim_end(), format!("error: {expected}"));
}

#[test]
fn malformed_files_are_rejected_naming_file_and_entry() {
    let ok_orders = orders(r#"[{"sku": "A", "quantity": 1}]"#);
    rejects("{\"warehouses\": [", &ok_orders, "{net}: warehouses: EOF while parsing a list at line 1 column 16");
    rejects("{\"stock\": []}", &ok_orders, "{net}: no \"warehouses\" list");
    // (what the valid network is edited into, the error it must give)
    let cases = [
        (
            ("\"sku\": \"B\"", "\"sku\": \"B\", \"colour\": 1"),
            "stock[2].colour: unknown field `colour`, expected one of `warehouse`, `sku`, `available` at line 9 column 46",
        ),
        (("\"WEST\", \"sku\": \"B\"", "\"WH999\", \"sku\": \"B\""), "stock[2]: unknown warehouse \"WH999\""),
        (
            ("\"available\": 2", "\"available\": -2"),
            "stock[2].available: must be a whole number from 0 to 1000000000, got -2",
        ),
        (
            ("\"available\": 1", "\"available\": 1.5"),
            "stock[1].available: must be a whole number from 0 to 1000000000, got 1.5",
        ),
        (("\"WEST\", \"name\"", "\"EAST\", \"name\""), "warehouses[1].code: warehouse EAST is listed twice"),
        (("\"latitude\": 39.5", "\"latitude\": 95"), "warehouses[1]: latitude 95 is outside [-90, 90]"),
        (("\"baseCost\": 5,", "\"baseCost\": -5,"), "warehouses[0]: base cost -5 must not be negative"),
        (
            (
                "\"sku\": \"A\", \"available\": 3",
                "\"sku\": \"A\", \"available\": 3}, {\"warehouse\": \"EAST\", \"sku\": \"A\", \"available\": 4",
            ),
            "stock[1]: A at EAST is listed twice",
        ),
    ];
    for ((from, to), message) in cases {
        assert!(NETWORK.contains(from), "{from}");
        rejects(&NETWORK.replace(from, to), &ok_orders, &format!("{{net}}: {message}"));
    }
}

#[test]
fn bad_orders_are_rejected_naming_file_and_entry() {
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": -1}]"#),
        "{orders}: orders[0].lines[0].quantity: invalid quantity -1: must be a whole number of units from 1 to 1000000",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 0}]"#),
        "{orders}: orders[0].lines[0].quantity: invalid quantity 0: must be a whole number of units from 1 to 1000000",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 2.5}]"#),
        "{orders}: orders[0].lines[0].quantity: must be a positive whole number of units, got 2.5",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 1e30}]"#),
        "{orders}: orders[0].lines[0].quantity: must be a positive whole number of units, got 1e+30",
    );
    rejects(NETWORK, &orders("[]"), "{orders}: orders[0].lines: an order needs at least one line");
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "", "quantity": 1}]"#),
        "{orders}: orders[0].lines[0].sku: invalid sku \"\": must not be empty",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 1}]"#).replace("\"longitude\": -74.0", "\"longitude\": -200"),
        "{orders}: orders[0].destination: longitude -200 is outside [-180, 180]",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 1}]"#).replace("\"lines\"", "\"maxShipments\": 0, \"lines\""),
        "{orders}: orders[0].maxShipments: invalid maxShipments 0: must be at least 1",
    );
    rejects(
        NETWORK,
        &orders(r#"[{"sku": "A", "quantity": 1}]"#).replace("\"lines\"", "\"policy\": \"SHIP_SOMETIME\", \"lines\""),
        "{orders}: orders[0].policy: unknown variant `SHIP_SOMETIME`, expected `SHIP_AVAILABLE` or `SHIP_COMPLETE` at line 1 column 105",
    );
    let twice = r#"{"orders": [
        {"id": "x", "destination": {"latitude": 0, "longitude": 0}, "lines": [{"sku": "A", "quantity": 1}]},
        {"id": "x", "destination": {"latitude": 0, "longitude": 0}, "lines": [{"sku": "A", "quantity": 1}]}]}"#;
    rejects(NETWORK, twice, "{orders}: orders[1].id: order \"x\" is listed twice");
    rejects(NETWORK, "{}", "{orders}: no \"orders\" list");
}

#[test]
fn a_missing_file_or_a_bad_flag_is_bad_input() {
    let run = shipmix(&["simulate", "--network", "/nonexistent/net.json", "--orders", &example("orders.json")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: /nonexistent/net.json: cannot read: "), "{}", run.stderr);
    assert_eq!(run.stdout, "");

    for (flags, message) in [
        (["--max-shipments", "0"], "invalid maxShipments 0: must be at least 1"),
        (["--format", "xml"], "invalid value 'xml' for '--format <FORMAT>'"),
        (["--policy", "SHIP_LATER"], "invalid value 'SHIP_LATER' for '--policy <POLICY>'"),
    ] {
        let run = simulate_sample(&flags);
        assert_eq!((run.code, run.stdout.as_str()), (2, ""));
        assert!(run.stderr.contains(message), "{}", run.stderr);
    }

    let help = shipmix(&["simulate", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--sequential"));
}

#[test]
fn generate_writes_the_same_files_for_the_same_seed_and_simulate_reads_them() {
    let scratch = Scratch::new();
    let paths: Vec<String> =
        ["n1.json", "o1.json", "n2.json", "o2.json"].iter().map(|n| scratch.path(n).display().to_string()).collect();
    for pair in paths.chunks(2) {
        let run = shipmix(&[
            "generate",
            "--warehouses",
            "12",
            "--skus",
            "80",
            "--orders",
            "40",
            "--seed",
            "9",
            "--network-out",
            &pair[0],
            "--orders-out",
            &pair[1],
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.starts_with("wrote 12 warehouses and "), "{}", run.stdout);
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&paths[0]), read(&paths[2]));
    assert_eq!(read(&paths[1]), read(&paths[3]));

    let run = shipmix(&["simulate", "--network", &paths[0], "--orders", &paths[1], "--sequential"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = jsonl(&run.stdout);
    assert_eq!(lines.len(), 41);
    assert_eq!(lines[40]["summary"]["provenOptimal"], 1.0);

    let run = shipmix(&[
        "generate",
        "--warehouses",
        "3",
        "--skus",
        "5",
        "--orders",
        "1",
        "--network-out",
        "/nonexistent/dir/n.json",
        "--orders-out",
        &paths[1],
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with("error: /nonexistent/dir/n.json: cannot write: "), "{}", run.stderr);
}
