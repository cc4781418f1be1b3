//! Backup files: how one is written (the same for `rollcall backup` and the schedule), and the
//! schedule of `[backup]`, which writes one into a directory every `interval_hours` and keeps
//! the newest `keep` there.
//!
//! A file appears under its final name only once it is complete and on disk: it is written as
//! `NAME.partial` (owner-only: it holds every password hash and all personal data), fsynced,
//! renamed, and the directory fsynced, so a crash leaves either the whole file or a partial one
//! that the next scheduled run removes. The schedule reads when the newest backup was taken
//! from the file names in the directory, not from the process: a server restarted every hour
//! still backs up once a day, and one that was down past its time backs up as soon as it is up.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::macros::format_description;
use tokio_util::sync::CancellationToken;

use crate::audit::Source;
use crate::config::BackupConfig;
use crate::sealed::{Recipient, SealError};
use crate::service::{Actor, Service};

/// After a failed scheduled backup (disk full, say), the next try comes this much later, or
/// one interval later if that is sooner.
const RETRY_AFTER: Duration = Duration::from_secs(600);

const PREFIX: &str = "rollcall-";
const SUFFIX: &str = ".backup";
/// Scheduled backups encrypted to `[backup] recipients` (age files).
const SEALED_SUFFIX: &str = ".backup.age";
const PARTIAL: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum BackupFileError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{0}")]
    Backup(String),
    #[error(transparent)]
    Seal(#[from] SealError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupFileError + '_ {
    move |error| BackupFileError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Writes what `backup` produces to `file`, which exists only once it is complete and durable;
/// encrypted to `recipients` if there are any (see [`crate::sealed`]). Returns what `backup`
/// returned (the number of entries).
pub fn write_file<E: Display>(
    file: &Path,
    recipients: &[Recipient],
    backup: impl FnOnce(&mut dyn Write) -> Result<u64, E>,
) -> Result<u64, BackupFileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut partial = file.as_os_str().to_owned();
    partial.push(PARTIAL);
    let partial = PathBuf::from(partial);
    // A leftover partial file goes first, since an existing file keeps its mode.
    let _ = std::fs::remove_file(&partial);
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io_error(&partial))?;
    let written = (|| {
        let (writer, entries) = write_to(std::io::BufWriter::new(out), recipients, backup)?;
        let out = writer
            .into_inner()
            .map_err(|e| io_error(&partial)(e.into_error()))?;
        out.sync_all().map_err(io_error(&partial))?;
        std::fs::rename(&partial, file).map_err(io_error(file))?;
        Ok(entries)
    })();
    match written {
        Ok(entries) => {
            // The rename is durable once the directory is.
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_error(dir))?;
            }
            Ok(entries)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            // A disk that filled up is found by the file being written.
            Err(match e {
                BackupFileError::Backup(why) => {
                    BackupFileError::Backup(format!("{}: {why}", file.display()))
                }
                other => other,
            })
        }
    }
}

/// Writes what `backup` produces to `out`, sealed to `recipients` if there are any (see
/// [`crate::sealed`]); returns `out`, the backup complete in it, and the number of entries.
pub fn write_to<W: Write, E: Display>(
    mut out: W,
    recipients: &[Recipient],
    backup: impl FnOnce(&mut dyn Write) -> Result<u64, E>,
) -> Result<(W, u64), BackupFileError> {
    let backup = |w: &mut dyn Write| backup(w).map_err(|e| BackupFileError::Backup(e.to_string()));
    if recipients.is_empty() {
        let entries = backup(&mut out)?;
        return Ok((out, entries));
    }
    crate::sealed::seal(out, recipients, backup)
}

/// `rollcall-20261204T174500Z.backup` (`.backup.age` when `sealed`): UTC, sorting by name
/// sorts by time.
pub fn file_name(at: OffsetDateTime, sealed: bool) -> String {
    let stamp = at
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let suffix = if sealed { SEALED_SUFFIX } else { SUFFIX };
    format!("{PREFIX}{stamp}{suffix}")
}

