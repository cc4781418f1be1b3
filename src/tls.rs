//! TLS out of the box: the configured certificate, or a self-signed one generated on first start
//! in `<data>/tls/` so LDAPS and StartTLS work before an admin has a real certificate. The
//! certificate can be replaced on disk and reloaded while the server runs ([`Certificates`]),
//! because certificates from an ACME CA last weeks, not years.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Paths of the certificate and key in use, generating the default pair if needed.
pub fn ensure_material(config: &Config) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return Ok((cert.clone(), key.clone()));
    }
    let dir = config.data.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    crate::data_dir::private(&dir).map_err(|e| file_error(&dir, e))?;
    let now = OffsetDateTime::now_utc();
    if cert.exists() && key.exists() {
        match generated_ending(&cert) {
            Some(ends) if ends - now < GENERATED_RENEW_WITHIN => {
                tracing::warn!(cert = %cert.display(), ends = %ends,
                    "the generated self-signed certificate is about to end: generating a new one \
                     (configure [tls] cert and key for a certificate clients can trust)");
            }
            _ => return Ok((cert, key)),
        }
    }
    generate(&cert, &key, now)?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

/// The common name of the certificates Rollcall generates: a placeholder that clients are not
/// meant to trust, named so that an administrator (and [`generated_ending`]) can tell it.
const GENERATED_NAME: &str = "Rollcall self-signed placeholder";

/// How long a generated certificate lasts. Short enough that the expiry metric and warning
/// remind an administrator still relying on it (one valid until the year 4096 never would);
/// a start within [`GENERATED_RENEW_WITHIN`] of its end makes a new one.
const GENERATED_DAYS: i64 = 397;
const GENERATED_RENEW_WITHIN: time::Duration = time::Duration::days(30);

fn generate(cert: &Path, key: &Path, now: OffsetDateTime) -> Result<(), TlsError> {
    let failed = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(failed)?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, GENERATED_NAME);
    params.distinguished_name = name;
    // A day back, for clients whose clocks lag the server's.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(GENERATED_DAYS);
    let key_pair = rcgen::KeyPair::generate().map_err(failed)?;
    let generated = params.self_signed(&key_pair).map_err(failed)?;
    write_private(key, key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, generated.pem()).map_err(|e| file_error(cert, e))
}

/// When the certificate at `path` ends, if it is one Rollcall generated (a certificate put
/// there by hand is never replaced).
fn generated_ending(path: &Path) -> Option<OffsetDateTime> {
    let der = CertificateDer::from_pem_file(path).ok()?;
    let info = certificate_info(&der).ok()?;
    info.subject
        .contains(GENERATED_NAME)
        .then_some(info.not_after)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| file_error(path, e))?;
    file.write_all(bytes).map_err(|e| file_error(path, e))
}

/// The certificate the listeners present. Every rustls configuration built by
/// [`Certificates::server_config`] resolves through it, so after a [`Certificates::reload`] the
/// next LDAPS, StartTLS and HTTPS handshakes all get the new certificate, while connections
/// already open keep the one they negotiated.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
    /// Reloads that put a new pair in use, and reloads refused.
    reloaded: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Clone)]
struct Loaded {
    certified: Arc<CertifiedKey>,
    info: CertificateInfo,
}

/// What an admin needs to know about the certificate in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    pub not_after: OffsetDateTime,
}

impl Certificates {
    /// Reads the certificate chain and key; a key that does not match the certificate is an
    /// error here, not at the first handshake.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let loaded = read_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(loaded),
            reloaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }))
    }

    /// Reads the files again and, only if they hold a usable pair, puts it in use. On an error
    /// the certificate in use stays, so a half-copied renewal never breaks TLS.
    pub fn reload(&self) -> Result<CertificateInfo, TlsError> {
        let loaded = match read_pair(&self.cert, &self.key) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let info = loaded.info.clone();
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = loaded;
        self.reloaded.fetch_add(1, Ordering::Relaxed);
        Ok(info)
    }

    /// Reloads so far: (put in use, refused).
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloaded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    pub fn info(&self) -> CertificateInfo {
        self.loaded().info
    }

    fn loaded(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A rustls server configuration on the ring provider (the only one compiled in) that
    /// presents whatever certificate is in use at each handshake.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.loaded().certified)
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read_pair(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e))?;
    let Some(leaf) = chain.first() else {
        return Err(file_error(cert, "no certificate in file"));
    };
    let info = certificate_info(leaf).map_err(|e| file_error(cert, e))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let certified = CertifiedKey::from_der(chain, key_der, &provider())
        .map_err(|e| file_error(key, format!("cannot be used with {}: {e}", cert.display())))?;
    Ok(Loaded {
        certified: Arc::new(certified),
        info,
    })
}

