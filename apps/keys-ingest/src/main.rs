//! `keys-ingest`: validates and ingests `keys-assets/`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use infra::{Infra, Settings};
use ingest::{IngestOptions, IngestReport, Outcome, Progress};

/// Ingest KEYS from keys-assets/ into the catalog and object storage.
///
/// Exit status: 0 when every KEY was accepted, 1 when any KEY was rejected, 2 on errors.
/// Settings: defaults, then --config FILE, then KEYS__SECTION__KEY environment variables.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML settings file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory of the embedded default (data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The assets directory (ingest.assets_dir).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Validate and package, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest (the default).
    Run(RunArgs),
    /// Write docs/revenue/PRICING_MODEL.md from the pricing file, the bundles and the upgrade
    /// rules (no database needed).
    PricingModel {
        /// The assets directory.
        #[arg(long, value_name = "DIR", default_value = "keys-assets")]
        assets: PathBuf,
        /// Output file.
        #[arg(long, value_name = "FILE", default_value = upgrades::model_doc::PRICING_MODEL_PATH)]
        out: PathBuf,
        /// Only check that the file is current (exit 1 when it differs).
        #[arg(long)]
        check: bool,
    },
    /// Regenerate the sales documents' computed parts from the catalog, the price list, the
    /// recommender and docs/revenue/qa_matrix.toml: docs/revenue/QA_MATRIX.md and the
    /// generated blocks of docs/sales/PROOF_PACK.md and docs/sales/ENABLEMENT.md (no database
    /// needed). Fails when the QA matrix names a test that does not exist.
    SalesDocs {
        /// The repository root (holding keys-assets/ and docs/).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
        /// Only check that the files are current (exit 1 when one differs).
        #[arg(long)]
        check: bool,
    },
    /// Make Stripe's catalog match the shop: one Product and one active Price (lookup key = SKU)
    /// per KEY, bundle and plan; a changed price gets a new Price and the old one is archived;
    /// re-running changes nothing. Needs stripe.secret_key (KEYS__STRIPE__SECRET_KEY).
    StripeSync {
        /// The assets directory (prices and bundles are read from it).
        #[arg(long, value_name = "DIR", default_value = "keys-assets")]
        assets: PathBuf,
    },
    /// Write a synthetic catalog for benchmarks (never for real use).
    Synth {
        /// Number of KEYS.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Output directory (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, slug: &str) {
        self.0.set_message(slug.to_owned());
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

#[allow(clippy::print_stdout)]
fn print_report(report: &IngestReport) {
    for k in &report.keys {
        if k.outcome == Outcome::Rejected {
            println!("REJECTED {} ({})", k.slug, k.kind);
            for e in &k.errors {
                println!("  - {e}");
            }
        } else if !k.versions_added.is_empty() {
            println!(
                "{:<9} {} {}",
                format!("{:?}", k.outcome).to_uppercase(),
                k.slug,
                k.versions_added.join(", ")
            );
        }
    }
    for d in &report.documents {
        match d.outcome {
            ingest::documents::DocumentOutcome::Rejected => {
                println!("REJECTED {} (kept the previously stored copy, if any)", d.name);
                for e in &d.errors {
                    println!("  - {e}");
                }
            }
            ingest::documents::DocumentOutcome::Stored => println!("STORED    {}", d.name),
            ingest::documents::DocumentOutcome::Unchanged => {}
        }
    }
    println!(
        "{}added {}, updated {}, unchanged {}, rejected {}",
        if report.dry_run {
            "[dry run, nothing written] "
        } else {
            ""
        },
        report.added,
        report.updated,
        report.unchanged,
        report.rejected
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut overrides = Vec::new();
    if let Some(d) = &cli.data_dir {
        overrides.push(("data_dir", d.display().to_string()));
    }
    let args = match cli.command {
        Some(Command::Synth { count, out, seed }) => {
            ingest::synthetic::generate(&out, count, seed).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {count} synthetic KEYS to {}", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::PricingModel { assets, out, check }) => {
            let (offers, names) = ingest::documents::offers_from_assets(&assets)
                .with_context(|| format!("the offers in {} are invalid", assets.display()))?;
            let text = upgrades::model_doc::render(&offers, &names);
            if check {
                let current = std::fs::read_to_string(&out).unwrap_or_default();
                if current != text {
                    eprintln!(
                        "{} is out of date: run `cargo run -p keys-ingest -- pricing-model`",
                        out.display()
                    );
                    return Ok(ExitCode::from(1));
                }
                eprintln!("{} is current", out.display());
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::SalesDocs { repo, check }) => {
            let source = repo.join(ingest::qa_matrix::QA_SOURCE);
            let text = std::fs::read_to_string(&source).with_context(|| format!("reading {}", source.display()))?;
            let cases = ingest::qa_matrix::parse(&text)?;
            let problems = ingest::qa_matrix::check(&cases, &repo);
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{}: {p}", source.display());
                }
                anyhow::bail!(
                    "{} problem(s) in {}; fix the rows above",
                    problems.len(),
                    source.display()
                );
            }
            let mut stale = 0;
            for (rel, text) in ingest::sales::regenerate(&repo)? {
                let path = repo.join(&rel);
                let current = std::fs::read_to_string(&path).unwrap_or_default();
                if current == text {
                    eprintln!("{rel} is current");
                } else if check {
                    eprintln!("{rel} is out of date: run `cargo run -p keys-ingest -- sales-docs`");
                    stale += 1;
                } else {
                    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote {rel}");
                }
            }
            return Ok(if stale > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        Some(Command::StripeSync { assets }) => {
            let settings = Settings::load(cli.config.as_deref(), &overrides).context("settings are invalid")?;
            infra::init_tracing(&settings.log);
            let Some(key) = settings
                .stripe
                .secret_key
                .as_ref()
                .filter(|_| settings.stripe.is_stripe())
            else {
                anyhow::bail!(
                    "no Stripe key: set KEYS__STRIPE__SECRET_KEY (sk_…) to sync the catalog (local payment mode needs no sync)"
                );
            };
            let (offers, names) = ingest::documents::offers_from_assets(&assets)
                .with_context(|| format!("the offers in {} are invalid", assets.display()))?;
            let items = payments::ports::catalog_items(&offers, &names);
            use secrecy::ExposeSecret as _;
            let gateway = stripe_gateway::StripeGateway::new(key.expose_secret(), settings.stripe.api_base.as_deref())
                .context("cannot build the Stripe client")?;
            use payments::ports::PaymentGateway as _;
            let report = gateway
                .sync_catalog(&items)
                .await
                .context("Stripe catalog sync failed")?;
            #[allow(clippy::print_stdout)]
            {
                println!(
                    "{} SKUs: {} products created, {} prices created, {} prices archived, {} unchanged",
                    items.len(),
                    report.products_created,
                    report.prices_created,
                    report.prices_archived,
                    report.unchanged
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Run(args)) => args,
        None => cli.run,
    };
    if let Some(a) = &args.assets {
        overrides.push(("ingest.assets_dir", a.display().to_string()));
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides).context("settings are invalid")?;
    infra::init_tracing(&settings.log);
    let infra = if args.dry_run {
        Infra::connect_for_dry_run(&settings).await
    } else {
        Infra::connect(&settings).await
    }
    .context("cannot open storage")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} ingesting [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let options = IngestOptions {
        dry_run: args.dry_run,
        limits: settings.ingest_limits(),
        concurrency: settings.ingest.concurrency,
    };
    let started = std::time::Instant::now();
    let report = infra
        .ingestor()
        .run(&settings.ingest.assets_dir, options, &Bar(bar))
        .await?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ingestion finished");
    if args.json {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    } else {
        print_report(&report);
    }
    Ok(if report.has_rejections() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
