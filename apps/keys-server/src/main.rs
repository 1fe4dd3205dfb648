//! `keys-server`: the KEYS marketplace HTTP server.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use infra::Settings;
use keys_server::{Application, shutdown_signal};

/// The KEYS marketplace server.
///
/// With no database configured it runs the embedded default: SQLite and a local object store
/// in the data directory, and ingests keys-assets/ on start. Settings come from built-in
/// defaults, then --config FILE, then KEYS__SECTION__KEY environment variables (for example
/// KEYS__DATABASE__URL=postgres://…), then these flags.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML settings file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address (server.bind), e.g. 127.0.0.1:8080; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Data directory for the embedded SQLite database and local objects (data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The keys-assets directory to ingest on start (ingest.assets_dir).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Do not ingest on start (ingest.on_start = false).
    #[arg(long)]
    no_ingest: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides = Vec::new();
    if let Some(b) = cli.bind {
        overrides.push(("server.bind", b));
    }
    if let Some(d) = cli.data_dir {
        overrides.push(("data_dir", d.display().to_string()));
    }
    if let Some(a) = cli.assets {
        overrides.push(("ingest.assets_dir", a.display().to_string()));
    }
    if cli.no_ingest {
        overrides.push(("ingest.on_start", "false".into()));
    }
    let settings = Settings::load(cli.config.as_deref(), &overrides).context("settings are invalid")?;
    infra::init_tracing(&settings.log);
    let app = Application::build(&settings)
        .await
        .context("keys-server could not start")?;
    let url = format!("http://{}/marketplace", app.addr());
    tracing::info!(%url, "listening");
    #[allow(clippy::print_stdout)]
    {
        println!("KEYS marketplace running at {url}  (Ctrl-C to stop)");
    }
    app.run_until(shutdown_signal()).await.context("server failed")?;
    Ok(())
}