fn certificate_info(der: &CertificateDer<'_>) -> Result<CertificateInfo, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let not_after = OffsetDateTime::from_unix_timestamp(parsed.validity().not_after.timestamp())
        .map_err(|e| format!("expiry out of range: {e}"))?;
    Ok(CertificateInfo {
        subject: parsed.subject().to_string(),
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for `name`, written as `<name>.pem` and `<name>.key` in `dir`.
    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    fn served(certs: &Certificates) -> Vec<u8> {
        certs.loaded().certified.cert[0].to_vec()
    }

    fn pem_der(path: &Path) -> Vec<u8> {
        CertificateDer::from_pem_file(path).unwrap().to_vec()
    }

    /// A generated certificate lasts a year or so, is named as the placeholder it is, and
    /// is made again at a start close to its end; one put there by hand never is.
    #[test]
    fn a_generated_certificate_is_renewed_near_its_end_and_no_other_is() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let now = OffsetDateTime::now_utc();
        generate(&cert, &key, now).unwrap();
        let info = Certificates::load(&cert, &key).unwrap().info();
        assert!(info.subject.contains(GENERATED_NAME), "{info:?}");
        let days = (info.not_after - now).whole_days();
        assert!((396..=397).contains(&days), "{days}");
        assert_eq!(generated_ending(&cert), Some(info.not_after));

        // One made long ago ends within the renewal window: a start makes a new one.
        generate(&cert, &key, now - time::Duration::days(380)).unwrap();
        let config = crate::config::Config {
            data: dir.path().to_path_buf(),
            ..crate::config::Config::default()
        };
        std::fs::create_dir_all(dir.path().join("tls")).unwrap();
        let (tls_cert, tls_key) = (
            dir.path().join("tls/cert.pem"),
            dir.path().join("tls/key.pem"),
        );
        std::fs::copy(&cert, &tls_cert).unwrap();
        std::fs::copy(&key, &tls_key).unwrap();
        let old_end = generated_ending(&tls_cert).unwrap();
        assert!(old_end - now < GENERATED_RENEW_WITHIN);
        ensure_material(&config).unwrap();
        let renewed = generated_ending(&tls_cert).unwrap();
        assert!(renewed - now > time::Duration::days(390), "{renewed}");
        assert!(
            Certificates::load(&tls_cert, &tls_key).is_ok(),
            "key matches"
        );

        // Someone else's certificate in the same place stays, whatever its end.
        let (other_cert, other_key) = pair(dir.path(), "own.example");
        std::fs::copy(&other_cert, &tls_cert).unwrap();
        std::fs::copy(&other_key, &tls_key).unwrap();
        ensure_material(&config).unwrap();
        assert_eq!(pem_der(&tls_cert), pem_der(&other_cert));
    }

    #[test]
    fn a_reload_swaps_the_pair_and_a_bad_one_leaves_the_old_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "first.example");
        let certs = Certificates::load(&cert, &key).unwrap();
        assert_eq!(served(&certs), pem_der(&cert));
        let info = certs.info();
        assert!(info.subject.contains("rcgen"), "{info:?}");
        assert!(info.not_after > OffsetDateTime::now_utc(), "{info:?}");

        // Renewed in place: the next handshake gets the new one.
        let (cert2, key2) = pair(dir.path(), "second.example");
        std::fs::copy(&cert2, &cert).unwrap();
        std::fs::copy(&key2, &key).unwrap();
        certs.reload().unwrap();
        assert_eq!(served(&certs), pem_der(&cert2));
        assert_eq!(certs.reloads(), (1, 0));

        // Half-copied: a new certificate with the old key. Refused; the pair in use stays.
        let (cert3, _) = pair(dir.path(), "third.example");
        std::fs::copy(&cert3, &cert).unwrap();
        let e = certs.reload().unwrap_err().to_string();
        assert!(e.contains("cannot be used with"), "{e}");
        assert_eq!(served(&certs), pem_der(&cert2));

        // Not PEM at all, or gone: the same.
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(
            certs
                .reload()
                .unwrap_err()
                .to_string()
                .contains("no certificate")
        );
        std::fs::remove_file(&key).unwrap();
        assert!(certs.reload().is_err());
        assert_eq!(served(&certs), pem_der(&cert2));
        assert_eq!(certs.reloads(), (1, 3));
    }

    #[test]
    fn a_key_that_does_not_match_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = pair(dir.path(), "a.example");
        let (_, other_key) = pair(dir.path(), "b.example");
        let e = Certificates::load(&cert, &other_key)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be used with"), "{e}");
    }
}
