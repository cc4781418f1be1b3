//! Password hashes that other directories export, and every form Rollcall stores.
//!
//! Admins migrating from OpenLDAP and similar directories bring hashes, not passwords. Rather
//! than forcing every user through a reset, Rollcall keeps the hashes it can verify safely and
//! replaces them with its own argon2id hash at the user's next successful login
//! ([`needs_upgrade`]). What it stores for a user is one of:
//!
//! - `$argon2id$…`: the PHC string Rollcall makes itself (or an imported `{ARGON2}` one, bare),
//!   or an imported `$argon2i$…` (OpenLDAP's argon2 module's default);
//! - `{SSHA}base64(sha1(password + salt) + salt)` and the same with SHA-512 as `{SSHA512}`,
//!   OpenLDAP's salted formats, kept verbatim with their prefix;
//! - bcrypt `$2a$`, `$2b$` or `$2y$`, bare (a `{CRYPT}` or `{BCRYPT}` prefix is dropped).
//!
//! Unsalted digests (`{SHA}`, `{MD5}`, …) and DES or MD5 `crypt(3)` hashes are refused: a
//! leaked copy of them is as good as the passwords, so their users have to reset instead.

use std::fmt;

use argon2::{Argon2, Params, PasswordHash, PasswordVerifier, Version};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, NO_PAD};
use base64::{DecodeError, alphabet};
use sha1::Sha1;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::Argon2Params;

/// OpenLDAP's `slappasswd` uses 4 bytes of salt; less than that is not worth calling a salt.
pub const MIN_SALT_LEN: usize = 4;

/// bcrypt's own lower bound (16 rounds).
pub const BCRYPT_MIN_COST: u32 = 4;

/// Cost 15 is eight times the common 12, about two seconds per verification on one core. The
/// format allows up to 31 (days of CPU): every failed bind against such a user would burn that
/// much, so a higher cost is refused at import and never verified.
pub const BCRYPT_MAX_COST: u32 = 15;

/// Argon2 costs above these are refused at import, for the same reason as [`BCRYPT_MAX_COST`]:
/// each bind (even a failed one) pays them. They do not apply to hashes Rollcall made with its
/// own configured cost, which the admin chose.
pub const IMPORT_MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// See [`IMPORT_MAX_ARGON2_MEMORY_KIB`].
pub const IMPORT_MAX_ARGON2_ITERATIONS: u32 = 16;
/// See [`IMPORT_MAX_ARGON2_MEMORY_KIB`].
pub const IMPORT_MAX_ARGON2_PARALLELISM: u32 = 16;

/// A `{SCHEME}` name longer than this is not taken for a scheme (see [`looks_like_hash`]).
const MAX_SCHEME_LEN: usize = 32;

/// What an error message lists as importable.
const SUPPORTED: &str = "{SSHA}, {SSHA512}, {ARGON2}$argon2id$ or $argon2i$, $argon2id$, $argon2i$, bcrypt $2a$/$2b$/$2y$ ({CRYPT} or \
     {BCRYPT} prefix allowed)";

/// OpenLDAP writes padded standard base64; some exports drop the padding, which costs nothing
/// to accept.
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The same decoder the bcrypt crate uses, so that every hash accepted here also verifies there
/// (non-canonical trailing bits are refused by both).
const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(&alphabet::BCRYPT, NO_PAD);

/// Why an exported hash cannot be imported (or a stored one parsed). The messages go back to
/// the admin who tried the import, so each one names what is wrong; none of them repeats the
/// value itself, which may be a clear-text password that only looked like a hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not a password hash; expected one of {SUPPORTED}")]
    NotAHash,
    /// The scheme name is not repeated: it may be the start of a clear-text password.
    #[error("unknown password hash scheme; supported: {SUPPORTED}")]
    UnknownScheme,
    #[error("{scheme} hashes are too weak to import ({why}); ask the user to reset the password")]
    WeakScheme {
        scheme: &'static str,
        why: &'static str,
    },
    #[error("{scheme} hashes are not supported ({why}); ask the user to reset the password")]
    Unsupported {
        scheme: &'static str,
        why: &'static str,
    },
    #[error("{scheme}: the value after the prefix is not valid base64 ({reason})")]
    Base64 {
        scheme: &'static str,
        reason: String,
    },
    #[error(
        "{scheme}: the value decodes to {len} bytes, shorter than the {need}-byte {digest} digest"
    )]
    DigestTooShort {
        scheme: &'static str,
        digest: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{scheme}: the salt is {len} bytes long; at least {min} are needed", min = MIN_SALT_LEN)]
    SaltTooShort { scheme: &'static str, len: usize },
    #[error("malformed bcrypt hash: {0}")]
    Bcrypt(String),
    #[error(
        "bcrypt cost {cost} is out of range: Rollcall accepts {min} to {max}",
        min = BCRYPT_MIN_COST,
        max = BCRYPT_MAX_COST
    )]
    BcryptCost { cost: u32 },
    #[error("malformed argon2 hash: {0}")]
    Argon2(String),
    #[error("argon2 {param} = {value} is too costly to import (at most {max})")]
    Argon2Cost {
        param: &'static str,
        value: u32,
        max: u32,
    },
}

