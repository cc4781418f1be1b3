//! The `rollcall` binary: command line, configuration, logging and signals. Everything it does
//! goes through the core service.

mod progress;
mod report;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use rollcall::audit::Source;
use rollcall::bootstrap::{self, Credentials, Seed};
use rollcall::config::{Config, Overrides};
use rollcall::control;
use rollcall::mail::Templates;
use rollcall::service::{Actor, Policy, Service};
use rollcall::store::{SledStore, StoreOptions};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Directory server: LDAP v3 and SCIM 2.0 over one store, under role and license rules"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ROLLCALL_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (store and generated TLS material).
    #[arg(long, global = true, env = "ROLLCALL_DATA")]
    data: Option<PathBuf>,
    /// HTTP listen address (SCIM, REST, health).
    #[arg(long, global = true, env = "ROLLCALL_HTTP_ADDR")]
    http: Option<SocketAddr>,
    /// LDAP listen address.
    #[arg(long, global = true, env = "ROLLCALL_LDAP_ADDR")]
    ldap: Option<SocketAddr>,
    /// LDAPS listen address.
    #[arg(long, global = true, env = "ROLLCALL_LDAPS_ADDR")]
    ldaps: Option<SocketAddr>,
    /// Base DN of the LDAP tree.
    #[arg(long, global = true, env = "ROLLCALL_BASE_DN")]
    base_dn: Option<String>,
    /// Log lines on stderr: `text` for people, `json` (one object per line) for log shippers.
    #[arg(
        long,
        global = true,
        env = "ROLLCALL_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ImportFormat {
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initialises the data directory on first start).
    Serve,
    /// Initialise the data directory and print the first credentials, without serving.
    Init,
    /// API tokens for provisioning.
    Token {
        #[command(subcommand)]
        command: control::TokenCommand,
    },
    /// User administration, on a running server (through its control socket) or a stopped one.
    User {
        #[command(subcommand)]
        command: control::UserCommand,
    },
    /// Roles: list, members, grant and take away, on a running server or a stopped one.
    Role {
        #[command(subcommand)]
        command: control::RoleCommand,
    },
    /// Accounts (customer and partner organisations).
    Account {
        #[command(subcommand)]
        command: control::AccountCommand,
    },
    /// Reports for administrators and auditors.
    Report {
        #[command(subcommand)]
        command: control::ReportCommand,
    },
    /// Mail a message to the active people of some roles, or to every active person: a
    /// maintenance window, a policy change. The text is read from stdin; each person gets
    /// their own message, through the outbox.
    Announce {
        /// The subject line (one line, at most 200 characters).
        #[arg(long)]
        subject: String,
        /// A role or group whose members it is for, by name; repeat for several (each person
        /// gets it once).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Every active person instead.
        #[arg(long)]
        everyone: bool,
    },
    /// Cross-check every index and counter against the records as they are when it starts (on
    /// a running server, commits go on meanwhile).
    Check,
    /// Show license usage per type.
    Licenses,
    /// The audit trail as JSON lines, oldest first (as GET /admin/audit).
    Audit(control::AuditArgs),
    /// The outbox (queued and sent messages) as JSON lines, oldest first (as GET /admin/outbox);
    /// `outbox cancel` stops messages still waiting.
    Outbox(OutboxCli),
    /// Create accounts, roles and users from JSON lines on stdin (the `export` format; a user
    /// may add "password" or an exported "password_hash"), or people from a CSV sheet; prints
    /// a line per record once it is durably stored.
    Import {
        /// jsonl (the `export` format) or csv (a header row, then one person per row; account,
        /// roles and manager by name).
        #[arg(long, value_enum, default_value_t = ImportFormat::Jsonl)]
        format: ImportFormat,
        /// With csv: a person the directory already has (by userName) is given what the row's
        /// non-empty cells say, instead of being left as it is.
        #[arg(long)]
        update: bool,
    },
    /// Write every account, role and readable user as JSON lines (never password hashes).
    Export,
    /// Write a backup of the whole store (every record, index, token, audit event and message)
    /// to FILE, replaced only once the backup is complete. A running server writes it, as of the
    /// moment it starts, while commits go on; FILE is then written by the server's user.
    Backup {
        file: std::path::PathBuf,
        /// Encrypt it to this age public key (`age1…`); repeat for several. The file is then a
        /// standard age file that only the matching identities open.
        #[arg(long = "recipient", value_name = "AGE_PUBLIC_KEY")]
        recipients: Vec<rollcall::sealed::Recipient>,
    },
    /// Restore a backup into the data directory, which must not have a store yet; the store
    /// appears only once every entry is in and checked.
    Restore {
        file: std::path::PathBuf,
        /// The age identity file (`AGE-SECRET-KEY-1…` lines) that opens an encrypted backup.
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
    },
}

