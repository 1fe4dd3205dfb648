//! A generator of large synthetic catalogs, **for benchmarks only**: valid KEYS of all three
//! kinds with small files, deterministic for a given seed.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use catalog::{Category, Intent, Role, Tier};

use crate::source::{JUPYTER_DIR, NODE_NEXT_DIR, RUNBOOK_DIR};

const WORDS: &[&str] = &[
    "postgres",
    "stripe",
    "nextjs",
    "kubernetes",
    "redis",
    "terraform",
    "grafana",
    "oauth",
    "billing",
    "forecast",
    "churn",
    "latency",
    "backup",
    "incident",
    "canary",
    "tenant",
    "webhook",
    "ledger",
    "pipeline",
    "anomaly",
    "cohort",
    "queue",
    "cache",
    "audit",
    "rollout",
    "schema",
    "metrics",
    "tracing",
    "budget",
    "search",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.next() % items.len() as u64).unwrap_or(0)]
    }
}

fn list<T: std::fmt::Display>(items: &[T], quoted: bool) -> String {
    items
        .iter()
        .map(|i| if quoted { format!("\"{i}\"") } else { i.to_string() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `count` KEYS (45 % node-next, 45 % runbook, 10 % Jupyter) under `out`.
///
/// # Errors
/// Any I/O error while writing.
pub fn generate(out: &Path, count: usize, seed: u64) -> std::io::Result<()> {
    let mut rng = Rng(seed | 1);
    let mut library = String::from("# Synthetic Jupyter KEYS (benchmark data)\n\n");
    for i in 0..count {
        let w1 = *rng.pick(WORDS);
        let w2 = *rng.pick(WORDS);
        let slug = format!("synthetic-{w1}-{w2}-{i:05}");
        let name = format!("{} {} kit {i}", capitalise(w1), w2);
        let tier = *rng.pick(Tier::ALL);
        let roles = [*rng.pick(Role::ALL)];
        let intents = [*rng.pick(Intent::ALL)];
        let categories = [*rng.pick(Category::ALL)];
        let summary = format!("Synthetic {w1} and {w2} material number {i} for load tests.");
        match i % 20 {
            0 | 1 => {
                let dir = out.join(JUPYTER_DIR).join(&slug).join("1.0.0");
                fs::create_dir_all(&dir)?;
                fs::write(dir.join("analysis.ipynb"), notebook(w1, w2))?;
                let _ = write!(
                    library,
                    "## {slug}\n\n- name: {name}\n- summary: {summary}\n- tier: {tier}\n- roles: {}\n- intents: {}\n- categories: {}\n- tags: {w1}, synthetic\n\nA synthetic notebook pack about {w1} and {w2}.\n\n### 1.0.0\n\n- released_at: 2026-01-01\n- files: 1.0.0/analysis.ipynb\n- preview: 1.0.0/analysis.ipynb\n- changelog: Generated.\n\n",
                    list(&roles, false),
                    list(&intents, false),
                    list(&categories, false)
                );
            }
            n => {
                let (source, kind) = if n % 2 == 0 {
                    (NODE_NEXT_DIR, "node-next")
                } else {
                    (RUNBOOK_DIR, "runbook")
                };
                let key_dir = out.join(source).join(&slug);
                let vdir = key_dir.join("1.0.0");
                fs::create_dir_all(&vdir)?;
                fs::write(
                    key_dir.join("key.toml"),
                    format!(
                        "slug = \"{slug}\"\nname = \"{name}\"\nkind = \"{kind}\"\nsummary = \"{summary}\"\ndescription = \"Synthetic {kind} KEY about {w1}, {w2} and load testing.\"\ntier = \"{tier}\"\nroles = [{}]\nintents = [{}]\ncategories = [{}]\ntags = [\"{w1}\", \"synthetic\"]\n\n[[versions]]\nversion = \"1.0.0\"\nreleased_at = \"2026-01-{:02}\"\npreview = [\"README.md\"]\nchangelog = \"Generated.\"\n",
                        list(&roles, true),
                        list(&intents, true),
                        list(&categories, true),
                        1 + i % 28
                    ),
                )?;
                fs::write(
                    vdir.join("README.md"),
                    format!("# {name}\n\n{summary}\n\n## Usage\n\nRun `./run.sh`.\n"),
                )?;
                fs::write(
                    vdir.join("run.sh"),
                    format!("#!/usr/bin/env bash\nset -euo pipefail\necho '{slug}'\n"),
                )?;
            }
        }
    }
    fs::create_dir_all(out.join(JUPYTER_DIR))?;
    fs::write(out.join(JUPYTER_DIR).join(catalog::JUPYTER_LIBRARY_FILE), library)
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn notebook(w1: &str, w2: &str) -> String {
    format!(
        r##"{{"nbformat": 4, "nbformat_minor": 5, "metadata": {{"kernelspec": {{"name": "python3", "display_name": "Python 3", "language": "python"}}}},
 "cells": [
  {{"id": "a1", "cell_type": "markdown", "metadata": {{}}, "source": ["# {w1} and {w2}\n", "Synthetic notebook."]}},
  {{"id": "a2", "cell_type": "code", "metadata": {{}}, "execution_count": null, "outputs": [], "source": ["import numpy as np\n", "print(np.arange(3).sum())"]}}
 ]}}"##
    )
}