/// A password hash as Rollcall stores it, parsed. Built only through [`StoredHash::parse`], so a
/// value that would fail to verify for a reason other than a wrong password is never built.
#[derive(Clone)]
pub enum StoredHash {
    /// Rollcall's own format (argon2id), or an imported argon2i one (OpenLDAP's argon2 module
    /// makes those by default). Boxed: a PHC string is several times larger than the others.
    Argon2 {
        phc: Box<PasswordHash>,
        algorithm: argon2::Algorithm,
        params: Params,
        version: Version,
    },
    /// OpenLDAP's `{SSHA}`: SHA-1 over password then salt.
    Ssha { digest: [u8; 20], salt: Vec<u8> },
    /// OpenLDAP's `{SSHA512}` (pw-sha2 module): SHA-512 over password then salt.
    Ssha512 { digest: [u8; 64], salt: Vec<u8> },
    /// bcrypt, verified by the bcrypt crate from the string itself.
    Bcrypt { hash: String, cost: u32 },
}

/// Only the scheme and cost: digests and salts do not belong in logs.
impl fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Argon2 {
                algorithm,
                params,
                version,
                ..
            } => write!(
                f,
                "StoredHash::Argon2({algorithm}, v={}, m={}, t={}, p={})",
                u32::from(*version),
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            ),
            Self::Ssha { salt, .. } => write!(f, "StoredHash::Ssha(salt {} bytes)", salt.len()),
            Self::Ssha512 { salt, .. } => {
                write!(f, "StoredHash::Ssha512(salt {} bytes)", salt.len())
            }
            Self::Bcrypt { cost, .. } => write!(f, "StoredHash::Bcrypt(cost {cost})"),
        }
    }
}

impl StoredHash {
    /// Parses what Rollcall stores: `$argon2id$…`, `{SSHA}…`, `{SSHA512}…` (prefixes in any
    /// case, since they are kept as the export had them) or bare bcrypt. Export-only forms
    /// (`{ARGON2}`, `{CRYPT}`, `{BCRYPT}`) are not stored and so not accepted here.
    pub fn parse(stored: &str) -> Result<Self, ImportError> {
        if let Some((scheme, rest)) = scheme_prefix(stored) {
            return match scheme.to_ascii_uppercase().as_str() {
                "SSHA" => parse_ssha(rest),
                "SSHA512" => parse_ssha512(rest),
                _ => Err(ImportError::UnknownScheme),
            };
        }
        if stored.starts_with("$argon2") {
            parse_argon2(stored)
        } else if stored.starts_with("$2") {
            parse_bcrypt(stored)
        } else {
            Err(ImportError::NotAHash)
        }
    }

    /// The scheme's name, for logs and audit details.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Argon2 {
                algorithm: argon2::Algorithm::Argon2id,
                ..
            } => "argon2id",
            Self::Argon2 { .. } => "argon2i",
            Self::Ssha { .. } => "{SSHA}",
            Self::Ssha512 { .. } => "{SSHA512}",
            Self::Bcrypt { .. } => "bcrypt",
        }
    }

    /// Checks `password`; digests are compared in constant time.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            // The algorithm, version and cost come from the PHC string itself.
            Self::Argon2 { phc, .. } => {
                let _pass = super::gate::Gate::global().enter();
                Argon2::default()
                    .verify_password(password.as_bytes(), &**phc)
                    .is_ok()
            }
            Self::Ssha { digest, salt } => {
                let computed = Sha1::new()
                    .chain_update(password)
                    .chain_update(salt)
                    .finalize();
                computed.as_slice().ct_eq(digest).into()
            }
            Self::Ssha512 { digest, salt } => {
                let computed = Sha512::new()
                    .chain_update(password)
                    .chain_update(salt)
                    .finalize();
                computed.as_slice().ct_eq(digest).into()
            }
            // bcrypt compares with `subtle` too. It reads at most 72 bytes of the password, as
            // every bcrypt does, so longer passwords verify the way they were hashed.
            Self::Bcrypt { hash, .. } => {
                let _pass = super::gate::Gate::global().enter();
                bcrypt::verify(password, hash).unwrap_or(false)
            }
        }
    }

    /// True when a successful login should replace this hash with a fresh argon2id one at the
    /// configured cost: every imported scheme, and argon2id made at another cost or version
    /// (so raising the cost in the config reaches everyone who logs in).
    pub fn needs_upgrade(&self, params: &Argon2Params) -> bool {
        match self {
            Self::Argon2 {
                algorithm,
                params: current,
                version,
                ..
            } => {
                *algorithm != argon2::Algorithm::Argon2id
                    || current.m_cost() != params.memory_kib
                    || current.t_cost() != params.iterations
                    || current.p_cost() != params.parallelism
                    || *version != Version::V0x13
            }
            Self::Ssha { .. } | Self::Ssha512 { .. } | Self::Bcrypt { .. } => true,
        }
    }

    /// Costs an import may not bring in (see [`IMPORT_MAX_ARGON2_MEMORY_KIB`]); bcrypt's bound
    /// is already part of parsing.
    fn check_import_cost(&self) -> Result<(), ImportError> {
        let Self::Argon2 { params, .. } = self else {
            return Ok(());
        };
        for (param, value, max) in [
            ("m", params.m_cost(), IMPORT_MAX_ARGON2_MEMORY_KIB),
            ("t", params.t_cost(), IMPORT_MAX_ARGON2_ITERATIONS),
            ("p", params.p_cost(), IMPORT_MAX_ARGON2_PARALLELISM),
        ] {
            if value > max {
                return Err(ImportError::Argon2Cost { param, value, max });
            }
        }
        Ok(())
    }
}