/// `rollcall outbox [--since …]` lists, as it always has; `rollcall outbox cancel …` cancels.
/// The listing's options belong to the listing alone, so they conflict with the subcommand.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct OutboxCli {
    #[command(subcommand)]
    command: Option<OutboxCommand>,
    #[command(flatten)]
    list: control::OutboxArgs,
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Cancel messages still waiting: kept in the outbox, marked cancelled, never sent.
    ///
    /// Messages sent or given up on are left as they are. Give at least one of --id, --kind,
    /// --user and --since; a message must match every one given. Prints how many were
    /// cancelled (as POST /admin/outbox/cancel).
    Cancel(control::CancelArgs),
}

fn main() -> std::process::ExitCode {
    match rollcall() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {}", report::report(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

fn rollcall() -> anyhow::Result<()> {
    // Before the store or the runtime allocates anything of size.
    let small_pages = rollcall::process::prefer_small_pages();
    let cli = Cli::parse();
    let (filter, refused) = log_filter(std::env::var("ROLLCALL_LOG").ok());
    use std::io::IsTerminal;
    // Colours only for a person at a terminal (journald and log files would keep the escape
    // codes), and a log write that fails (a full disk) is dropped rather than reported on
    // stderr, which panics when stderr is what failed.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    match cli.global.log_format {
        LogFormat::Text => logs.init(),
        // Fields at the top level next to `timestamp`, `level` and `message`, as log shippers
        // (Loki, Elasticsearch, CloudWatch) index them; the span list adds nothing here.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    if let Some(why) = refused {
        tracing::warn!("ROLLCALL_LOG is not a log filter ({why}); logging at info");
    }
    if let Err(error) = small_pages {
        tracing::warn!(
            "transparent huge pages stay on for this process ({error}): commits cost more CPU"
        );
    }
    let overrides = Overrides {
        data: cli.global.data.clone(),
        http: cli.global.http,
        ldap: cli.global.ldap,
        ldaps: cli.global.ldaps,
        base_dn: cli.global.base_dn.clone(),
    };
    let config = Config::load(cli.global.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve => {
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                data = %config.data.display(),
                config = ?cli.global.config,
                "starting"
            );
            serve(config)
        }
        Command::Init => {
            let seed = bootstrap_seed(&config)?;
            let service = open(&config)?;
            match initialise(&service, &config, seed)? {
                Some(credentials) => {
                    print_credentials(&mut std::io::stdout(), &config, &credentials)
                }
                None => eprintln!("{} is already initialised", config.data.display()),
            }
            Ok(())
        }
        Command::Token { command } => {
            // Only `token create` sets up a fresh directory (automation's first step); a list
            // or revoke against a mistyped --data is an error, not a new directory.
            let initialise = matches!(command, control::TokenCommand::Create { .. });
            operate(&config, control::Command::Token(command), initialise)
        }
        Command::User { command } => operate(&config, control::Command::User(command), false),
        Command::Role { command } => operate(
            &config,
            control::Command::Role(names_from_stdin(command)?),
            false,
        ),
        Command::Account { command } => operate(&config, control::Command::Account(command), false),
        Command::Report { command } => operate(&config, control::Command::Report(command), false),
        Command::Announce {
            subject,
            roles,
            everyone,
        } => {
            // Said before the text is typed, not after.
            if everyone != roles.is_empty() {
                bail!(
                    "name the roles whose members it is for with --role, or send it to every \
                     active person with --everyone (not both)"
                );
            }
            let body = read_text()?;
            operate(
                &config,
                control::Command::Announce {
                    subject,
                    roles,
                    everyone,
                    body,
                },
                false,
            )
        }
        Command::Check => operate(&config, control::Command::Check, false),
        Command::Licenses => operate(&config, control::Command::Licenses, false),
        Command::Audit(args) => operate(&config, control::Command::Audit(args), false),
        Command::Outbox(OutboxCli {
            command: None,
            list,
        }) => operate(&config, control::Command::Outbox(list), false),
        Command::Outbox(OutboxCli {
            command: Some(OutboxCommand::Cancel(selection)),
            ..
        }) => operate(&config, control::Command::OutboxCancel(selection), false),
        Command::Import { format, update } => import(&config, format, update),
        Command::Backup { file, recipients } => {
            if file.as_os_str() == "-" {
                bail!(
                    "a backup is written to a file, replaced only once it is complete; to \
                     stream one, use GET /admin/backup"
                );
            }
            // The server resolves nothing against its own working directory.
            let file = std::path::absolute(&file)
                .with_context(|| format!("backup file {}", file.display()))?;
            operate(
                &config,
                control::Command::Backup { file, recipients },
                false,
            )
        }
        Command::Restore { file, identity } => restore(&config, &file, identity.as_deref()),
        Command::Export => operate(&config, control::Command::Export, false),
    }
}

fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        cache_capacity_bytes: config.store.cache_mb * 1024 * 1024,
        user_cache_entries: config.store.user_cache,
    }
}

fn restore(
    config: &Config,
    file: &std::path::Path,
    identity: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    // An encrypted backup that cannot be opened is refused before anything is created.
    let mut input = rollcall::sealed::open(std::io::BufReader::new(input), identity)
        .with_context(|| format!("restoring {}", file.display()))?;
    let made = rollcall::data_dir::ensure_made(&config.data)
        .with_context(|| format!("creating {}", config.data.display()))?;
    let dir = config.store_dir();
    let restored = match rollcall::store::restore(&dir, &mut input, &store_options(config)) {
        Ok(restored) => restored,
        Err(e) => {
            // The store's staging is gone already; so goes a data directory made for it.
            made.undo();
            return Err(e).with_context(|| format!("restoring {}", file.display()));
        }
    };
    let entries = restored.entries;
    if restored.findings.is_empty() {
        println!(
            "restored {entries} entries into {}; every index and counter agrees with the \
             records, and every reference between them holds",
            dir.display()
        );
    } else {
        // Kept as the directory had them: refusing would leave no directory at all.
        for finding in &restored.findings {
            eprintln!("warning: {finding}");
        }
        println!(
            "restored {entries} entries into {}; every index and counter agrees with the \
             records, but {} reference finding(s) came with them (above; `rollcall check` \
             lists them until they are mended)",
            dir.display(),
            restored.findings.len()
        );
    }
    Ok(())
}

/// Runs an operator command on the server that holds the data directory, through its control
/// socket, or on the store itself when no server runs (initialising it first if `initialise`;
/// otherwise a directory with no store is refused rather than given an empty one).
/// A membership command whose only userName is `-` takes the userNames from stdin, one per
/// line (blank lines skipped), for a list kept in a file or made by another command.
fn names_from_stdin(command: control::RoleCommand) -> anyhow::Result<control::RoleCommand> {
    use control::RoleCommand::{AddMember, RemoveMember};
    let read = || -> anyhow::Result<Vec<String>> {
        let names: Vec<String> = std::io::stdin()
            .lock()
            .lines()
            .map(|line| Ok(line?.trim().to_string()))
            .filter(|line| !matches!(line, Ok(l) if l.is_empty()))
            .collect::<std::io::Result<_>>()
            .context("reading userNames from stdin")?;
        if names.is_empty() {
            bail!("no userNames on stdin");
        }
        Ok(names)
    };
    Ok(match command {
        AddMember { role, user_names } if user_names == ["-"] => AddMember {
            role,
            user_names: read()?,
        },
        RemoveMember { role, user_names } if user_names == ["-"] => RemoveMember {
            role,
            user_names: read()?,
        },
        other => other,
    })
}

