//! Backups encrypted to age recipients (<https://age-encryption.org/v1>). A backup holds every
//! password hash and all personal data, and it is meant to leave the machine; sealed to the
//! public key of an `age` identity kept elsewhere, it can sit on any storage. The server needs
//! only the public key, and the file is a standard age file: `age -d -i key.txt` opens it as
//! well as `rollcall restore --identity key.txt` does.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How every age file starts.
const MAGIC: &[u8] = b"age-encryption.org/";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the backup is encrypted (age); give the identity that opens it with --identity FILE")]
    IdentityNeeded,
    #[error("identity file {path}: {reason}")]
    Identity { path: String, reason: String },
    #[error("opening the encrypted backup: {0}")]
    Decrypt(String),
    #[error("encrypting the backup: {0}")]
    Encrypt(String),
    #[error("reading the backup: {0}")]
    Io(#[from] std::io::Error),
}

/// An age public key (`age1…`), which backups are encrypted to.
#[derive(Clone)]
pub struct Recipient(age::x25519::Recipient);

impl FromStr for Recipient {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<age::x25519::Recipient>()
            .map(Recipient)
            .map_err(|e| format!("{s:?} is not an age recipient (a public key like age1…): {e}"))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Writes what `write` produces to `out`, encrypted to `recipients` (at least one); returns
/// `out` and what `write` returned once the age stream is finished.
pub fn seal<W: Write, T, E: From<SealError>>(
    out: W,
    recipients: &[Recipient],
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<(W, T), E> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| &r.0 as &dyn age::Recipient))
            .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let mut sealed = encryptor.wrap_output(out).map_err(SealError::Io)?;
    let value = write(&mut sealed)?;
    // Without the last chunk the file would not open: finishing is part of writing it.
    let out = sealed.finish().map_err(SealError::Io)?;
    Ok((out, value))
}

/// The plain backup in `input`, which may be sealed: then it is opened with the identities in
/// `identity_file` (an age identity file, `AGE-SECRET-KEY-1…` lines).
pub fn open<'a, R: BufRead + 'a>(
    mut input: R,
    identity_file: Option<&Path>,
) -> Result<Box<dyn BufRead + 'a>, SealError> {
    if !is_sealed(input.fill_buf()?) {
        return Ok(Box::new(input));
    }
    let path = identity_file.ok_or(SealError::IdentityNeeded)?;
    let identity_error = |reason: String| SealError::Identity {
        path: path.display().to_string(),
        reason,
    };
    let identities = age::IdentityFile::from_file(path.display().to_string())
        .map_err(|e| identity_error(e.to_string()))?
        .into_identities()
        .map_err(|e| identity_error(e.to_string()))?;
    let decryptor =
        age::Decryptor::new_buffered(input).map_err(|e| SealError::Decrypt(e.to_string()))?;
    let plain = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    Ok(Box::new(BufReader::new(plain)))
}

/// Whether `bytes` start an age file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;
    use std::io::Read;

    #[test]
    fn a_sealed_backup_opens_only_with_its_identity() {
        let identity = age::x25519::Identity::generate();
        let recipient: Recipient = identity.to_public().to_string().parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.txt");
        std::fs::write(&key, identity.to_string().expose_secret()).unwrap();
        let other = dir.path().join("other.txt");
        std::fs::write(
            &other,
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret(),
        )
        .unwrap();

        let (file, n) = seal(Vec::new(), &[recipient], |w| {
            w.write_all(b"{\"rollcall_backup\":1}\n")?;
            Ok::<_, SealError>(1)
        })
        .unwrap();
        assert_eq!(n, 1);
        assert!(is_sealed(&file));
        assert!(!String::from_utf8_lossy(&file).contains("rollcall_backup"));

        let mut plain = String::new();
        open(file.as_slice(), Some(&key))
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "{\"rollcall_backup\":1}\n");
        assert!(matches!(
            open(file.as_slice(), None).err().unwrap(),
            SealError::IdentityNeeded
        ));
        assert!(matches!(
            open(file.as_slice(), Some(&other)).err().unwrap(),
            SealError::Decrypt(_)
        ));
        let missing = open(file.as_slice(), Some(&dir.path().join("none.txt")));
        assert!(matches!(missing.err().unwrap(), SealError::Identity { .. }));
        // A plain backup passes through untouched.
        let mut plain = String::new();
        open(&b"{\"rollcall_backup\":1}\n"[..], None)
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "{\"rollcall_backup\":1}\n");
    }

    #[test]
    fn recipients_parse_and_print_as_age_writes_them() {
        let public = age::x25519::Identity::generate().to_public().to_string();
        let r: Recipient = public.parse().unwrap();
        assert_eq!(r.to_string(), public);
        let e = "age1nope".parse::<Recipient>().unwrap_err();
        assert!(e.contains("not an age recipient"), "{e}");
    }
}
