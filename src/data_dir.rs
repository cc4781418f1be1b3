//! The data directory holds password hashes, token digests, the TLS key and the control
//! socket: it is created private to its owner, and one that others can enter is reported at
//! every start.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700; warns when an existing one is open to
/// the group or others. An existing directory's mode is the administrator's to change, not
/// ours: it may be shared on purpose (a backup agent's group).
pub fn ensure(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
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