/// An announcement's text from stdin, whole (typed on a terminal, it ends with Ctrl-D).
fn read_text() -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the text, then Ctrl-D on a line of its own:");
    }
    const MAX: u64 = 64 * 1024;
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX + 1)
        .read_to_end(&mut bytes)
        .context("reading the text on stdin")?;
    if bytes.len() as u64 > MAX {
        bail!("the text is longer than {MAX} bytes");
    }
    let text = String::from_utf8(bytes).context("the text on stdin is not UTF-8")?;
    Ok(text)
}

fn operate(config: &Config, command: control::Command, initialise: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if control::send(&config.data, &command, &mut out)? {
        return Ok(());
    }
    if !initialise && !has_store(config) {
        bail!(
            "no store in {}: start the server there or run `rollcall init` first",
            config.data.display()
        );
    }
    let seed = initialise.then(|| bootstrap_seed(config)).transpose()?;
    let service = open(config)?;
    // `token create` on a fresh directory sets it up first: the first credentials go to
    // stderr, since stdout is for the new token alone.
    if let Some(seed) = seed
        && let Some(credentials) = self::initialise(&service, config, seed)?
    {
        print_credentials(&mut std::io::stderr(), config, &credentials);
    }
    let mut progress = progress::Progress::on_stderr("exported");
    let done = control::execute(&service, command, &mut out, &mut |n| progress.update(n, 0));
    progress.clear();
    out.flush()?;
    Ok(done?)
}

fn open(config: &Config) -> anyhow::Result<Service> {
    // Checked first: a broken template is refused before the store is opened and locked.
    let templates = Templates::load(&config.data.join("templates"))?;
    rollcall::data_dir::ensure(&config.data)
        .with_context(|| format!("creating {}", config.data.display()))?;
    // The store makes its own directory, private from the start.
    let store = SledStore::open(&config.store_dir(), &store_options(config))?;
    let policy = Policy {
        templates: Arc::new(templates),
        ..config.policy()
    };
    Ok(Service::new(Arc::new(store), policy))
}

/// Whether the data directory has a store (a first start creates one).
fn has_store(config: &Config) -> bool {
    config.store_dir().join("db").exists()
}

/// The first credentials automation chose (`ROLLCALL_BOOTSTRAP_*`). When there is no store
/// yet they are checked here, before it is created: a refused first start then leaves no
/// empty store behind for later commands to run on and a restore to refuse. Once there is
/// one, they are read only if its bootstrap never finished, and checked then.
fn bootstrap_seed(config: &Config) -> anyhow::Result<Seed> {
    let seed = Seed::from_env();
    if !has_store(config) {
        seed.check(&config.password)?;
    }
    Ok(seed)
}

fn initialise(
    service: &Service,
    config: &Config,
    seed: Seed,
) -> anyhow::Result<Option<Credentials>> {
    let credentials = bootstrap::ensure(service, seed).context("initialising the directory")?;
    rollcall::tls::ensure_material(config)?;
    Ok(credentials)
}

