//! Operator commands (`rollcall user …`, `token …`, `licenses`, `check`, `export`, `backup`)
//! for a directory that a server holds. The store allows one process, so the command travels
//! over `<data>/control.sock`, a Unix socket the server listens on, and the server runs it;
//! with no server, the command opens the store itself. Either way the same [`execute`] runs
//! it, as the system principal from the CLI.
//!
//! The socket is the data directory owner's alone (mode 0600): whoever can open it could read
//! the store files as well, so it grants nothing new. One request line, then reply lines, JSON:
//! a long output (an export) streams as it is produced, in lines marked `more`, and the last
//! line says how the command ended. A client that goes away stops the command. `import` is a
//! conversation: after the request, each record line gets its own reply, and the client's end
//! of input ends the command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod client;
mod command;
mod server;

pub use client::{ImportSession, send};
pub use command::{
    AccountCommand, AuditArgs, CancelArgs, Command, ControlError, OutboxArgs, ReportCommand,
    RoleCommand, TokenCommand, UserCommand, execute, import_finish, import_line,
};
pub use server::serve;

/// The socket's file name in the data directory.
pub const SOCKET: &str = "control.sock";

/// Longest request accepted: commands are a few names, or an announcement's text (at most
/// 64 KiB, which JSON escaping may double).
const MAX_REQUEST: usize = 256 * 1024;

/// Longest record line an `import` accepts.
const MAX_RECORD: usize = 1024 * 1024;

/// How long a client waits for the next reply line: a check or backup of a large directory
/// says nothing until it is done.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Output is sent in pieces of about this size, cut at line ends.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Reply {
    /// What the command prints on stdout, or the next piece of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out: Option<String>,
    /// One item failed (an import line); the command goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed: Option<String>,
    /// The command stopped with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// More lines follow; absent on the last line.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    more: bool,
}

pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}
