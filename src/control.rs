//! Operator commands (`rollcall user …`, `rollcall token …`, `rollcall licenses`) for a
//! directory that a server holds. The store allows one process, so the command travels over
//! `<data>/control.sock`, a Unix socket the server listens on, and the server runs it; with no
//! server, the command opens the store itself. Either way the same [`execute`] runs it, as the
//! system principal from the CLI.
//!
//! The socket is the data directory owner's alone (mode 0600): whoever can open it could read
//! the store files as well, so it grants nothing new. One request line, one reply line, JSON.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::audit::Source;
use crate::service::{Actor, Service, ServiceError};

/// The socket's file name in the data directory.
pub const SOCKET: &str = "control.sock";

/// Longest request accepted: commands are a few names.
const MAX_REQUEST: usize = 64 * 1024;

/// How long a client waits for the server's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// An operator command, as the CLI parses it and the socket carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    User(UserCommand),
    Token(TokenCommand),
    Licenses,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum UserCommand {
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
    #[error("{context}{source}")]
    Service {
        context: String,
        source: ServiceError,
    },
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The server's answer to a command it could not run.
    #[error("{0}")]
    Refused(String),
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl From<ServiceError> for ControlError {
    fn from(source: ServiceError) -> Self {
        Self::Service {
            context: String::new(),
            source,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Reply {
    /// What the command prints on stdout.
    out: Option<String>,
    error: Option<String>,
}

/// Runs `command`; returns what it prints on stdout.
pub fn execute(service: &Service, command: Command) -> Result<String, ControlError> {
    let actor = Actor::system(Source::Cli);
    Ok(match command {
        Command::User(UserCommand::Unlock { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.unlock_user(&actor, user.id)?;
            format!("unlocked {}\n", user.user_name)
        }
        Command::User(UserCommand::SignOut { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.revoke_all_sessions(&actor, user.id)?;
            format!("ended every session of {}\n", user.user_name)
        }
        Command::User(UserCommand::ResetPassword { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let password = service.generate_password();
            service.set_password(&actor, user.id, &password)?;
            // A lockout would keep the new password from working.
            service.unlock_user(&actor, user.id)?;
            format!("{password}\n")
        }
        Command::User(UserCommand::RemoveMfa { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.remove_totp(&actor, Some(user.id))?;
            format!("removed the authenticator of {}\n", user.user_name)
        }
        Command::Token(TokenCommand::Create {
            name,
            account,
            expires_days,
        }) => {
            let principal =
                service
                    .user_by_name(&actor, &account)
                    .map_err(|source| ControlError::Service {
                        context: format!("service account {account:?}: "),
                        source,
                    })?;
            let expires = expires_days
                .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d.into()));
            let token = service.create_api_token(&actor, &name, principal.id, None, expires)?;
            format!("{token}\n")
        }
        Command::Token(TokenCommand::List) => {
            let mut out = String::new();
            for token in service.api_tokens(&actor)? {
                out.push_str(&serde_json::to_string(&token)?);
                out.push('\n');
            }
            out
        }
        Command::Token(TokenCommand::Revoke { token }) => {
            let revoked = service.revoke_api_token(&actor, &token)?;
            format!("revoked {} ({})\n", revoked.name, revoked.id)
        }
        Command::Licenses => {
            let mut out = String::new();
            for usage in service.license_usage()? {
                let limit = usage
                    .limit
                    .map_or("unlimited".to_string(), |l| l.to_string());
                out.push_str(&format!("{:<9} {}/{}\n", usage.license, usage.used, limit));
            }
            out
        }
    })
}

pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}

/// Sends `command` to the server holding `data`. `Ok(None)` when no server listens there (no
/// socket, or one a stopped server left), so the caller can open the store itself.
pub fn send(data: &Path, command: &Command) -> Result<Option<String>, ControlError> {
    let path = socket_path(data);
    let io = |source| ControlError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
    let mut request = serde_json::to_vec(command)?;
    request.push(b'\n');
    stream.write_all(&request).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(io)?;
    let reply: Reply = serde_json::from_str(&line)?;
    match (reply.out, reply.error) {
        (Some(out), None) => Ok(Some(out)),
        (_, Some(error)) => Err(ControlError::Refused(error)),
        (None, None) => Err(ControlError::Refused("empty reply".into())),
    }
}

/// Listens on `<data>/control.sock` until `shutdown`. A socket that cannot be made (a path too
/// long for a Unix socket, a read-only directory) is logged, not fatal: the commands then need
/// the server stopped, as before.
pub async fn serve(data: PathBuf, service: Service, shutdown: CancellationToken) {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(&data);
    // One left by a server that did not stop cleanly: nobody listens on it.
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e,
                "no control socket: `rollcall user`, `token` and `licenses` need the server stopped");
            return;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "control socket permissions");
        drop(listener);
        let _ = std::fs::remove_file(&path);
        return;
    }
    loop {
        let stream = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    continue;
                }
            },
        };
        let service = service.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, service).await {
                tracing::warn!(error = %e, "control socket request failed");
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn answer(stream: tokio::net::UnixStream, service: Service) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut limited = tokio::io::AsyncReadExt::take(read, MAX_REQUEST as u64);
    tokio::io::BufReader::new(&mut limited)
        .read_until(b'\n', &mut line)
        .await?;
    let reply = match serde_json::from_slice::<Command>(&line) {
        Ok(command) => {
            tracing::info!(?command, "control socket command");
            match tokio::task::spawn_blocking(move || execute(&service, command)).await {
                Ok(Ok(out)) => Reply {
                    out: Some(out),
                    error: None,
                },
                Ok(Err(e)) => Reply {
                    out: None,
                    error: Some(e.to_string()),
                },
                Err(e) => Reply {
                    out: None,
                    error: Some(format!("the command failed: {e}")),
                },
            }
        }
        Err(e) => Reply {
            out: None,
            error: Some(format!("not a command: {e}")),
        },
    };
    let mut bytes = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}