fn print_credentials(out: &mut dyn Write, config: &Config, c: &Credentials) {
    let shown = |secret: &str, generated: bool| {
        if generated {
            secret.to_string()
        } else {
            "(as given in the environment)".to_string()
        }
    };
    let text = format!(
        "Rollcall initialised {}\n  admin user:          {} (uid={},ou=people,{})\n  \
         admin password:      {}\n  provisioning token:  {}\nThese are shown only once: store \
         them now.\n",
        config.data.display(),
        bootstrap::ADMIN_USER,
        bootstrap::ADMIN_USER,
        config.base_dn,
        shown(&c.admin_password, c.admin_password_generated),
        shown(&c.token, c.token_generated),
    );
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn serve(config: Config) -> anyhow::Result<()> {
    let seed = bootstrap_seed(&config)?;
    let service = open(&config)?;
    // Seats taken past a limit (by commands run on the stopped store without this config, or
    // a limit lowered since): nothing is deactivated, but the admins should know.
    for usage in service.license_usage()? {
        if let Some(limit) = usage.limit.filter(|limit| usage.used > *limit) {
            tracing::warn!(
                license = %usage.license,
                used = usage.used,
                limit,
                "more licenses are in use than [licenses] allows; no one more is activated \
                 until enough are deactivated"
            );
        }
    }
    let languages: Vec<&str> = service.policy().templates.languages().collect();
    if !languages.is_empty() {
        tracing::info!(?languages, "message templates in other languages");
    }
    if let Some(credentials) = initialise(&service, &config, seed)? {
        print_credentials(&mut std::io::stdout(), &config, &credentials);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rollcall")
        .build()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            signals.cancel();
        });
        rollcall::server::run(config, service, shutdown).await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Where imported records go: the store itself, or the server that holds it.
enum Destination<'a> {
    Store(rollcall::transfer::Importer<'a>),
    Server(control::ImportSession),
}

impl Destination<'_> {
    /// The report line of a stored record, or why the line was refused; `Err` stops the import.
    fn line(&mut self, text: &str) -> anyhow::Result<Result<String, String>> {
        Ok(match self {
            Self::Store(importer) => control::import_line(importer, text),
            Self::Server(session) => session.line(text)?,
        })
    }

    fn finish(self) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            Self::Store(mut importer) => control::import_finish(&mut importer),
            Self::Server(session) => session.finish()?,
        })
    }
}

fn import(config: &Config, format: ImportFormat, update: bool) -> anyhow::Result<()> {
    if update && !matches!(format, ImportFormat::Csv) {
        bail!("--update is for CSV sheets (--format csv): an export's lines create records");
    }
    let kind = if update { "update" } else { "row" };
    let stdin = std::io::stdin();
    let lines: Box<dyn Iterator<Item = anyhow::Result<Line>>> = match format {
        ImportFormat::Jsonl => Box::new(
            stdin
                .lock()
                .lines()
                .enumerate()
                .filter(|(_, line)| line.as_ref().is_ok_and(|l| !l.trim().is_empty()))
                .map(|(n, line)| Ok((n as u64 + 1, Ok(line?)))),
        ),
        ImportFormat::Csv => {
            use rollcall::transfer::sheet::{Sheet, SheetError};
            // A bad header refuses the whole sheet before anything is stored.
            let mut sheet = Sheet::open(stdin.lock())?;
            Box::new(std::iter::from_fn(move || {
                sheet.next_row().map(|row| match row {
                    Ok((line, row)) => Ok((line, Ok(serde_json::json!({ kind: row }).to_string()))),
                    Err(SheetError::Row { row, detail }) => Ok((row, Err(detail))),
                    Err(e) => Err(e.into()),
                })
            }))
        }
    };
    // A sheet's users count rows as their spreadsheet shows them.
    let unit = match format {
        ImportFormat::Jsonl => "line",
        ImportFormat::Csv => "row",
    };
    if let Some(session) = control::ImportSession::open(&config.data)? {
        return import_into(lines, unit, Destination::Server(session));
    }
    let service = open(config)?;
    let importer = rollcall::transfer::Importer::new(&service, Actor::system(Source::Cli));
    import_into(lines, unit, Destination::Store(importer))
}

/// A line (or sheet row) of the input by its number: the import line to send, or why the row
/// could not be read.
type Line = (u64, Result<String, String>);

fn import_summary(created: u64, failed: u64) -> String {
    let records = if created == 1 { "record" } else { "records" };
    format!("imported {created} {records}, {failed} failed")
}

