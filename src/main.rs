//! The `contactd` command line: parse, set up logging, call the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use contactd::app::{self, Listeners, RunHooks};
use contactd::clock::{Clock, SystemClock};
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
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Check and import the classifier of main requests.
    #[command(subcommand)]
    Classifier(ClassifierCommand),
    /// The working-time calendar: deadlines and months.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Send a short Ukrainian test email to check the [smtp] settings (no database needed).
    SendTestEmail {
        #[command(flatten)]
        config: ConfigArg,
        /// Recipient, e.g. admin@example.gov.ua.
        #[arg(long, value_name = "ADDR")]
        to: String,
    },
    /// The applicant survey (regulation 9.6): draw a sample by hand, replay a stored draw.
    #[command(subcommand)]
    Survey(SurveyCommand),
    /// Run a fake Asterisk (ARI WebSocket + REST) for tests and demos; needs no configuration.
    /// Runs until Ctrl-C / SIGTERM.
    PbxSim(PbxSimArgs),
}

#[derive(Args)]
struct PbxSimArgs {
    /// Address to serve ARI on, e.g. 127.0.0.1:8088 (then pbx.ari_url = "http://127.0.0.1:8088/ari").
    #[arg(long, value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Play a scenario file of timed calls (TOML, or JSON for .json).
    #[arg(long, value_name = "FILE", group = "workload")]
    scenario: Option<PathBuf>,
    /// Replay a captured ARI stream (.jsonl, one frame per line) with fresh ids and times.
    #[arg(long, value_name = "FILE.jsonl", group = "workload")]
    replay: Option<PathBuf>,
    /// Replay speed-up (2 = twice as fast).
    #[arg(long, default_value_t = 1.0, requires = "replay")]
    speed: f64,
    /// Random traffic: mean arrival rate (Poisson). Bound it with --max-calls and/or --duration-s.
    #[arg(long, value_name = "X", group = "workload")]
    calls_per_second: Option<f64>,
    /// Operator extensions that take the random calls.
    #[arg(long, value_delimiter = ',', default_value = "1001")]
    operators: Vec<String>,
    /// Share of random calls answered.
    #[arg(long, value_name = "R", default_value_t = 0.8)]
    answer_ratio: f64,
    /// Share of random calls abandoned (the rest are half busy, half unanswered).
    #[arg(long, value_name = "R", default_value_t = 0.15)]
    abandon_ratio: f64,
    /// Stop placing random calls after this many.
    #[arg(long, value_name = "N")]
    max_calls: Option<u64>,
    /// Stop placing random calls after this many seconds.
    #[arg(long, value_name = "S")]
    duration_s: Option<u64>,
    /// Seed of the random traffic (same seed, same calls).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// ARI user the clients must present.
    #[arg(long, default_value = "cc")]
    username: String,
    /// ARI password the clients must present.
    #[arg(
        long,
        default_value = "ccpass",
        env = "CONTACTD_PBX_SIM_PASSWORD",
        hide_env_values = true
    )]
    password: String,
    /// Stasis application name written into the frames.
    #[arg(long, default_value = "contactd")]
    app: String,
}

#[derive(Subcommand)]
enum SurveyCommand {
    /// Draw the sample of the requests closed since the previous draw (the scheduler runs the
    /// same code); a period already drawn samples nothing.
    Draw {
        #[command(flatten)]
        config: ConfigArg,
        /// End of the period (exclusive), RFC 3339; default: now.
        #[arg(long, value_name = "T")]
        period_end: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Seed of the random selection; default: a random one (stored with the draw).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
    },
    /// Recompute a stored draw from its stored inputs and check it gives exactly the same sample.
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(value_name = "DRAW_ID")]
        draw_id: i64,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input (one line).
    Add {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        login: String,
        /// operator | executor | supervisor | admin
        #[arg(long)]
        role: String,
        /// Executor unit code (executors; repeat for several units).
        #[arg(long = "executor", value_name = "UNIT")]
        executors: Vec<String>,
        /// The operator's PBX extension, e.g. 1001.
        #[arg(long)]
        extension: Option<String>,
    },
}

