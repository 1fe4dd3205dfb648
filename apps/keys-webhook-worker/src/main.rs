//! `keys-webhook-worker`: applies the verified Stripe events that keys-server stored in the
//! inbox. Each event is applied in one database transaction together with its order and
//! entitlement changes; on Postgres any number of workers run side by side (`FOR UPDATE SKIP
//! LOCKED`). Failures retry with backoff; after `worker.max_attempts` an event is parked as
//! dead until `keys-webhook-worker replay EVENT_ID`.
//!
//! Exit status: 0 on success, 1 when `replay` finds nothing to replay, 2 on errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use infra::{Infra, Settings};
use payments::ports::InboxRepository;

/// Apply verified Stripe events from the inbox.
///
/// Settings: defaults, then --config FILE, then KEYS__SECTION__KEY environment variables
/// (database.url, stripe.grace_days, worker.poll_ms, worker.max_attempts, worker.sweep_secs,
/// metrics.bind, metrics.token).
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
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run until Ctrl-C / SIGTERM (the default).
    Run {
        /// Apply what is due now, then exit (for scripts and benchmarks).
        #[arg(long)]
        drain: bool,
    },
    /// List inbox rows in a state (default: dead).
    List {
        /// `dead`, `pending`, `done` or `ignored`.
        #[arg(long, default_value = "dead")]
        state: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Put a dead event back to pending so the next worker applies it again.
    Replay {
        /// The event id (`evt_…`).
        event_id: String,
    },
    /// How many inbox rows are in each state.
    Status,
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

#[allow(clippy::print_stdout)]
async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut overrides = Vec::new();
    if let Some(d) = &cli.data_dir {
        overrides.push(("data_dir", d.display().to_string()));
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides).context("settings are invalid")?;
    infra::init_tracing(&settings.log);
    let infra = Infra::connect(&settings).await.context("cannot open the database")?;
    let inbox: Arc<dyn InboxRepository> = infra::services::inbox(&infra, &settings);
    match cli.command.unwrap_or(Command::Run { drain: false }) {
        Command::Run { drain: true } => {
            let mut applied = 0u64;
            let mut failed = 0u64;
            loop {
                let batch = inbox
                    .process_batch(infra.clock.now(), settings.worker.batch.max(1))
                    .await?;
                if batch.is_empty() {
                    break;
                }
                for p in batch {
                    match p.outcome {
                        Ok(_) => applied += 1,
                        Err(reason) => {
                            failed += 1;
                            tracing::warn!(event = %p.event_id, "will retry: {reason}");
                        }
                    }
                }
            }
            let swept = inbox.sweep(infra.clock.now()).await?;
            println!("applied {applied}, failed {failed}, grace periods expired {swept}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { drain: false } => {
            let stop = infra::shutdown_signal();
            let (tx, rx) = tokio::sync::watch::channel(false);
            let delivery = infra::mailer::delivery(
                &infra,
                &settings,
                &settings.public_url(settings.bind_addr()),
                &infra::mailer::worker_name("worker"),
            )?;
            let mailer = tokio::spawn(infra::mailer::run_mailer(
                delivery,
                infra.clock.clone(),
                std::time::Duration::from_millis(settings.worker.poll_ms.max(1)),
                rx.clone(),
            ));
            let metrics = Arc::new(infra::metrics::Metrics::new(infra.db.clone(), |_| {}));
            let listener = match settings.metrics_addr() {
                Some(addr) => Some(
                    infra::metrics::MetricsServer::start(
                        addr,
                        Arc::clone(&metrics),
                        infra.clock.clone(),
                        settings.metrics.token.clone(),
                        rx.clone(),
                    )
                    .await
                    .with_context(|| format!("cannot listen on metrics.bind {addr}; pick another address"))?,
                ),
                None => None,
            };
            let worker = tokio::spawn(infra::worker::run_worker(
                inbox,
                infra.clock.clone(),
                settings.worker.clone(),
                rx,
                metrics.applied(),
            ));
            stop.await;
            tracing::info!("stopping: finishing the batch under way");
            let _ = tx.send(true);
            let stats = worker.await.context("worker task")?;
            mailer.await.context("mail task")?;
            if let Some(l) = listener {
                l.join().await;
            }
            println!(
                "applied {}, failed {}, swept {}",
                stats.applied, stats.failed, stats.swept
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::List { state, limit } => {
            for e in inbox.list(&state, limit).await? {
                println!(
                    "{}\t{}\t{}\tattempts={}\t{}",
                    e.event_id,
                    e.event_type,
                    e.status,
                    e.attempts,
                    e.last_error.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { event_id } => {
            if inbox.replay(&event_id, infra.clock.now()).await? {
                println!("{event_id} is pending again; a running worker applies it shortly");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no dead or pending event {event_id} (unknown, or already applied)");
                Ok(ExitCode::from(1))
            }
        }
        Command::Status => {
            for (state, n) in inbox.counts().await? {
                println!("{state}\t{n}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