/// When the backup named `name` was taken, if `name` is one [`file_name`] makes.
fn taken_at(name: &str) -> Option<OffsetDateTime> {
    let name = name.strip_prefix(PREFIX)?;
    let stamp = name
        .strip_suffix(SEALED_SUFFIX)
        .or_else(|| name.strip_suffix(SUFFIX))?;
    time::PrimitiveDateTime::parse(
        stamp,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .ok()
    .map(time::PrimitiveDateTime::assume_utc)
}

/// The backups in `dir` (files named as [`file_name`] makes them), oldest first. Other files
/// are not Rollcall's and are left alone.
pub fn existing(dir: &Path) -> std::io::Result<Vec<(OffsetDateTime, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(at) = name.to_str().and_then(taken_at) {
            found.push((at, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The backups of [`existing`] in the order they age out: any named for a time still to come
/// first (a clock that was wrong made them: they are not the newest, and left last they would
/// outlive every real one and stop the schedule), then the rest oldest first.
fn by_age(dir: &Path) -> std::io::Result<Vec<(OffsetDateTime, PathBuf)>> {
    let now = OffsetDateTime::now_utc();
    let (mut ahead, behind): (Vec<_>, Vec<_>) =
        existing(dir)?.into_iter().partition(|(at, _)| *at > now);
    for (at, path) in &ahead {
        tracing::warn!(
            file = %path.display(),
            named_for = %at,
            "a backup is named for a time still to come (a wrong clock?); it is not taken for \
             the newest and is the first pruned"
        );
    }
    ahead.extend(behind);
    Ok(ahead)
}

/// Removes all but the newest `keep` backups in `dir`, and partial files that a crash left.
/// Returns what it removed.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let backups = by_age(dir)?;
    let surplus = backups.len().saturating_sub(keep);
    for (_, path) in backups.into_iter().take(surplus) {
        std::fs::remove_file(&path)?;
        removed.push(path);
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let leftover = name
            .to_str()
            .and_then(|n| n.strip_suffix(PARTIAL))
            .is_some_and(|n| taken_at(n).is_some());
        if leftover {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Outcomes of scheduled backups, for `/metrics`.
#[derive(Debug, Default)]
pub struct BackupStats {
    /// When the newest backup in the directory was taken (seconds since the Unix epoch; 0:
    /// none yet). Read from the directory at start, so it survives restarts.
    pub last_success: AtomicI64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
}

/// Writes a backup into `config.dir` every `config.interval_hours` until `shutdown`; a backup
/// under way when it comes is finished first.
pub async fn run(
    service: Service,
    config: BackupConfig,
    stats: Arc<BackupStats>,
    shutdown: CancellationToken,
) {
    let Some(dir) = config.dir.clone() else {
        return;
    };
    let interval = Duration::from_secs(u64::from(config.interval_hours) * 3600);
    let newest = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || by_age(&dir))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|found| found.last().map(|(at, _)| *at))
            .filter(|at| *at <= OffsetDateTime::now_utc())
    };
    if let Some(at) = newest {
        stats
            .last_success
            .store(at.unix_timestamp(), Ordering::Relaxed);
    }
    let mut next = match newest {
        Some(at) => at + interval,
        None => OffsetDateTime::now_utc(),
    };
    tracing::info!(
        dir = %dir.display(),
        interval_hours = config.interval_hours,
        keep = config.keep,
        "scheduled backups"
    );
    loop {
        let wait = (next - OffsetDateTime::now_utc())
            .try_into()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let (service, dir, keep) = (service.clone(), dir.clone(), config.keep);
        let recipients = config.recipients.clone();
        let done =
            tokio::task::spawn_blocking(move || take(&service, &dir, keep, &recipients)).await;
        match done {
            Ok(Ok(at)) => {
                stats
                    .last_success
                    .store(at.unix_timestamp(), Ordering::Relaxed);
                stats.succeeded.fetch_add(1, Ordering::Relaxed);
                next = at + interval;
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("backup task failed: {e}"),
                    Ok(Ok(_)) => unreachable!("handled above"),
                };
                stats.failed.fetch_add(1, Ordering::Relaxed);
                let retry = RETRY_AFTER.min(interval);
                tracing::error!(
                    error = %error,
                    retry_in_seconds = retry.as_secs(),
                    "scheduled backup failed"
                );
                next = OffsetDateTime::now_utc() + retry;
            }
        }
    }
}

/// One scheduled backup: written, then older ones pruned. Returns when it was taken.
fn take(
    service: &Service,
    dir: &Path,
    keep: usize,
    recipients: &[Recipient],
) -> Result<OffsetDateTime, BackupFileError> {
    let at = OffsetDateTime::now_utc();
    let file = dir.join(file_name(at, !recipients.is_empty()));
    let started = Instant::now();
    let actor = Actor::system(Source::System);
    let entries = write_file(&file, recipients, |out| service.backup(&actor, out))?;
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        file = %file.display(),
        entries,
        bytes,
        seconds = started.elapsed().as_secs_f64(),
        "backup written"
    );
    match prune(dir, keep) {
        Ok(removed) => {
            for path in removed {
                tracing::info!(file = %path.display(), "old backup removed");
            }
        }
        // The new backup is there: a file that could not go is no reason to call it failed.
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "old backups not removed"),
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_carry_the_time_and_sort_by_it() {
        let at = datetime!(2026-12-04 17:45:09 UTC);
        assert_eq!(file_name(at, false), "rollcall-20261204T174509Z.backup");
        assert_eq!(file_name(at, true), "rollcall-20261204T174509Z.backup.age");
        assert_eq!(taken_at(&file_name(at, false)), Some(at));
        assert_eq!(taken_at(&file_name(at, true)), Some(at));
        let later = file_name(datetime!(2027-01-01 00:00:00 UTC), false);
        assert!(file_name(at, false) < later);
        for other in [
            "rollcall-1733333333.backup",
            "rollcall-20261204T174509Z.backup.partial",
            "rollcall-20261204T174509Z.backup.age.partial",
            "notes.txt",
            "rollcall-20261304T174509Z.backup",
        ] {
            assert_eq!(taken_at(other), None, "{other}");
        }
    }

    #[test]
    fn pruning_keeps_the_newest_and_leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "rollcall-20261201T000000Z.backup",
            "rollcall-20261202T000000Z.backup.age",
            "rollcall-20261203T000000Z.backup",
            "rollcall-20261203T120000Z.backup.partial",
            "README",
            "rollcall-export.json",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut removed = prune(dir.path(), 2).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            vec![dir.path().join(names[0]), dir.path().join(names[3]),]
        );
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [names[4], names[1], names[2], names[5]]);
    }

    #[test]
    fn a_backup_named_for_a_time_to_come_is_the_first_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "rollcall-20261201T000000Z.backup",
            "rollcall-20261202T000000Z.backup",
            "rollcall-29991201T000000Z.backup",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = prune(dir.path(), 2).unwrap();
        assert_eq!(removed, vec![dir.path().join(names[2])]);
    }

    #[test]
    fn a_failed_backup_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(file_name(OffsetDateTime::now_utc(), false));
        let failed = write_file(&file, &[], |out| {
            out.write_all(b"half").map_err(|e| e.to_string())?;
            Err::<u64, _>("disk full".to_string())
        });
        let expected = format!("{}: disk full", file.display());
        assert!(matches!(failed, Err(BackupFileError::Backup(e)) if e == expected));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let entries = write_file(&file, &[], |out| {
            out.write_all(b"whole").map_err(|e| e.to_string())?;
            Ok::<_, String>(1)
        })
        .unwrap();
        assert_eq!(entries, 1);
        assert_eq!(std::fs::read(&file).unwrap(), b"whole");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
}