#[derive(Subcommand)]
enum ClassifierCommand {
    /// Validate a classifier file (CSV or TOML) and list every problem with its line. Needs no
    /// configuration.
    Check { file: PathBuf },
    /// Import a classifier file as the decision N of date D: the first import is the base, later
    /// ones amendments on top of the latest revision.
    Import {
        #[command(flatten)]
        config: ConfigArg,
        file: PathBuf,
        /// Decision number, e.g. 339.
        #[arg(long)]
        decision: u32,
        /// Decision date, YYYY-MM-DD.
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Date from which new requests use this revision (default: the decision date).
        #[arg(long)]
        effective: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Print the deadline (RFC 3339) of a term counted from a moment.
    Deadline {
        #[command(flatten)]
        config: ConfigArg,
        /// Registration moment, RFC 3339, e.g. 2026-04-10T17:30:00+03:00.
        #[arg(long)]
        from: chrono::DateTime<chrono::FixedOffset>,
        #[arg(long, group = "term")]
        working_days: Option<u32>,
        #[arg(long, group = "term")]
        calendar_days: Option<u32>,
        #[arg(long, group = "term")]
        hours: Option<u32>,
        /// Use the contact center's schedule instead of the executors'.
        #[arg(long)]
        contact_center: bool,
        /// Override `calendar.martial_law` from the configuration.
        #[arg(long)]
        martial_law: Option<bool>,
    },
    /// Print a month (YYYY-MM) with working days, holidays and transfers marked.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        month: String,
        #[arg(long)]
        contact_center: bool,
        #[arg(long)]
        martial_law: Option<bool>,
    },
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
        Command::PbxSim(args) => pbx_sim(args),
        Command::Survey(command) => survey(command),
        Command::SendTestEmail { config, to } => send_test_email(&config, &to),
        Command::User(UserCommand::Add {
            config,
            login,
            role,
            executors,
            extension,
        }) => {
            let (config, _) = match load_config(&config) {
                Ok(c) => c,
                Err(err) => return fail(EX_CONFIG, err),
            };
            let Some(role) = contactd::auth::Role::parse(&role) else {
                return fail(
                    2,
                    format!("--role `{role}` is not one of operator, executor, supervisor, admin"),
                );
            };
            let mut password = String::new();
            if let Err(err) = std::io::stdin().read_line(&mut password) {
                return fail(
                    2,
                    format!("cannot read the password from standard input: {err}"),
                );
            }
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            with_runtime(async move {
                let storage = app::open_storage(&config).await?;
                let user = contactd::auth::NewUser {
                    login: login.clone(),
                    password,
                    role,
                    executors,
                    extension,
                };
                let id = contactd::auth::add_user(&storage, &user, SystemClock.now()).await?;
                storage.close().await;
                println!("user {login} added (id {id}, role {})", role.as_str());
                Ok(())
            })
        }
        Command::Classifier(ClassifierCommand::Check { file }) => {
            let report = contactd_classifier::check_file(&file);
            if report.is_ok() {
                println!("{}: OK", file.display());
                ExitCode::SUCCESS
            } else {
                eprint!("{report}");
                if !report.to_string().ends_with('\n') {
                    eprintln!();
                }
                ExitCode::from(1)
            }
        }
        Command::Classifier(ClassifierCommand::Import {
            config,
            file,
            decision,
            date,
            effective,
        }) => {
            let (config, _) = match load_config(&config) {
                Ok(c) => c,
                Err(err) => return fail(EX_CONFIG, err),
            };
            let revision = contactd_classifier::Revision {
                decision_no: decision,
                decision_date: date,
                effective_date: effective.unwrap_or(date),
            };
            with_runtime(async move {
                let storage = app::open_storage(&config).await?;
                let outcome = contactd::classifier::import(
                    &storage,
                    &file,
                    revision.clone(),
                    SystemClock.now(),
                )
                .await?;
                storage.close().await;
                println!(
                    "imported {} as revision #{} ({revision}): {} leaf items, {} executor units; running daemons pick it up on SIGHUP (systemctl reload contactd)",
                    file.display(),
                    outcome.revision.0,
                    outcome.leaves,
                    outcome.executors
                );
                Ok(())
            })
        }
        Command::Calendar(CalendarCommand::Deadline {
            config,
            from,
            working_days,
            calendar_days,
            hours,
            contact_center,
            martial_law,
        }) => {
            let calendar = match calendar_for(&config, contact_center, martial_law) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let term = match contactd::http::parse_term(working_days, calendar_days, hours) {
                Ok(t) => t,
                Err(err) => {
                    return fail(
                        2,
                        format!("{err} (--working-days N, --calendar-days N or --hours H)"),
                    )
                }
            };
            match calendar.deadline(from.with_timezone(&chrono::Utc), term) {
                Ok(deadline) => {
                    println!(
                        "{}",
                        deadline
                            .with_timezone(&contactd_calendar::KYIV)
                            .to_rfc3339()
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => fail(1, err),
            }
        }
        Command::Calendar(CalendarCommand::Show {
            config,
            month,
            contact_center,
            martial_law,
        }) => {
            let calendar = match calendar_for(&config, contact_center, martial_law) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let parsed = month
                .split_once('-')
                .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)));
            let Some((year, month_no)) = parsed else {
                return fail(2, format!("month `{month}` is not YYYY-MM, e.g. 2026-05"));
            };
            match contactd_calendar::render_month(&calendar, year, month_no) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(1, err),
            }
        }
        Command::CheckConfig(arg) => match load_config(&arg) {
            Ok((config, path)) => {
                println!(
                    "# {} is valid; effective configuration (secrets redacted):",
                    path.display()
                );
                print!("{}", config.to_redacted_toml());
                match check_executor_areas(&config) {
                    Ok(line) => {
                        println!("# {line}");
                        ExitCode::SUCCESS
                    }
                    Err(err) => fail(EX_CONFIG, err),
                }
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
                app::run(
                    config,
                    listeners,
                    Arc::new(SystemClock),
                    CancellationToken::new(),
                    hooks,
                )
                .await
            })
        }
    }
}

