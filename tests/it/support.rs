//! Shared helpers: run `shipmix` in-process and scratch files per test.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// What one run of the command line printed and returned.
pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `shipmix ARGS…` in this process.
pub(crate) fn shipmix(args: &[&str]) -> Run {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("shipmix").chain(args.iter().copied());
    let code = api::cli::run(argv, &mut stdout, &mut stderr);
    Run {
        code,
        stdout: String::from_utf8(stdout).expect("utf-8 output"),
        stderr: String::from_utf8(stderr).expect("utf-8 output"),
    }
}

/// A scratch directory that disappears with the test.
pub(crate) struct Scratch {
    dir: TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The repository root, for the checked-in examples.
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
}

pub(crate) fn example(name: &str) -> String {
    repo_root()
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

/// The JSON objects of a jsonl report.
pub(crate) fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
