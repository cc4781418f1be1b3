//! Operator commands (`rollcall user …`, `token …`, `licenses`, `check`, `export`, `backup`)
//! for a directory that a server holds. The store allows one process, so the command travels
//! over `<data>/control.sock`, a Unix socket the server listens on, and the server runs it;
//! with no server, the command opens the store itself. Either way the same [`execute`] runs
//! it, as the system principal from the CLI.
//!
//! The socket is the data directory owner's alone (mode 0600): whoever can open it could read
//! the store files as well, so it grants nothing new. One request line, then reply lines, JSON:
//! a long output (an export) streams as it is produced, in lines marked `more`, and the last
//! line says how the command ended. A client that goes away stops the command.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::service::Service;

mod command;

pub use command::{
    AccountCommand, Command, ControlError, RoleCommand, TokenCommand, UserCommand, execute,
};

/// The socket's file name in the data directory.
pub const SOCKET: &str = "control.sock";

/// Longest request accepted: commands are a few names.
const MAX_REQUEST: usize = 64 * 1024;

/// How long a client waits for the next reply line: a check or backup of a large directory
/// says nothing until it is done.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Output is sent in pieces of about this size, cut at line ends.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    /// What the command prints on stdout, or the next piece of it.
    out: Option<String>,
    error: Option<String>,
    /// More lines follow; absent on the last line.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    more: bool,
}

pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}

/// Sends `command` to the server holding `data` and writes its output to `out`. `Ok(false)`
/// when no server listens there (no socket, or one a stopped server left), so the caller can
/// open the store itself.
pub fn send(data: &Path, command: &Command, out: &mut dyn Write) -> Result<bool, ControlError> {
    let path = socket_path(data);
    let io = |error| ControlError::Io {
        path: path.display().to_string(),
        error,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
    let mut request = serde_json::to_vec(command)?;
    request.push(b'\n');
    stream.write_all(&request).map_err(io)?;
    let mut replies = BufReader::new(&stream);
    let mut line = String::new();
    loop {
        line.clear();
        if replies.read_line(&mut line).map_err(io)? == 0 {
            return Err(ControlError::Refused(
                "the server closed the connection before the command finished".into(),
            ));
        }
        let reply: Reply = serde_json::from_str(&line)?;
        if let Some(text) = &reply.out {
            out.write_all(text.as_bytes())?;
        }
        if let Some(error) = reply.error {
            out.flush()?;
            return Err(ControlError::Refused(error));
        }
        if !reply.more {
            out.flush()?;
            return Ok(true);
        }
    }
}

/// Output written on a blocking thread, sent on to the connection in pieces cut at line ends.
/// Once the connection is gone, writing fails, which stops the command.
struct Pieces {
    sender: tokio::sync::mpsc::Sender<String>,
    pending: Vec<u8>,
}

impl Pieces {
    fn send(&mut self, upto: usize) -> std::io::Result<()> {
        let rest = self.pending.split_off(upto);
        let piece = std::mem::replace(&mut self.pending, rest);
        let piece = String::from_utf8(piece).map_err(std::io::Error::other)?;
        self.sender
            .blocking_send(piece)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for Pieces {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= CHUNK
            && let Some(end) = self.pending.iter().rposition(|&b| b == b'\n')
        {
            self.send(end + 1)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.send(self.pending.len())
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
                "no control socket: operator commands need the server stopped");
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
    let command = match serde_json::from_slice::<Command>(&line) {
        Ok(command) => command,
        Err(e) => {
            let error = Some(format!("not a command: {e}"));
            reply(
                &mut write,
                &Reply {
                    error,
                    ..Reply::default()
                },
            )
            .await?;
            return write.shutdown().await;
        }
    };
    tracing::info!(?command, "control socket command");
    let (sender, mut pieces) = tokio::sync::mpsc::channel(4);
    let task = tokio::task::spawn_blocking(move || {
        let mut out = Pieces {
            sender,
            pending: Vec::new(),
        };
        let done = execute(&service, command, &mut out, &mut |_| {});
        // What an error leaves unsent still reaches the operator, before the error.
        out.flush().ok();
        done
    });
    let mut forwarded = Ok(());
    while let Some(out) = pieces.recv().await {
        let piece = Reply {
            out: Some(out),
            more: true,
            ..Reply::default()
        };
        forwarded = reply(&mut write, &piece).await;
        if forwarded.is_err() {
            break;
        }
    }
    // Closing the channel makes the command's next write fail, so it stops.
    drop(pieces);
    let done = task.await;
    if forwarded.is_err() {
        // An operator's `rollcall export | head`: expected, and nothing to warn about.
        tracing::info!("control socket client went away; its command stopped");
        return Ok(());
    }
    let error = match done {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("the command failed: {e}")),
    };
    reply(
        &mut write,
        &Reply {
            error,
            ..Reply::default()
        },
    )
    .await?;
    write.shutdown().await
}

async fn reply(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}