/// Recognises a hash exported by another directory and returns the string to store for it (see
/// the module documentation for the forms). Only ever parses: nothing is hashed, so importing
/// thousands of users is fast.
pub fn import(exported: &str) -> Result<String, ImportError> {
    let stored = match scheme_prefix(exported) {
        Some((scheme, rest)) => match scheme.to_ascii_uppercase().as_str() {
            // Kept verbatim, prefix and all: the prefix is what tells them apart later.
            "SSHA" | "SSHA512" => exported,
            "ARGON2" if rest.starts_with("$argon2") => rest,
            "ARGON2" => {
                return Err(ImportError::Argon2(
                    "expected a PHC string ($argon2id$v=19$m=…) after {ARGON2}".into(),
                ));
            }
            "BCRYPT" => bcrypt_only(rest)?,
            "CRYPT" => crypt(rest)?,
            "SHA" => return Err(weak("{SHA}", "unsalted SHA-1")),
            "SHA256" => return Err(weak("{SHA256}", "unsalted SHA-256")),
            "SHA384" => return Err(weak("{SHA384}", "unsalted SHA-384")),
            "SHA512" => return Err(weak("{SHA512}", "unsalted SHA-512")),
            "MD5" => return Err(weak("{MD5}", "unsalted MD5")),
            "SMD5" => return Err(weak("{SMD5}", "MD5")),
            "SSHA256" | "SSHA384" => {
                return Err(ImportError::Unsupported {
                    scheme: "{SSHA256}/{SSHA384}",
                    why: "only {SSHA} and {SSHA512} of the salted SHA schemes are implemented",
                });
            }
            _ => return Err(ImportError::UnknownScheme),
        },
        None if exported.starts_with("$argon2") || exported.starts_with("$2") => exported,
        None => return Err(ImportError::NotAHash),
    };
    StoredHash::parse(stored)?.check_import_cost()?;
    Ok(stored.to_owned())
}

/// Whether a `userPassword` value is a hash to import rather than a clear-text password: it
/// starts with a `{SCHEME}` prefix (1 to 32 ASCII letters, digits, `-`, `_` or `.` in braces) or
/// with `$2a$`, `$2b$`, `$2y$`, `$2x$` or `$argon2`.
///
/// A clear-text password that happens to look like that (say `{summer}2024`) is taken as a hash
/// attempt, and its import fails with [`ImportError::UnknownScheme`]: the other choice, setting
/// it as a password, would silently turn every mistyped or unsupported hash into the user's
/// literal password. The admin can still set such a password through the Password Modify
/// operation, which never reads hashes.
pub fn looks_like_hash(value: &str) -> bool {
    scheme_prefix(value).is_some()
        || ["$2a$", "$2b$", "$2y$", "$2x$", "$argon2"]
            .iter()
            .any(|p| value.starts_with(p))
}

/// Checks `password` against any stored form; a malformed stored value never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    StoredHash::parse(stored).is_ok_and(|h| h.verify(password))
}

/// See [`StoredHash::needs_upgrade`]. A malformed stored value gives false: no password can
/// log in with it, so there is never a moment to upgrade it.
pub fn needs_upgrade(stored: &str, params: &Argon2Params) -> bool {
    StoredHash::parse(stored).is_ok_and(|h| h.needs_upgrade(params))
}

/// Splits `{SCHEME}rest`; `None` when the value does not start with a plausible scheme name.
fn scheme_prefix(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix('{')?;
    let end = rest
        .bytes()
        .take(MAX_SCHEME_LEN + 1)
        .position(|b| b == b'}')?;
    let scheme = &rest[..end];
    let plausible = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plausible.then(|| (scheme, &rest[end + 1..]))
}

fn weak(scheme: &'static str, why: &'static str) -> ImportError {
    ImportError::WeakScheme { scheme, why }
}

/// After `{BCRYPT}` only bcrypt may follow (not another scheme that parses on its own).
fn bcrypt_only(rest: &str) -> Result<&str, ImportError> {
    if rest.starts_with("$2") {
        Ok(rest)
    } else {
        Err(ImportError::Bcrypt(
            "expected $2a$, $2b$ or $2y$ after {BCRYPT}".into(),
        ))
    }
}

/// `{CRYPT}` is whatever the exporting system's crypt(3) made: bcrypt is kept, the rest named.
fn crypt(rest: &str) -> Result<&str, ImportError> {
    if rest.starts_with("$2") {
        return Ok(rest);
    }
    Err(if rest.starts_with("$1$") {
        weak("{CRYPT} $1$", "MD5-crypt")
    } else if rest.starts_with("$5$") || rest.starts_with("$6$") {
        ImportError::Unsupported {
            scheme: "{CRYPT} $5$/$6$",
            why: "SHA-crypt is not implemented",
        }
    } else if rest.starts_with('$') {
        ImportError::Unsupported {
            scheme: "{CRYPT}",
            why: "unknown crypt(3) method",
        }
    } else {
        // Traditional 13-character DES, or BSDi's extended `_…` DES.
        weak("{CRYPT}", "DES crypt")
    })
}

fn parse_ssha(b64: &str) -> Result<StoredHash, ImportError> {
    let (digest, salt) = split_salted::<20>("{SSHA}", "SHA-1", b64)?;
    Ok(StoredHash::Ssha { digest, salt })
}

