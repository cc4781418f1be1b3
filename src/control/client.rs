//! The command line's end of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::{Command, ControlError, REPLY_TIMEOUT, Reply, socket_path};

/// Connects to the server holding `data` and sends `command`. `Ok(None)` when no server
/// listens there (no socket, or one a stopped server left), so the caller can open the store
/// itself.
fn request(data: &Path, command: &Command) -> Result<Option<Connection>, ControlError> {
    let path = socket_path(data);
    let stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io_error(data, e)),
    };
    let mut connection = Connection {
        replies: BufReader::new(stream.try_clone().map_err(|e| io_error(data, e))?),
        stream,
        data: data.to_path_buf(),
        line: String::new(),
    };
    connection
        .stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| io_error(data, e))?;
    connection.write_line(&serde_json::to_string(command)?)?;
    Ok(Some(connection))
}

fn io_error(data: &Path, error: std::io::Error) -> ControlError {
    ControlError::Io {
        path: socket_path(data).display().to_string(),
        error,
    }
}

struct Connection {
    stream: UnixStream,
    replies: BufReader<UnixStream>,
    data: std::path::PathBuf,
    line: String,
}

impl Connection {
    fn write_line(&mut self, text: &str) -> Result<(), ControlError> {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.stream
            .write_all(&bytes)
            .map_err(|e| io_error(&self.data, e))
    }

    fn reply(&mut self) -> Result<Reply, ControlError> {
        self.line.clear();
        let read = self
            .replies
            .read_line(&mut self.line)
            .map_err(|e| io_error(&self.data, e))?;
        // Nothing, or a reply cut short (no line end): the server went away mid-command.
        if read == 0 || !self.line.ends_with('\n') {
            return Err(ControlError::Refused(
                "the server closed the connection before the command finished (it stopped?); \
                 any output so far is incomplete"
                    .into(),
            ));
        }
        Ok(serde_json::from_str(&self.line)?)
    }
}

/// Sends `command` to the server holding `data` and writes its output to `out` (and what
/// failed along the way to stderr). `Ok(false)` when no server listens there.
pub fn send(data: &Path, command: &Command, out: &mut dyn Write) -> Result<bool, ControlError> {
    let Some(mut connection) = request(data, command)? else {
        return Ok(false);
    };
    loop {
        let reply = connection.reply()?;
        if let Some(text) = &reply.out {
            out.write_all(text.as_bytes())?;
        }
        if let Some(failed) = &reply.failed {
            eprintln!("{failed}");
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

/// An `import` run by the server: one record line out, its outcome back.
pub struct ImportSession {
    connection: Connection,
}

impl ImportSession {
    /// `Ok(None)` when no server holds `data`.
    pub fn open(data: &Path) -> Result<Option<Self>, ControlError> {
        Ok(request(data, &Command::Import)?.map(|connection| Self { connection }))
    }

    /// Imports one record line: `Ok(Ok(report))` once it is durably stored, `Ok(Err(why))`
    /// when the line was refused, `Err` when the import cannot go on.
    pub fn line(&mut self, text: &str) -> Result<Result<String, String>, ControlError> {
        if let Err(e) = self.connection.write_line(text) {
            // A server that ended the import (it is stopping) said why before it closed.
            return Err(match self.connection.reply() {
                Ok(Reply {
                    error: Some(error), ..
                }) => ControlError::Refused(error),
                _ => e,
            });
        }
        let reply = self.connection.reply()?;
        match reply {
            Reply {
                error: Some(error), ..
            } => Err(ControlError::Refused(error)),
            Reply {
                out: Some(report), ..
            } => Ok(Ok(report)),
            Reply {
                failed: Some(why), ..
            } => Ok(Err(why)),
            _ => Err(ControlError::Refused(
                "the server did not answer the line".into(),
            )),
        }
    }

    /// Ends the input; returns what failed at the end (managers that could not be set).
    pub fn finish(mut self) -> Result<Vec<String>, ControlError> {
        self.connection
            .stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| io_error(&self.connection.data, e))?;
        let mut failed = Vec::new();
        loop {
            let reply = self.connection.reply()?;
            if let Some(error) = reply.error {
                return Err(ControlError::Refused(error));
            }
            failed.extend(reply.failed);
            if !reply.more {
                return Ok(failed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that goes away in the middle of a reply leaves a line without its end: that
    /// is said as the server having gone, not as the JSON parser's complaint about it.
    #[test]
    fn a_reply_cut_short_says_the_server_went_away() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut connection = Connection {
            replies: BufReader::new(ours.try_clone().unwrap()),
            stream: ours,
            data: std::path::PathBuf::from("/nowhere"),
            line: String::new(),
        };
        let mut server = theirs;
        server
            .write_all(b"{\"out\":\"alice\\n\",\"more\":true}\n{\"out\":\"bo")
            .unwrap();
        drop(server);
        let first = connection.reply().expect("a whole reply");
        assert_eq!(first.out.as_deref(), Some("alice\n"));
        let cut = connection
            .reply()
            .expect_err("a reply cut short")
            .to_string();
        assert!(
            cut.contains("closed the connection") && cut.contains("incomplete"),
            "{cut}"
        );
    }
}
