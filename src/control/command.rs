//! The operator commands themselves: what each one does through the core service, as the
//! system principal from the CLI, whether a server or the command line process runs it.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::audit::Source;
use crate::model::User;
use crate::service::{Actor, Plan, Service, ServiceError};
use crate::transfer::{Importer, without_secrets};

/// An operator command, as the CLI parses it and the socket carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    User(UserCommand),
    Role(RoleCommand),
    Account(AccountCommand),
    Token(TokenCommand),
    Licenses,
    /// Cross-check every index and counter against the records.
    Check,
    /// Every account, role and readable user as JSON lines.
    Export,
    /// Records in the `export` format, one per line after the request; see [`import_line`].
    Import,
    /// A backup of the whole store to `file`, an absolute path: the server resolves nothing
    /// against its own working directory.
    Backup {
        file: PathBuf,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum UserCommand {
    /// One line per user: userName, kind, license type, status (tab-separated).
    List {
        /// JSON lines instead, in the `export` format (never secrets).
        #[arg(long)]
        json: bool,
    },
    /// A user as JSON (never secrets), with the names of its roles and account.
    Show {
        /// userName of the user.
        user_name: String,
    },
    /// Activate a user under the license rules: refused, naming the type and its usage, when
    /// no license is free.
    Activate {
        /// userName of the user.
        user_name: String,
    },
    /// Deactivate a user: it keeps its data and roles but cannot sign in or bind, and its
    /// license is freed.
    Deactivate {
        /// userName of the user.
        user_name: String,
    },
    /// Lift a lockout after failed logins.
    Unlock {
        /// userName of the locked user.
        user_name: String,
    },
    /// End every session of a user.
    SignOut {
        /// userName of the user.
        user_name: String,
    },
    /// Set a new generated password, print it once, and lift any lockout: the way back in for
    /// an administrator who lost their password.
    ResetPassword {
        /// userName of the user.
        user_name: String,
    },
    /// Remove a user's authenticator (TOTP), for one who lost the device; the user can enrol
    /// again after signing in.
    RemoveMfa {
        /// userName of the user.
        user_name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum RoleCommand {
    /// One line per role: name, type (or `group`), `administrator` or `-`, member count
    /// (tab-separated).
    List {
        /// JSON lines instead, in the `export` format.
        #[arg(long)]
        json: bool,
    },
    /// The userNames of a role's members, one per line.
    Members {
        /// Name of the role.
        role: String,
    },
    /// Grant a role to a user; the role's type must match the user's license type. Granting
    /// a role the user holds changes nothing.
    AddMember {
        /// Name of the role.
        role: String,
        /// userName of the user.
        user_name: String,
    },
    /// Take a role from a user (refused for the last active administrator).
    RemoveMember {
        /// Name of the role.
        role: String,
        /// userName of the user.
        user_name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum AccountCommand {
    /// One line per account: name, parent account or `-`, `licensed` or `-` (tab-separated).
    List {
        /// JSON lines instead, in the `export` format.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print only the token.
    Create {
        /// A label for the token, e.g. the identity provider using it.
        #[arg(long)]
        name: String,
        /// The api service account the token acts as.
        #[arg(long, default_value = crate::bootstrap::PROVISIONING_ACCOUNT)]
        account: String,
        /// Days until the token stops working (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens (never their secrets) as JSON lines.
    List,
    /// Revoke a token by id, or by name when one live token has it.
    Revoke {
        /// Token id or name.
        token: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    // The messages carry their causes rather than chaining them: a server sends only the
    // message back to the operator.
    #[error("{context}{error}")]
    Service {
        context: String,
        error: ServiceError,
    },
    #[error("{0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Transfer(#[from] crate::transfer::TransferError),
    #[error(transparent)]
    Backup(#[from] crate::backups::BackupFileError),
    #[error("{0} inconsistencies")]
    Inconsistent(usize),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    /// The server's answer to a command it could not run.
    #[error("{0}")]
    Refused(String),
    #[error("control socket {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

impl From<serde_json::Error> for ControlError {
    fn from(error: serde_json::Error) -> Self {
        Self::Json(error)
    }
}

impl From<std::io::Error> for ControlError {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error)
    }
}

impl From<ServiceError> for ControlError {
    fn from(error: ServiceError) -> Self {
        Self::Service {
            context: String::new(),
            error,
        }
    }
}

/// Runs `command`, writing what it prints on stdout to `out`; `progress` hears how many
/// records a long command has done.
pub fn execute(
    service: &Service,
    command: Command,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ControlError> {
    let actor = Actor::system(Source::Cli);
    match command {
        Command::User(UserCommand::List { json }) => {
            list_users(service, &actor, json, out)?;
        }
        Command::User(UserCommand::Show { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            show_user(service, &actor, &user, out)?;
        }
        Command::User(UserCommand::Activate { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let user = service.set_active(&actor, user.id, true, None)?;
            writeln!(out, "activated {} ({})", user.user_name, user.license)?;
        }
        Command::User(UserCommand::Deactivate { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let user = service.set_active(&actor, user.id, false, None)?;
            writeln!(out, "deactivated {}", user.user_name)?;
        }
        Command::Role(RoleCommand::List { json }) => {
            for role in service.roles(&actor)? {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&role)?)?;
                    continue;
                }
                let members = service.role_members(&actor, role.id)?.len();
                let kind = role
                    .role_type
                    .map_or("group".to_string(), |t| t.to_string());
                let admin = if role.administrator {
                    "administrator"
                } else {
                    "-"
                };
                writeln!(out, "{}\t{kind}\t{admin}\t{members}", role.name)?;
            }
        }
        Command::Role(RoleCommand::Members { role }) => {
            let role = service.role_by_name(&actor, &role)?;
            for member in service.role_members(&actor, role.id)? {
                writeln!(out, "{}", service.user(&actor, member)?.user_name)?;
            }
        }
        Command::Role(RoleCommand::AddMember { role, user_name }) => {
            let role = service.role_by_name(&actor, &role)?;
            let user = service.user_by_name(&actor, &user_name)?;
            service.add_member(&actor, role.id, user.id)?;
            writeln!(out, "{} holds {}", user.user_name, role.name)?;
        }
        Command::Role(RoleCommand::RemoveMember { role, user_name }) => {
            let role = service.role_by_name(&actor, &role)?;
            let user = service.user_by_name(&actor, &user_name)?;
            service.remove_member(&actor, role.id, user.id)?;
            writeln!(out, "{} no longer holds {}", user.user_name, role.name)?;
        }
        Command::Account(AccountCommand::List { json }) => {
            let accounts = service.accounts(&actor)?;
            let names: std::collections::HashMap<_, _> =
                accounts.iter().map(|a| (a.id, a.name.clone())).collect();
            for account in &accounts {
                if json {
                    writeln!(out, "{}", serde_json::to_string(account)?)?;
                    continue;
                }
                let parent = account
                    .parent
                    .and_then(|p| names.get(&p))
                    .map_or("-", String::as_str);
                let licensed = if account.licensed { "licensed" } else { "-" };
                writeln!(out, "{}\t{parent}\t{licensed}", account.name)?;
            }
        }
        Command::User(UserCommand::Unlock { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.unlock_user(&actor, user.id)?;
            writeln!(out, "unlocked {}", user.user_name)?;
        }
        Command::User(UserCommand::SignOut { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.revoke_all_sessions(&actor, user.id)?;
            writeln!(out, "ended every session of {}", user.user_name)?;
        }
        Command::User(UserCommand::ResetPassword { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let password = service.generate_password();
            service.set_password(&actor, user.id, &password)?;
            // A lockout would keep the new password from working.
            service.unlock_user(&actor, user.id)?;
            writeln!(out, "{password}")?;
        }
        Command::User(UserCommand::RemoveMfa { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.remove_totp(&actor, Some(user.id))?;
            writeln!(out, "removed the authenticator of {}", user.user_name)?;
        }
        Command::Token(TokenCommand::Create {
            name,
            account,
            expires_days,
        }) => {
            let principal =
                service
                    .user_by_name(&actor, &account)
                    .map_err(|error| ControlError::Service {
                        context: format!("service account {account:?}: "),
                        error,
                    })?;
            let expires = expires_days
                .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d.into()));
            let token = service.create_api_token(&actor, &name, principal.id, None, expires)?;
            writeln!(out, "{token}")?;
        }
        Command::Token(TokenCommand::List) => {
            for token in service.api_tokens(&actor)? {
                writeln!(out, "{}", serde_json::to_string(&token)?)?;
            }
        }
        Command::Token(TokenCommand::Revoke { token }) => {
            let revoked = service.revoke_api_token(&actor, &token)?;
            writeln!(out, "revoked {} ({})", revoked.name, revoked.id)?;
        }
        Command::Licenses => {
            for usage in service.license_usage()? {
                let limit = usage
                    .limit
                    .map_or("unlimited".to_string(), |l| l.to_string());
                writeln!(out, "{:<9} {}/{}", usage.license, usage.used, limit)?;
            }
        }
        Command::Check => {
            let problems = service.verify()?;
            if !problems.is_empty() {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
                return Err(ControlError::Inconsistent(problems.len()));
            }
            writeln!(out, "ok: every index and counter agrees with the records")?;
        }
        Command::Export => {
            crate::transfer::export(service, &actor, out, progress)?;
        }
        Command::Import => {
            return Err(ControlError::Refused(
                "import reads its records line by line; run it with `rollcall import`".into(),
            ));
        }
        Command::Backup { file } => {
            let entries = crate::backups::write_file(&file, |out| service.backup(&actor, out))?;
            writeln!(
                out,
                "backup of {entries} entries written to {}",
                file.display()
            )?;
        }
    }
    Ok(())
}

/// `user list`: streamed, so a large directory is never held in memory.
fn list_users(
    service: &Service,
    actor: &Actor,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), ControlError> {
    let now = time::OffsetDateTime::now_utc();
    service.try_list_users(actor, &Plan::Scan, &mut |user| {
        if json {
            writeln!(out, "{}", serde_json::to_string(&without_secrets(user))?)?;
            return Ok(());
        }
        let mut status = if user.active { "active" } else { "inactive" }.to_string();
        if user.locked_until.is_some_and(|t| t > now) {
            status.push_str(",locked");
        }
        writeln!(
            out,
            "{}\t{}\t{}\t{status}",
            user.user_name, user.kind, user.license
        )?;
        Ok::<(), ControlError>(())
    })
}

/// `user show`: the export record, pretty, with the names an operator looks for next to the
/// ids.
fn show_user(
    service: &Service,
    actor: &Actor,
    user: &User,
    out: &mut dyn Write,
) -> Result<(), ControlError> {
    let mut shown = serde_json::to_value(without_secrets(user))?;
    let mut roles = Vec::with_capacity(user.roles.len());
    for id in &user.roles {
        roles.push(service.role(actor, *id)?.name);
    }
    shown["role_names"] = roles.into();
    if let Some(account) = user.account {
        shown["account_name"] = service.account(actor, account)?.name.into();
    }
    if let Some(manager) = user.manager {
        // A manager the operator cannot read (or one anonymised) shows as its id only.
        if let Ok(manager) = service.user(actor, manager) {
            shown["manager_name"] = manager.user_name.into();
        }
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
    Ok(())
}

/// Imports one record line: the report line once it is durably stored, or why it was not.
pub fn import_line(importer: &mut Importer, text: &str) -> Result<String, String> {
    importer
        .line(text)
        .map(|imported| imported.report().to_string())
        .map_err(|e| e.to_string())
}

/// Ends an import: sets the managers that referred to users later in the input; returns what
/// could not be set.
pub fn import_finish(importer: &mut Importer) -> Vec<String> {
    importer
        .finish()
        .into_iter()
        .map(|(user, e)| format!("user {user}: manager not set: {e}"))
        .collect()
}