fn parse_ssha512(b64: &str) -> Result<StoredHash, ImportError> {
    let (digest, salt) = split_salted::<64>("{SSHA512}", "SHA-512", b64)?;
    Ok(StoredHash::Ssha512 { digest, salt })
}

/// `base64(digest + salt)`, OpenLDAP's layout for every salted scheme.
fn split_salted<const N: usize>(
    scheme: &'static str,
    digest: &'static str,
    b64: &str,
) -> Result<([u8; N], Vec<u8>), ImportError> {
    let raw = STANDARD.decode(b64).map_err(|e| ImportError::Base64 {
        scheme,
        reason: base64_reason(&e),
    })?;
    let Some((head, salt)) = raw.split_first_chunk::<N>() else {
        return Err(ImportError::DigestTooShort {
            scheme,
            digest,
            len: raw.len(),
            need: N,
        });
    };
    if salt.len() < MIN_SALT_LEN {
        return Err(ImportError::SaltTooShort {
            scheme,
            len: salt.len(),
        });
    }
    Ok((*head, salt.to_vec()))
}

/// The decoder's reason without the offending byte, which could be part of a password.
fn base64_reason(e: &DecodeError) -> String {
    match e {
        DecodeError::InvalidByte(offset, _) => format!("invalid character at offset {offset}"),
        DecodeError::InvalidLength(len) => format!("{len} symbols is not a valid length"),
        DecodeError::InvalidLastSymbol(offset, _) => {
            format!("non-canonical last symbol at offset {offset}")
        }
        DecodeError::InvalidPadding => "invalid padding".into(),
    }
}

/// `$2b$` + two-digit cost + `$` + 22 characters of salt + 31 of digest, in bcrypt's base64.
fn parse_bcrypt(hash: &str) -> Result<StoredHash, ImportError> {
    let malformed = |why: &str| ImportError::Bcrypt(why.to_owned());
    match hash.get(..4) {
        Some("$2a$" | "$2b$" | "$2y$") => {}
        Some("$2x$") => {
            return Err(ImportError::Unsupported {
                scheme: "bcrypt $2x$",
                why: "crypt_blowfish's marker for hashes made with its sign-extension bug",
            });
        }
        _ => return Err(malformed("expected the prefix $2a$, $2b$ or $2y$")),
    }
    if !hash.is_ascii() {
        return Err(malformed("non-ASCII characters"));
    }
    if hash.len() != 60 {
        return Err(ImportError::Bcrypt(format!(
            "{} characters where bcrypt has 60 ($2b$, two-digit cost, $, 53 characters of salt \
             and digest)",
            hash.len()
        )));
    }
    let cost = &hash[4..6];
    if !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the cost is not a two-digit number"));
    }
    if hash.as_bytes()[6] != b'$' {
        return Err(malformed("no '$' after the cost"));
    }
    let cost: u32 = cost
        .parse()
        .map_err(|_| malformed("the cost is not a two-digit number"))?;
    if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
        return Err(ImportError::BcryptCost { cost });
    }
    let decodes_to = |text: &str, len: usize| BCRYPT_B64.decode(text).is_ok_and(|b| b.len() == len);
    if !decodes_to(&hash[7..29], 16) {
        return Err(malformed("the salt is not 22 characters of bcrypt base64"));
    }
    if !decodes_to(&hash[29..], 23) {
        return Err(malformed(
            "the digest is not 31 characters of bcrypt base64",
        ));
    }
    Ok(StoredHash::Bcrypt {
        hash: hash.to_owned(),
        cost,
    })
}

