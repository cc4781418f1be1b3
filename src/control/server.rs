//! The server's end of the control socket: each connection is one command, run on a
//! blocking thread through the same [`execute`] as the command line's.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{
    CHUNK, Command, MAX_RECORD, MAX_REQUEST, REPLY_TIMEOUT, Reply, execute, import_finish,
    import_line, socket_path,
};
use crate::audit::Source;
use crate::service::{Actor, Service};
use crate::transfer::Importer;

/// How often a read waiting on the client looks whether the server is stopping.
const POLL: Duration = Duration::from_millis(250);

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
    // The socket was made by this process, so its owner is the server's user.
    let owner = match std::fs::metadata(&path) {
        Ok(meta) => std::os::unix::fs::MetadataExt::uid(&meta),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "control socket owner");
            drop(listener);
            let _ = std::fs::remove_file(&path);
            return;
        }
    };
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
        // The file modes keep other users out; the peer's credentials are checked as well, so
        // that loosened modes (or the moment between `bind` and `chmod`) let nobody else in.
        let peer = stream.peer_cred().map(|cred| cred.uid());
        let allowed = matches!(peer, Ok(uid) if uid == owner || uid == 0);
        if !allowed {
            tracing::warn!(
                ?peer,
                owner,
                "control socket: a connection from another user refused"
            );
        }
        // A command runs the service's blocking calls from start to end, so the whole
        // conversation has a blocking thread of its own.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "control socket connection");
                continue;
            }
        };
        let (service, shutdown) = (service.clone(), shutdown.clone());
        tokio::task::spawn_blocking(
            move || match answer(&stream, allowed, &service, &shutdown) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    // An operator's `rollcall export | head`: expected, nothing to warn about.
                    tracing::info!("control socket client went away; its command stopped");
                }
                Err(e) => tracing::warn!(error = %e, "control socket request failed"),
            },
        );
    }
    let _ = std::fs::remove_file(&path);
}

/// Runs one connection's command; one from a user other than the server's (`allowed` false)
/// gets a refusal once its request is read (read first: closing on unread data would reset
/// the connection under the answer).
fn answer(
    stream: &UnixStream,
    allowed: bool,
    service: &Service,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    // A client that stops reading (a paused pager) cannot hold the command forever.
    stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
    let mut input = BufReader::new(stream);
    let deadline = Some(Instant::now() + REQUEST_TIMEOUT);
    let request = match read_line(&mut input, MAX_REQUEST, shutdown, deadline)? {
        Incoming::Line(line) => line,
        Incoming::End | Incoming::Stopping => return Ok(()),
    };
    if !allowed {
        let why = "the control socket serves only the user the server runs as";
        return finish(stream, Some(why.into()));
    }
    let command = match serde_json::from_slice::<Command>(&request) {
        Ok(command) => command,
        Err(e) => return finish(stream, Some(format!("not a command: {e}"))),
    };
    // The kind alone: the arguments name people (and carry their addresses).
    tracing::info!(command = command.kind(), "control socket command");
    if command == Command::Import {
        return import(stream, &mut input, service, shutdown);
    }
    let mut out = Pieces {
        stream,
        pending: Vec::new(),
    };
    let done = execute(service, command, &mut out, &mut |_| {});
    // What an error leaves unsent still reaches the operator, before the error.
    out.flush()?;
    finish(stream, done.err().map(|e| e.to_string()))
}

/// `import`: one reply per record line until the client ends its input.
fn import(
    stream: &UnixStream,
    input: &mut BufReader<&UnixStream>,
    service: &Service,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    let mut importer = Importer::new(service, Actor::system(Source::Cli));
    loop {
        let line = match read_line(input, MAX_RECORD, shutdown, None) {
            Ok(Incoming::Line(line)) => line,
            Ok(Incoming::End) => break,
            Ok(Incoming::Stopping) => {
                let error =
                    "the server is stopping: this line and those after it were not imported";
                return finish(stream, Some(error.into()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return finish(stream, Some(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let reply = match String::from_utf8(line)
            .map_err(|_| "not UTF-8 text".to_string())
            .and_then(|text| import_line(&mut importer, &text))
        {
            Ok(report) => Reply {
                out: Some(report),
                more: true,
                ..Reply::default()
            },
            Err(why) => Reply {
                failed: Some(why),
                more: true,
                ..Reply::default()
            },
        };
        send(stream, &reply)?;
    }
    for why in import_finish(&mut importer) {
        let reply = Reply {
            failed: Some(why),
            more: true,
            ..Reply::default()
        };
        send(stream, &reply)?;
    }
    finish(stream, None)
}

enum Incoming {
    Line(Vec<u8>),
    /// The client ended its input.
    End,
    /// The server is stopping.
    Stopping,
}

/// Reads one line (without its end) of at most `limit` bytes, waking up to see whether the
/// server is stopping; `deadline` bounds the wait.
fn read_line(
    input: &mut BufReader<&UnixStream>,
    limit: usize,
    shutdown: &CancellationToken,
    deadline: Option<Instant>,
) -> std::io::Result<Incoming> {
    let mut line = Vec::new();
    loop {
        if shutdown.is_cancelled() {
            return Ok(Incoming::Stopping);
        }
        let room = (limit + 1).saturating_sub(line.len()) as u64;
        match input.by_ref().take(room).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return Ok(Incoming::End),
            Ok(0) => return Ok(Incoming::Line(line)),
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                return Ok(Incoming::Line(line));
            }
            Ok(_) if line.len() > limit => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a line longer than {limit} bytes"),
                ));
            }
            // The input ended without a line end: the next read says so.
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no request from the client",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn send(mut stream: &UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    stream.write_all(&bytes)
}

/// The last reply: success, or the error the command stopped with.
fn finish(stream: &UnixStream, error: Option<String>) -> std::io::Result<()> {
    send(
        stream,
        &Reply {
            error,
            ..Reply::default()
        },
    )?;
    stream.shutdown(std::net::Shutdown::Write)
}

/// A command's output, sent on in pieces cut at line ends. Once the client is gone, writing
/// fails, which stops the command.
struct Pieces<'a> {
    stream: &'a UnixStream,
    pending: Vec<u8>,
}

impl Pieces<'_> {
    fn send(&mut self, upto: usize) -> std::io::Result<()> {
        let rest = self.pending.split_off(upto);
        let piece = std::mem::replace(&mut self.pending, rest);
        let piece = String::from_utf8(piece).map_err(std::io::Error::other)?;
        send(
            self.stream,
            &Reply {
                out: Some(piece),
                more: true,
                ..Reply::default()
            },
        )
    }
}

impl Write for Pieces<'_> {
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
