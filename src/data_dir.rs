//! The data directory holds password hashes, token digests, the TLS key and the control
//! socket: it is created private to its owner, and one that others can enter is reported at
//! every start.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700; warns when an existing one is open to
/// the group or others. An existing directory's mode is the administrator's to change, not
/// ours: it may be shared on purpose (a backup agent's group).
pub fn ensure(dir: &Path) -> std::io::Result<()> {
    let mode = created_private(dir)?;
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
pub fn private(dir: &Path) -> std::io::Result<()> {
    let mode = created_private(dir)?;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        tracing::info!(
            dir = %dir.display(),
            was = format!("{:o}", mode & 0o777),
            "closed to other users (mode 700): it holds password hashes and keys"
        );
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 if it is not there; returns its mode.
fn created_private(dir: &Path) -> std::io::Result<u32> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    Ok(std::fs::metadata(dir)?.permissions().mode())
}
