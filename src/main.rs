//! The `contactd` command line: parse, set up logging, call the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use contactd::app::{self, Listeners, RunHooks};
use contactd::clock::SystemClock;
use contactd::config::{config_path, Config, ConfigError};
use contactd::telemetry;

/// Exit status for configuration errors (sysexits EX_CONFIG); the systemd unit does not restart
/// on it, since a restart cannot fix a bad file.
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "contactd",
    version,
    about = "Citizen contact-center daemon: PBX call pop-ups, the request workflow of the Regulation, surveys and escalations",
    long_about = None,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArg {
    /// Configuration file (TOML). Default: $CONTACTD_CONFIG, then /etc/contactd/contactd.toml.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (migrations are applied first).
    Run(ConfigArg),
    /// Apply pending database migrations and exit.
    Migrate(ConfigArg),
    /// Load and validate the configuration, print it with secrets redacted.
    CheckConfig(ConfigArg),
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

fn load_config(arg: &ConfigArg) -> Result<(Config, PathBuf), ConfigError> {
    let env = env_vars();
    let path = config_path(arg.config.clone(), &env);
    Config::load(&path, &env).map(|c| (c, path))
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("contactd: error: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig(arg) => match load_config(&arg) {
            Ok((config, path)) => {
                println!("# {} is valid; effective configuration (secrets redacted):", path.display());
                print!("{}", config.to_redacted_toml());
                ExitCode::SUCCESS
            }
            Err(err) => fail(EX_CONFIG, err),
        },
        Command::Migrate(arg) => {
            let (config, _) = match load_config(&arg) {
                Ok(c) => c,
                Err(err) => return fail(EX_CONFIG, err),
            };
            let _ = telemetry::init(&config.log.filter, config.log.format);
            with_runtime(async move {
                let storage = contactd::storage::Storage::connect(&config.database).await?;
                let report = storage.migrate().await?;
                storage.close().await;
                println!(
                    "database at schema version {} (applied now: {:?})",
                    report.schema_version, report.applied_now
                );
                Ok(())
            })
        }
        Command::Run(arg) => {
            let (config, path) = match load_config(&arg) {
                Ok(c) => c,
                Err(err) => return fail(EX_CONFIG, err),
            };
            let reloader = telemetry::init(&config.log.filter, config.log.format);
            with_runtime(async move {
                let listeners = Listeners::bind(&config).await?;
                let hooks = RunHooks {
                    ready: None,
                    log_reloader: Some(reloader),
                    config_path: Some(path),
                    handle_signals: true,
                };
                app::run(config, listeners, Arc::new(SystemClock), CancellationToken::new(), hooks).await
            })
        }
    }
}

fn with_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => return fail(1, format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "contactd failed");
            fail(1, format!("{err:#}"))
        }
    }
}
