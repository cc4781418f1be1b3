//! The data directory holds password hashes, token digests, the TLS key and the control
//! socket: it is created private to its owner, and one that others can enter is reported at
//! every start.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) with mode 0700; warns when an existing one is open to
/// the group or others. An existing directory's mode is the administrator's to change, not
/// ours: it may be shared on purpose (a backup agent's group).
pub fn ensure(dir: &Path) -> std::io::Result<()> {
    let (mode, _) = created_private(dir)?;
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is open to other users, and it holds password hashes: \
             `chmod 700` it"
        );
    }
    Ok(())
}

/// Makes `dir`, one of Rollcall's own directories inside the data directory (the store, its
/// restore staging, the generated TLS key), private to the owner: created 0700, and an
/// existing one closed to 0700. Its files are made with the process's umask, so a data
/// directory made beforehand with 0755 (`install -d`, systemd's `StateDirectory=`) would
/// otherwise let any local user read the password hashes and the session signing key.
/// Closing one that was there before is logged; one made here is private from the start.
pub fn private(dir: &Path) -> std::io::Result<()> {
    let (mode, existed) = created_private(dir)?;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if existed {
            tracing::info!(
                dir = %dir.display(),
                was = format!("{:o}", mode & 0o777),
                "closed to other users (mode 700): it holds password hashes and keys"
            );
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 if it is not there; returns its mode and
/// whether it was there before.
fn created_private(dir: &Path) -> std::io::Result<(u32, bool)> {
    let existed = dir.is_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    Ok((std::fs::metadata(dir)?.permissions().mode(), existed))
}

/// The directories a command made for a data directory, so that it can take them away again
/// if it fails: a refused restore leaves no empty data directory behind for the next attempt to
/// find. Only directories that were not there before are listed.
#[derive(Debug, Default)]
#[must_use = "removed only by `undo`"]
pub struct Made {
    /// Deepest first.
    dirs: Vec<PathBuf>,
}

impl Made {
    /// Removes the directories made, deepest first, each only while it is empty: what anyone
    /// (this command included) has put in one keeps it, and every directory above it.
    pub fn undo(self) {
        for dir in &self.dirs {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// [`ensure`], telling which directories it made.
pub fn ensure_made(dir: &Path) -> std::io::Result<Made> {
    let dirs = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    ensure(dir)?;
    Ok(Made { dirs })
}