/// `check-config`: every executor unit in the database must belong to exactly one deputy mayor's
/// area (or the default). Skipped, with a note, when the database does not exist yet; nothing is
/// created or migrated here.
fn check_executor_areas(config: &Config) -> Result<String, String> {
    if !config.escalation.enabled {
        return Ok("executor areas: not checked ([escalation] enabled = false)".into());
    }
    if let Some(path) = config.database.url.expose().strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if !std::path::Path::new(path).exists() {
            return Ok(format!(
                "executor areas: not checked (no database at {path} yet)"
            ));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let storage = match contactd::storage::Storage::connect(&config.database).await {
            Ok(s) => s,
            Err(err) => return Ok(format!("executor areas: not checked (database unreachable: {err})")),
        };
        let known = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM executors")
            .fetch_one(storage.reader())
            .await;
        let result = match known {
            Err(_) => Ok("executor areas: not checked (database not migrated yet)".to_owned()),
            Ok(count) => {
                let calendars = contactd::calendar::Calendars::from_settings(&config.calendar)
                    .map_err(|e| format!("calendar: {e}"))?;
                contactd::escalation::Escalation::new(
                    storage.clone(),
                    calendars,
                    std::sync::Arc::new(config.escalation.clone()),
                    None,
                )
                .check_units()
                .await
                .map(|()| format!("executor areas: all {count} executor units belong to a deputy mayor's area"))
                .map_err(|e| format!("config key `escalation.deputies`: {e}"))
            }
        };
        storage.close().await;
        result
    })
}

fn send_test_email(arg: &ConfigArg, to: &str) -> ExitCode {
    let (config, path) = match load_config(arg) {
        Ok(c) => c,
        Err(err) => return fail(EX_CONFIG, err),
    };
    let Some(smtp) = config.smtp else {
        return fail(
            EX_CONFIG,
            format!(
                "{}: no [smtp] section; add one with url and from (see config/contactd.example.toml)",
                path.display()
            ),
        );
    };
    let _ = telemetry::init(&config.log.filter, config.log.format);
    let to = to.to_owned();
    with_runtime(async move {
        let message_id = contactd::mail::send_test_email(&smtp, &to, SystemClock.now()).await?;
        println!(
            "test email sent to {to} via {} (Message-ID {message_id})",
            smtp.url
        );
        Ok(())
    })
}