fn parse_argon2(phc: &str) -> Result<StoredHash, ImportError> {
    let hash = PasswordHash::new(phc).map_err(|e| ImportError::Argon2(e.to_string()))?;
    let algorithm = match hash.algorithm.as_str() {
        "argon2id" => argon2::Algorithm::Argon2id,
        // Replaced by argon2id at the first login.
        "argon2i" => argon2::Algorithm::Argon2i,
        "argon2d" => {
            return Err(ImportError::Unsupported {
                scheme: "argon2d",
                why: "argon2d is not meant for passwords (its memory access depends on them)",
            });
        }
        _ => return Err(ImportError::Argon2("not an argon2 algorithm".into())),
    };
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(ImportError::Argon2("no salt or no digest".into()));
    }
    let params = Params::try_from(&hash).map_err(|e| ImportError::Argon2(e.to_string()))?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).map_err(|e| ImportError::Argon2(e.to_string()))?,
        None => Version::default(),
    };
    Ok(StoredHash::Argon2 {
        phc: Box::new(hash),
        algorithm,
        params,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // SSHA vectors from OpenLDAP 2.5.13's own `slappasswd` (Debian slapd 2.5.13+dfsg-5):
    //   slappasswd -h '{SSHA}' -s secret
    //   slappasswd -o module-load=pw-sha2.la -h '{SSHA512}' -s secret
    const SLAPD_SSHA: &str = "{SSHA}uRWIvReZsOw2Lxr8Gu8QoXJ3nUI3o2Jv";
    const SLAPD_SSHA512: &str = "{SSHA512}vqT2Ov7dQGiw3p0mQDM3anoUiDo77dX+q9MDTU+uNMPqb36KUz5L+PywnINGe+ckUg903rMVSSRWXRCcuNvB1HkMl6Rz9p4X";

    // Computed independently with Python's hashlib, salts chosen by hand:
    //   python3 -c "import hashlib,base64;f=lambda s,h,p,salt:print(s+base64.b64encode(
    //     h(p+salt).digest()+salt).decode());f('{SSHA}',hashlib.sha1,b'secret',b'\x01\x02\x03\x04');
    //     f('{SSHA}',hashlib.sha1,b'Migrated-Pass-1',b'saltsalt');
    //     f('{SSHA512}',hashlib.sha512,b'secret',b'\x01\x02\x03\x04');
    //     f('{SSHA512}',hashlib.sha512,'Pässwörd'.encode(),b'0123456789abcdef')"
    const PY_SSHA_SECRET: &str = "{SSHA}uJDd0BIdJ9Z7yDCZNWdgYeb33+cBAgME";
    const PY_SSHA_MIGRATED: &str = "{SSHA}LC6mAbK2+Cor3cPfcTj3w0l7XEBzYWx0c2FsdA==";
    const PY_SSHA512_SECRET: &str = "{SSHA512}MKbQg3rPvz03V+1S0+/jlDdn0B0IiGGxl7kZMimdo1IHHWN6DtzxJMCchsX5U1lrRY7apW/oopOgERexYda1nAECAwQ=";
    const PY_SSHA512_UMLAUT: &str = "{SSHA512}wibAFDw6p8XXYsNvvIe2LLwKOudKl7c4Hp8opq02dEdOwF5xuh/2mLjPayQvRpWwn2XlKarc7yANOn+OkRc/6DAxMjM0NTY3ODlhYmNkZWY=";

    // bcrypt: the published OpenBSD/jBCrypt test vectors (jBCrypt's TestBCrypt.java, also in
    // py-bcrypt's test.py) and one of Openwall crypt_blowfish's wrapper.c tests ("U*U").
    const JBCRYPT: &[(&str, &str)] = &[
        (
            "",
            "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
        ),
        (
            "a",
            "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe",
        ),
        (
            "abc",
            "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
        ),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC",
        ),
        (
            "~!@#$%^&*()      ~!@#$%^&*()PNBFRD",
            "$2a$06$fPIsBO8qRqkjj273rfaOI.HtSV9jLDpTbZn782DC6/t7qT67P6FfO",
        ),
        (
            "U*U",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        ),
    ];
    // Made with pyca/bcrypt 5.0.0 (`bcrypt.hashpw(pw, b"$2b$05$abcdefghijklmnopqrstuu")` and
    // `bcrypt.hashpw("Pässwörd".encode(), b"$2b$04$0123456789ABCDEFGHIJKO")`); the `$2y$` form
    // is the same hash under crypt_blowfish's prefix, accepted by pyca's `checkpw` too.
    const PY_2B: &str = "$2b$05$abcdefghijklmnopqrstuuFiPhXf1sVd3pCCRO.uVh34H/qI/ZsuS";
    const PY_2B_UMLAUT: &str = "$2b$04$0123456789ABCDEFGHIJKOT3EdpZJkM1Y6T0PW7A.78gslT31Yww.";
    const PY_2Y: &str = "$2y$05$abcdefghijklmnopqrstuuFiPhXf1sVd3pCCRO.uVh34H/qI/ZsuS";
    // OpenLDAP's slappasswd through libxcrypt: `slappasswd -h '{CRYPT}' -c '$2b$05$%.22s' -s secret`.
    const SLAPD_CRYPT_2B: &str =
        "{CRYPT}$2b$05$rJzSAu3aQMN0cP0x/3wnyOynboVopuQQttZwce9JBXASNHiXyDyPW";

    fn fast() -> Argon2Params {
        Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Imports, checks the stored form, and verifies right and wrong passwords against it.
    fn imports_and_verifies(exported: &str, stored: &str, password: &str) {
        assert_eq!(import(exported).as_deref(), Ok(stored), "{exported}");
        assert!(looks_like_hash(exported), "{exported}");
        assert!(verify(password, stored), "{exported} with {password:?}");
        assert!(!verify(&format!("{password}x"), stored), "{exported}");
        assert!(!verify("", stored) || password.is_empty(), "{exported}");
    }

    #[test]
    fn ssha_from_slappasswd_and_python() {
        imports_and_verifies(SLAPD_SSHA, SLAPD_SSHA, "secret");
        imports_and_verifies(PY_SSHA_SECRET, PY_SSHA_SECRET, "secret");
        imports_and_verifies(PY_SSHA_MIGRATED, PY_SSHA_MIGRATED, "Migrated-Pass-1");
        assert!(!verify("Secret", SLAPD_SSHA));
    }

    #[test]
    fn ssha512_from_slappasswd_and_python() {
        imports_and_verifies(SLAPD_SSHA512, SLAPD_SSHA512, "secret");
        imports_and_verifies(PY_SSHA512_SECRET, PY_SSHA512_SECRET, "secret");
        imports_and_verifies(PY_SSHA512_UMLAUT, PY_SSHA512_UMLAUT, "Pässwörd");
        // An SSHA512 value under the SSHA prefix is read as SHA-1 + a long salt: no match.
        let crossed = PY_SSHA512_SECRET.replace("{SSHA512}", "{SSHA}");
        assert!(import(&crossed).is_ok());
        assert!(!verify("secret", &crossed));
    }

    #[test]
    fn scheme_prefixes_are_case_insensitive_and_kept_verbatim() {
        for exported in [
            SLAPD_SSHA.replace("{SSHA}", "{ssha}"),
            SLAPD_SSHA.replace("{SSHA}", "{SsHa}"),
            SLAPD_SSHA512.replace("{SSHA512}", "{ssha512}"),
        ] {
            imports_and_verifies(&exported, &exported, "secret");
        }
        let lower = SLAPD_CRYPT_2B.replace("{CRYPT}", "{crypt}");
        assert_eq!(import(&lower).as_deref(), Ok(&SLAPD_CRYPT_2B[7..]));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let unpadded = PY_SSHA_MIGRATED.trim_end_matches('=');
        imports_and_verifies(unpadded, unpadded, "Migrated-Pass-1");
    }

    #[test]
    fn bcrypt_published_vectors() {
        for (password, hash) in JBCRYPT {
            imports_and_verifies(hash, hash, password);
        }
    }

    #[test]
    fn bcrypt_python_vectors_and_prefixes() {
        imports_and_verifies(PY_2B, PY_2B, "correct horse battery staple");
        imports_and_verifies(PY_2Y, PY_2Y, "correct horse battery staple");
        imports_and_verifies(PY_2B_UMLAUT, PY_2B_UMLAUT, "Pässwörd");
        imports_and_verifies(SLAPD_CRYPT_2B, &SLAPD_CRYPT_2B[7..], "secret");
        for prefix in ["{BCRYPT}", "{bcrypt}", "{CRYPT}", "{Crypt}"] {
            let exported = format!("{prefix}{PY_2B}");
            imports_and_verifies(&exported, PY_2B, "correct horse battery staple");
        }
        // The stored form never keeps an export prefix, so it is not a stored hash.
        assert!(!verify("secret", SLAPD_CRYPT_2B));
    }

    #[test]
    fn bcrypt_reads_72_bytes_like_every_bcrypt() {
        let long = "x".repeat(72);
        let hash = bcrypt::hash_with_salt(&long, 4, [7; 16])
            .unwrap()
            .to_string();
        assert!(verify(&long, &hash));
        assert!(verify(&format!("{long}ignored"), &hash));
        assert!(!verify(&long[..71], &hash));
    }

    #[test]
    fn argon2_imports_bare_and_prefixed() {
        let phc = fast().hash("imported pw").unwrap();
        for exported in [
            format!("{{ARGON2}}{phc}"),
            format!("{{argon2}}{phc}"),
            phc.clone(),
        ] {
            imports_and_verifies(&exported, &phc, "imported pw");
        }
    }

    #[test]
    fn malformed_salted_hashes_say_what_is_wrong() {
        assert!(matches!(
            import("{SSHA}not*base64"),
            Err(ImportError::Base64 {
                scheme: "{SSHA}",
                ..
            })
        ));
        let err = import("{SSHA512}abcde").unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Base64 {
                    scheme: "{SSHA512}",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            import("{SSHA}uRWI!ReZ").unwrap_err().to_string(),
            "{SSHA}: the value after the prefix is not valid base64 (invalid character at offset 4)"
        );
        // 12 bytes: no room for the 20-byte digest.
        assert_eq!(
            import("{SSHA}AAAAAAAAAAAAAAAA"),
            Err(ImportError::DigestTooShort {
                scheme: "{SSHA}",
                digest: "SHA-1",
                len: 12,
                need: 20
            })
        );
        assert_eq!(
            import("{SSHA}"),
            Err(ImportError::DigestTooShort {
                scheme: "{SSHA}",
                digest: "SHA-1",
                len: 0,
                need: 20
            })
        );
        // A bare {SHA} digest under the SSHA prefix: the salt is empty.
        assert_eq!(
            import("{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ="),
            Err(ImportError::SaltTooShort {
                scheme: "{SSHA}",
                len: 0
            })
        );
        // Three bytes of salt.
        let short = STANDARD.encode([[0u8; 64].as_slice(), b"abc"].concat());
        assert_eq!(
            import(&format!("{{SSHA512}}{short}")),
            Err(ImportError::SaltTooShort {
                scheme: "{SSHA512}",
                len: 3
            })
        );
        let msg = import("{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "{SSHA}: the salt is 0 bytes long; at least 4 are needed"
        );
    }

    #[test]
    fn malformed_bcrypt_says_what_is_wrong() {
        let bcrypt_err = |s: &str| match import(s) {
            Err(ImportError::Bcrypt(why)) => why,
            other => panic!("{s}: {other:?}"),
        };
        assert!(bcrypt_err("$2b$").contains("4 characters"));
        assert!(bcrypt_err("$2b$garbage").contains("11 characters"));
        assert!(bcrypt_err(&format!("$2b$1x{}", &PY_2B[6..])).contains("two-digit"));
        assert!(bcrypt_err(&format!("$2b$05-{}", &PY_2B[7..])).contains("'$'"));
        assert!(bcrypt_err(&format!("{}!{}", &PY_2B[..10], &PY_2B[11..])).contains("salt"));
        assert!(bcrypt_err(&format!("{}!", &PY_2B[..59])).contains("digest"));
        // Non-canonical trailing bits in the salt's last character ('u' -> 'v').
        assert!(bcrypt_err(&PY_2B.replacen("stuuF", "stuvF", 1)).contains("salt"));
        assert!(bcrypt_err(&format!("$2b$05${}", "é".repeat(26))).contains("non-ASCII"));
        assert!(bcrypt_err("{BCRYPT}{SSHA}abcd").contains("after {BCRYPT}"));
        assert!(
            bcrypt_err("$2c$05$abcdefghijklmnopqrstuuFiPhXf1sVd3pCCRO.uVh34H/qI/ZsuS")
                .contains("prefix")
        );
        for cost in ["03", "16", "31", "99", "00"] {
            let hash = format!("$2b${cost}{}", &PY_2B[6..]);
            assert_eq!(
                import(&hash),
                Err(ImportError::BcryptCost {
                    cost: cost.parse().unwrap()
                }),
                "{hash}"
            );
            assert!(!verify("correct horse battery staple", &hash));
        }
        assert!(matches!(
            import(&PY_2B.replace("$2b$", "$2x$")),
            Err(ImportError::Unsupported { .. })
        ));
        assert_eq!(
            import("$2b$31$abcdefghijklmnopqrstuuFiPhXf1sVd3pCCRO.uVh34H/qI/ZsuS")
                .unwrap_err()
                .to_string(),
            "bcrypt cost 31 is out of range: Rollcall accepts 4 to 15"
        );
    }

    #[test]
    fn malformed_argon2_says_what_is_wrong() {
        assert!(matches!(
            import("{ARGON2}not a hash"),
            Err(ImportError::Argon2(_))
        ));
        assert!(matches!(
            import("$argon2id$garbage"),
            Err(ImportError::Argon2(_))
        ));
        assert!(matches!(
            import("{ARGON2}{SSHA}uRWIvReZsOw2Lxr8Gu8QoXJ3nUI3o2Jv"),
            Err(ImportError::Argon2(_))
        ));
        // OpenLDAP 2.5's argon2 module makes argon2i by default (`slappasswd -o
        // module-load=argon2.la -h '{ARGON2}' -s secret`): imported, verified, and replaced by
        // argon2id at the first login.
        let stored = import(
            "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$GPLpCdT6HKrTgES6wXcYpQ$Taxfyvq9E5TUH8g4v8h/cnlVFP7KZEzvVEDuqKc6eyQ",
        )
        .unwrap();
        assert!(stored.starts_with("$argon2i$"));
        assert!(verify("secret", &stored));
        assert!(!verify("Secret", &stored));
        let parsed = StoredHash::parse(&stored).unwrap();
        assert_eq!(parsed.scheme(), "argon2i");
        assert!(parsed.needs_upgrade(&Argon2Params::default()));
        let argon2d = stored.replace("$argon2i$", "$argon2d$");
        assert!(matches!(
            import(&argon2d),
            Err(ImportError::Unsupported { .. })
        ));
        let phc = fast().hash("pw").unwrap();
        let no_digest = phc.rsplit_once('$').unwrap().0;
        assert!(matches!(import(no_digest), Err(ImportError::Argon2(_))));
        let bad_version = phc.replace("v=19", "v=18");
        assert!(matches!(import(&bad_version), Err(ImportError::Argon2(_))));
        assert!(!verify("pw", &bad_version));
    }

    #[test]
    fn argon2_import_refuses_excessive_cost_but_verifies_its_own() {
        let phc = fast().hash("pw").unwrap();
        let huge = phc.replace("m=1024", "m=4194304");
        assert_eq!(
            import(&huge),
            Err(ImportError::Argon2Cost {
                param: "m",
                value: 4_194_304,
                max: IMPORT_MAX_ARGON2_MEMORY_KIB
            })
        );
        assert_eq!(
            import(&phc.replace("t=1", "t=17")),
            Err(ImportError::Argon2Cost {
                param: "t",
                value: 17,
                max: 16
            })
        );
        // Rollcall's own hashes are whatever the config says, and parse regardless.
        assert!(StoredHash::parse(&huge).is_ok());
    }

    #[test]
    fn weak_and_unsupported_schemes_are_refused_by_name() {
        // slappasswd -h '{SHA}' / '{MD5}' / '{SMD5}' / '{CRYPT}' -s secret, and '{CRYPT}' with
        // -c '$1$%.8s' (MD5-crypt) and -c '$6$%.16s' (SHA-512 crypt).
        for (exported, scheme) in [
            ("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "{SHA}"),
            ("{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=", "{SHA}"),
            ("{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "{MD5}"),
            ("{SMD5}wrj/p+RhxVCg1Z9qw/fAGOxpU+I=", "{SMD5}"),
            (
                "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
                "{SHA512}",
            ),
            ("{CRYPT}cEVdbMS028wC2", "{CRYPT}"),
            ("{CRYPT}$1$I/qvPq5Q$QQRO1k3Vuadoux.UtghxR.", "{CRYPT} $1$"),
        ] {
            let err = import(exported).unwrap_err();
            assert!(
                matches!(&err, ImportError::WeakScheme { scheme: s, .. } if *s == scheme),
                "{exported}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.starts_with(scheme), "{msg}");
            assert!(msg.contains("too weak") && msg.contains("reset"), "{msg}");
            assert!(!verify("secret", exported));
        }
        for exported in [
            "{CRYPT}$6$3rGywL4l18ztl0jC$IuTQZ6njX3NJDqEjm4582Ulbu6f4DlREoGsh17RH8CeN5pDJcU5gKEDDtZGx3Unnw0QF04zDPi8LP3yXBZk2E/",
            "{SSHA256}W620xRZyTWh8il+hL5SxXrekSs8BiRodfPXaTJ/ueOpWck+H0md9JQ==",
            "{CRYPT}$y$j9T$abc",
        ] {
            assert!(
                matches!(import(exported), Err(ImportError::Unsupported { .. })),
                "{exported}"
            );
        }
    }

    #[test]
    fn unknown_schemes_and_clear_text() {
        assert_eq!(import("{summer}2024"), Err(ImportError::UnknownScheme));
        assert!(
            !ImportError::UnknownScheme.to_string().contains("summer"),
            "the would-be scheme may be a password"
        );
        assert_eq!(import("{PBKDF2}abc"), Err(ImportError::UnknownScheme));
        assert_eq!(import("hunter2"), Err(ImportError::NotAHash));
        assert_eq!(import(""), Err(ImportError::NotAHash));
        assert_eq!(import("{not a scheme}x"), Err(ImportError::NotAHash));
        assert!(!verify("", ""));
        assert!(!verify("hunter2", "hunter2"));
    }

    #[test]
    fn looks_like_hash_tells_hashes_from_passwords() {
        for hash in [
            "{SSHA}x",
            "{ssha512}",
            "{X}",
            "{PBKDF2-SHA256}x",
            "{summer}2024",
            "$2a$",
            "$2b$05$x",
            "$2y$",
            "$2x$",
            "$argon2id$",
            "$argon2i$",
        ] {
            assert!(looks_like_hash(hash), "{hash}");
        }
        for password in [
            "",
            "hunter2",
            "{",
            "{}",
            "{no closing brace",
            "{two words}x",
            "{ümlaut}x",
            "{abcdefghijklmnopqrstuvwxyz0123456789}x",
            " {SSHA}x",
            "$2c$",
            "$1$abc",
            "$argon",
        ] {
            assert!(!looks_like_hash(password), "{password}");
        }
    }

    #[test]
    fn needs_upgrade_truth_table() {
        let current = fast();
        let phc = current.hash("pw").unwrap();
        assert!(!needs_upgrade(&phc, &current));
        for other in [
            Argon2Params {
                memory_kib: 2048,
                ..current
            },
            Argon2Params {
                iterations: 2,
                ..current
            },
            Argon2Params {
                parallelism: 2,
                ..current
            },
        ] {
            assert!(needs_upgrade(&phc, &other), "{other:?}");
        }
        // Same m/t/p, older argon2 version.
        assert!(needs_upgrade(&phc.replace("v=19", "v=16"), &current));
        for imported in [SLAPD_SSHA, SLAPD_SSHA512, PY_2B, PY_2Y, JBCRYPT[0].1] {
            assert!(needs_upgrade(imported, &current), "{imported}");
        }
        for malformed in ["", "hunter2", "{SSHA}", "$2b$", SLAPD_CRYPT_2B] {
            assert!(!needs_upgrade(malformed, &current), "{malformed}");
        }
    }

    #[test]
    fn debug_shows_no_digest() {
        let parsed = StoredHash::parse(SLAPD_SSHA).unwrap();
        assert_eq!(format!("{parsed:?}"), "StoredHash::Ssha(salt 4 bytes)");
        assert_eq!(parsed.scheme(), "{SSHA}");
        let parsed = StoredHash::parse(PY_2B).unwrap();
        assert_eq!(format!("{parsed:?}"), "StoredHash::Bcrypt(cost 5)");
    }

    mod never_panic {
        use proptest::prelude::*;

        use super::super::{import, looks_like_hash, needs_upgrade, verify};
        use super::fast;

        /// Arbitrary text, and text that gets past each prefix check into the parsers. bcrypt
        /// costs stay below 10 so a lucky well-formed hash still verifies quickly.
        fn candidates() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "\\PC{0,80}",
                "\\{(SSHA|SSHA512|ssha|SHA|CRYPT|BCRYPT|ARGON2|X)\\}[A-Za-z0-9+/=]{0,120}",
                "\\{(CRYPT|BCRYPT)\\}\\$2[abxy]\\$0[0-9]\\$[./A-Za-z0-9]{50,56}",
                "\\$2[abcxy]\\$[0-9]{0,3}\\$[./A-Za-z0-9é]{0,60}",
                "\\$2[aby]\\$0[4-9]\\$[./A-Za-z0-9]{53}",
                "(\\{ARGON2\\})?\\$argon2(id|i|d)?\\$(v=1[69]\\$)?m=[0-9]{1,4},t=[0-9],p=[0-9]\\$[A-Za-z0-9+/]{0,30}(\\$[A-Za-z0-9+/]{0,50})?",
            ]
        }

        proptest! {
            #[test]
            fn verify_import_and_friends_never_panic(s in candidates(), pw in "\\PC{0,20}") {
                let _ = verify(&pw, &s);
                let _ = needs_upgrade(&s, &fast());
                let _ = looks_like_hash(&s);
                if let Ok(stored) = import(&s) {
                    // Whatever import accepts is a stored form that parses again.
                    prop_assert!(super::super::StoredHash::parse(&stored).is_ok(), "{}", stored);
                    let _ = verify(&pw, &stored);
                }
            }
        }
    }
}
