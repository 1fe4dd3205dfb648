//! `keys-server`: the KEYS marketplace HTTP server, and the operator's admin-role commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use infra::Settings;
use keys_server::admin::{AdminCommand, run as run_admin};
use keys_server::{Application, shutdown_signal};

/// The KEYS marketplace server.
///
/// With no database configured it runs the embedded default: SQLite and a local object store
/// in the data directory, and ingests keys-assets/ on start. Settings come from built-in
/// defaults, then --config FILE, then KEYS__SECTION__KEY environment variables (for example
/// KEYS__DATABASE__URL=postgres://…), then these flags.
///
/// Admins are accounts with the admin role, granted and revoked only here:
/// `keys-server admin grant EMAIL`, `keys-server admin revoke EMAIL`, `keys-server admin list`.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML settings file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address (server.bind), e.g. 127.0.0.1:8080; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Data directory for the embedded SQLite database and local objects (data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The keys-assets directory to ingest on start (ingest.assets_dir).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Do not ingest on start (ingest.on_start = false).
    #[arg(long)]
    no_ingest: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the marketplace (the default).
    Serve,
    /// Grant, revoke or list the admin role, or confirm a buyer's email (each change writes an
    /// audit line).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Give an existing account (by email) the admin role.
    Grant {
        /// The account's email.
        email: String,
    },
    /// Take the admin role away.
    Revoke {
        /// The account's email.
        email: String,
    },
    /// List the accounts holding the admin role.
    List,
    /// Confirm an account's email without the mailed link (a buyer whose mail does not arrive;
    /// the admin role needs a confirmed email too).
    Verify {
        /// The account's email.
        email: String,
    },
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
    if let Some(Command::Admin { action }) = cli.command {
        let command = match action {
            AdminAction::Grant { email } => AdminCommand::Grant(email),
            AdminAction::Revoke { email } => AdminCommand::Revoke(email),
            AdminAction::List => AdminCommand::List,
            AdminAction::Verify { email } => AdminCommand::Verify(email),
        };
        for line in run_admin(&settings, &command, &keys_server::admin::operator())
            .await
            .context("the admin command failed")?
        {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let app = Application::build(&settings)
        .await
        .context("keys-server could not start")?;
    // Signal handlers first: a SIGTERM right after the URL is printed stops the server
    // gracefully, never with the default action.
    let stop = shutdown_signal();
    let url = format!("http://{}/marketplace", app.addr());
    tracing::info!(%url, "listening");
    println!("KEYS marketplace running at {url}  (Ctrl-C to stop)");
    app.run_until(stop).await.context("server failed")?;
    Ok(ExitCode::SUCCESS)
}