fn pbx_sim(args: PbxSimArgs) -> ExitCode {
    use contactd::pbx::sim::{SimOptions, Workload};
    let _ = telemetry::init("info", contactd::config::LogFormat::Auto);
    let workload = if let Some(path) = args.scenario {
        Workload::Scenario(path)
    } else if let Some(path) = args.replay {
        Workload::Replay {
            path,
            speed: args.speed,
        }
    } else if let Some(cps) = args.calls_per_second {
        if args.max_calls.is_none() && args.duration_s.is_none() {
            return fail(
                2,
                "--calls-per-second needs a bound: --max-calls N and/or --duration-s S",
            );
        }
        Workload::Traffic(contactd_pbx_sim::TrafficConfig {
            calls_per_second: cps,
            operators: args.operators,
            answer_ratio: args.answer_ratio,
            abandon_ratio: args.abandon_ratio,
            seed: args.seed,
            max_calls: args.max_calls,
            duration: args.duration_s.map(std::time::Duration::from_secs),
            ..contactd_pbx_sim::TrafficConfig::default()
        })
    } else {
        Workload::Idle
    };
    let options = SimOptions {
        listen: args.listen,
        username: args.username,
        password: args.password,
        app: args.app,
        workload,
    };
    with_runtime(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let shutdown = CancellationToken::new();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            stopper.cancel();
        });
        contactd::pbx::sim::run(options, shutdown).await
    })
}

/// The calendar from the configuration when there is one (an explicit `--config`, or the default
/// path when it exists), else the defaults: martial law, built-in Ukrainian holidays.
fn calendar_for(
    arg: &ConfigArg,
    contact_center: bool,
    martial_law: Option<bool>,
) -> Result<contactd_calendar::WorkCalendar, ExitCode> {
    let env = env_vars();
    let path = config_path(arg.config.clone(), &env);
    let mut settings = if arg.config.is_some() || path.exists() {
        Config::load(&path, &env)
            .map_err(|err| fail(EX_CONFIG, err))?
            .calendar
    } else {
        contactd_calendar::CalendarSettings::default()
    };
    if let Some(ml) = martial_law {
        settings.martial_law = ml;
    }
    let kind = if contact_center {
        contactd_calendar::ScheduleKind::ContactCenter
    } else {
        contactd_calendar::ScheduleKind::Executors
    };
    contactd_calendar::WorkCalendar::from_settings(&settings, kind)
        .map_err(|err| fail(EX_CONFIG, format!("calendar: {err}")))
}

fn survey(command: SurveyCommand) -> ExitCode {
    let arg = match &command {
        SurveyCommand::Draw { config, .. } | SurveyCommand::Replay { config, .. } => config.clone(),
    };
    let (config, _) = match load_config(&arg) {
        Ok(c) => c,
        Err(err) => return fail(EX_CONFIG, err),
    };
    let _ = telemetry::init(&config.log.filter, config.log.format);
    with_runtime(async move {
        let storage = app::open_storage(&config).await?;
        let result = match command {
            SurveyCommand::Draw {
                period_end, seed, ..
            } => {
                let now = SystemClock.now();
                let request = contactd::survey::DrawRequest {
                    period_end: period_end.map_or(now, |t| t.with_timezone(&chrono::Utc)),
                    seed,
                    trigger: contactd::survey::Trigger::Cli,
                };
                contactd::survey::run_draw(&storage, &config.survey, request, now)
                    .await
                    .map(|outcome| print!("{}", contactd::survey::describe_draw(&outcome)))
            }
            SurveyCommand::Replay { draw_id, .. } => contactd::survey::replay_draw(&storage, draw_id)
                .await
                .map(|r| {
                    println!(
                        "survey draw {} replayed: exactly the same sample of {} of {} requests (fingerprint {})",
                        r.id, r.sampled, r.population, r.fingerprint
                    );
                    for number in &r.request_numbers {
                        println!("  {number}");
                    }
                }),
        };
        storage.close().await;
        result.map_err(anyhow::Error::new)
    })
}

fn with_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
