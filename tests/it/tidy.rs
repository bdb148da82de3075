//! Conventions the compiler cannot check (rust-analyzer's "tidy" tests).

use std::path::{Path, PathBuf};

use crate::support::repo_root;

/// `domain` stays pure: these are the only crates it may use. The RNG crates
/// serve the optional `synth` generator and must stay optional.
const DOMAIN_ALLOWED: &[&str] = &["rust_decimal", "thiserror", "rand", "rand_chacha", "rand_distr"];
const DOMAIN_OPTIONAL_ONLY: &[&str] = &["rand", "rand_chacha", "rand_distr"];

#[test]
fn domain_depends_only_on_its_allowlist() {
    let manifest = std::fs::read_to_string(repo_root().join("domain/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    for (name, spec) in deps {
        assert!(DOMAIN_ALLOWED.contains(&name.as_str()), "domain must not depend on {name}");
        let optional = spec.get("optional").and_then(toml::Value::as_bool).unwrap_or(false);
        if DOMAIN_OPTIONAL_ONLY.contains(&name.as_str()) {
            assert!(optional, "{name} must stay an optional dependency of domain");
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in ["domain/src", "infra/src", "api/src", "api/tests", "domain/benches", "tests/it"] {
        rust_files(&repo_root().join(krate), &mut files);
    }
    // Unit-test modules are documented by their parent.
    let missing: Vec<_> = files
        .iter()
        .filter(|p| !p.ends_with("tests.rs"))
        .filter(|p| !std::fs::read_to_string(p).unwrap().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "files without a //! header: {missing:?}");
}

#[test]
fn only_api_knows_the_command_line_and_only_infra_knows_serde() {
    for (krate, banned) in [("domain", &["clap", "serde", "tokio"][..]), ("infra", &["clap", "indicatif"][..])] {
        let manifest = std::fs::read_to_string(repo_root().join(krate).join("Cargo.toml")).unwrap();
        let manifest: toml::Table = manifest.parse().unwrap();
        let deps = manifest["dependencies"].as_table().unwrap();
        for name in banned {
            assert!(!deps.contains_key(*name), "{krate} must not depend on {name}");
        }
    }
}

/// The repository stands alone: what a reader needs is in it, so nothing
/// cites documents that are not (a product brief, a sibling folder).
#[test]
fn docs_and_code_cite_only_what_the_repository_holds() {
    let mut files = Vec::new();
    for dir in ["domain", "infra", "api", "tests/it", "bench"] {
        rust_files(&repo_root().join(dir), &mut files);
    }
    for doc in ["README.md", "ARCHITECTURE.md", "SOURCING.md", "BENCHMARKS.md"] {
        files.push(repo_root().join(doc));
    }
    let shared = ["..", "shared"].join("/");
    let brief = ["PRODUCT", "md"].join(".");
    let citing: Vec<_> = files
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.contains(&shared) || text.contains(&brief)
        })
        .collect();
    assert!(citing.is_empty(), "files citing documents outside the repository: {citing:?}");
}

/// The modules of `dir`, by layer: a module may use only modules of lower
/// layers (`super::x` or `crate::x`, as `prefix` says), so nothing calls back
/// up and there are no cycles. A new module must be given a layer here.
fn check_layers(dir: &str, prefix: &str, layers: &[&[&str]]) {
    let rank = |name: &str| layers.iter().position(|layer| layer.contains(&name));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    let prefix = format!("{prefix}::");
    let mut broken = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_str().unwrap();
        if ["lib", "main"].contains(&name) {
            continue;
        }
        let Some(own) = rank(name) else {
            broken.push(format!("{name} has no layer"));
            continue;
        };
        // The module's own folder (`foo/`) belongs to it.
        let mut text = std::fs::read_to_string(path).unwrap();
        let folder = path.with_extension("");
        if folder.is_dir() {
            let mut inner = Vec::new();
            rust_files(&folder, &mut inner);
            for p in inner {
                text += &std::fs::read_to_string(p).unwrap();
            }
        }
        for used in modules_named(&prefix, &text) {
            if let Some(theirs) = rank(&used)
                && used != name
                && theirs >= own
            {
                broken.push(format!("{dir}/{name} (layer {own}) uses {used} (layer {theirs})"));
            }
        }
    }
    broken.sort();
    broken.dedup();
    assert!(broken.is_empty(), "imports against the layering: {broken:#?}");
}

/// Every name that follows `prefix` in `text`: `prefix` `name`, and the
/// names in `prefix` `{a, b::c}` groups.
fn modules_named(prefix: &str, text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(group.split(',').map(|item| item.trim().split("::").next().unwrap_or("").to_owned()));
        } else {
            names.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    names
}

#[test]
fn store_modules_call_only_downwards() {
    check_layers(
        "infra/src/store",
        "super",
        &[
            &["stored", "locks", "keys"],
            &["catalog", "network"],
            &["levels", "ranks"],
            &["rows"],
            &["queue"],
            &["placing"],
            &["backorders", "orders", "compensation"],
            &["amend", "lifecycle", "maintenance"],
            &["stock"],
        ],
    );
}

#[test]
fn api_modules_call_only_downwards() {
    check_layers(
        "api/src",
        "crate",
        &[
            &["error"],
            &["planning", "metrics", "access", "throttle"],
            &["state", "contention", "demo", "import", "simulate"],
            &["input"],
            &["fulfillment", "operations", "worker"],
            &["graphql"],
            &["http"],
            &["server"],
            &["cli"],
        ],
    );
    check_layers(
        "api/src/graphql",
        "super",
        &[
            &["scalars", "inputs", "loaders", "gate"],
            &["network", "catalog", "keys"],
            &["orders", "stock"],
            &["fulfillment"],
            &["amend"],
        ],
    );
}

/// Every value the chart's templates read is in `values.yaml`, and every
/// top-level value there is in the chart's README table.
#[test]
fn every_chart_value_is_defined_and_documented() {
    let chart = repo_root().join("helm/shipmix");
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let readme = std::fs::read_to_string(chart.join("README.md")).unwrap();
    let mut templates = Vec::new();
    for entry in std::fs::read_dir(chart.join("templates")).unwrap() {
        templates.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut missing = Vec::new();
    for text in &templates {
        for (at, _) in text.match_indices(".Values.") {
            let path: String = text[at + 8..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            let last = path.trim_end_matches('.').rsplit('.').next().unwrap_or_default().to_owned();
            let defined = values.lines().any(|l| l.trim_start().starts_with(&format!("{last}:")));
            if !defined {
                missing.push(path);
            }
        }
    }
    assert!(missing.is_empty(), "values the templates read but values.yaml lacks: {missing:?}");
    let top: Vec<&str> = values
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains(':'))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert!(top.len() > 15, "{top:?}");
    let undocumented: Vec<&&str> = top.iter().filter(|k| !readme.contains(&format!("`{k}"))).collect();
    assert!(undocumented.is_empty(), "values the chart README does not list: {undocumented:?}");
}