/// Imports `lines`; prints a report line per stored record, and per refused one its number
/// (a `unit`: line or row) and why.
fn import_into(
    lines: impl Iterator<Item = anyhow::Result<Line>>,
    unit: &str,
    mut destination: Destination,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let (mut created, mut failed) = (0u64, 0u64);
    let mut progress = progress::Progress::on_stderr("imported");
    for line in lines {
        let (n, line) = line?;
        let outcome = match line {
            Ok(line) => destination.line(&line),
            Err(why) => Ok(Err(why)),
        };
        match outcome {
            Ok(Ok(report)) => {
                created += 1;
                let mut out = stdout.lock();
                writeln!(out, "{report}")?;
                out.flush()?;
            }
            Ok(Err(why)) => {
                failed += 1;
                progress.clear();
                eprintln!("{unit} {n}: {why}");
            }
            Err(e) => {
                progress.clear();
                eprintln!("{}", import_summary(created, failed));
                return Err(e.context(format!("{unit} {n}")));
            }
        }
        progress.update(created, failed);
    }
    for why in destination.finish()? {
        failed += 1;
        progress.clear();
        eprintln!("{why}");
    }
    progress.clear();
    eprintln!("{}", import_summary(created, failed));
    if failed > 0 {
        bail!(
            "{failed} {} not imported",
            if failed == 1 {
                "record was"
            } else {
                "records were"
            }
        );
    }
    Ok(())
}

/// The log filter from `ROLLCALL_LOG` (default `info`), and why a given one was refused.
///
/// `ldap3_proto` logs an `ERROR` line for every request it cannot decode: a client's mistake,
/// which the LDAP layer answers (protocolError or a notice of disconnection) and logs at debug
/// itself. Left on, any client could fill the log with errors, so that crate is silent unless
/// the filter names it.
fn log_filter(spec: Option<String>) -> (tracing_subscriber::EnvFilter, Option<String>) {
    use tracing_subscriber::EnvFilter;
    let quiet = |spec: &str| match spec.contains("ldap3_proto") {
        true => spec.to_owned(),
        false => format!("{spec},ldap3_proto=off"),
    };
    let given = spec.filter(|s| !s.trim().is_empty());
    match given.as_deref().map(|s| EnvFilter::try_new(quiet(s))) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(quiet("info")), Some(e.to_string())),
        None => (EnvFilter::new(quiet("info")), None),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, OutboxCli, OutboxCommand};

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn outbox_lists_with_its_options_and_cancels_with_a_subcommand() {
        let parsed =
            Cli::try_parse_from(["rollcall", "outbox", "--waiting", "--kind", "activation"])
                .unwrap();
        let Command::Outbox(OutboxCli {
            command: None,
            list,
        }) = parsed.command
        else {
            panic!("a listing");
        };
        assert!(list.waiting);
        assert_eq!(list.kind.as_deref(), Some("activation"));

        let parsed = Cli::try_parse_from([
            "rollcall",
            "outbox",
            "cancel",
            "--kind",
            "announcement",
            "--since",
            "2026-12-01T00:00:00Z",
            "--id",
            "0190b6a4-0000-7000-8000-000000000000",
        ])
        .unwrap();
        let Command::Outbox(OutboxCli {
            command: Some(OutboxCommand::Cancel(selection)),
            ..
        }) = parsed.command
        else {
            panic!("a cancellation");
        };
        assert_eq!(
            selection.kind,
            Some(rollcall::outbox::MessageKind::Announcement)
        );
        assert_eq!(selection.ids.len(), 1);
        assert!(selection.since.is_some());

        for refused in [
            &["rollcall", "outbox", "cancel"][..],
            &["rollcall", "outbox", "cancel", "--kind", "postcard"],
            &["rollcall", "outbox", "cancel", "--since", "yesterday"],
            &["rollcall", "outbox", "cancel", "--id", "42"],
            &[
                "rollcall",
                "outbox",
                "--waiting",
                "cancel",
                "--kind",
                "announcement",
            ],
        ] {
            assert!(Cli::try_parse_from(refused).is_err(), "{refused:?}");
        }
    }
}
