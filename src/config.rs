//! Configuration: built-in defaults, then a TOML file, then `ROLLCALL_*` variables and flags
//! (the flags and variables are merged by clap in `main`). Unknown keys are refused, so a typo
//! in a config file is an error at start-up, not a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::lockout::LockoutPolicy;
use crate::model::LicenseLimits;
use crate::password::Argon2Params;
use crate::password::policy::PasswordPolicy;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the store, the generated TLS material and the message templates live.
    pub data: PathBuf,
    pub base_dn: String,
    /// Base of the links put in activation messages.
    pub public_url: Option<String>,
    pub http: HttpConfig,
    pub ldap: LdapConfig,
    pub tls: TlsConfig,
    pub licenses: LicenseLimits,
    pub argon2: Argon2Params,
    pub password: PasswordPolicy,
    pub lockout: LockoutPolicy,
    pub sessions: SessionConfig,
    pub recovery: RecoveryConfig,
    pub activation: ActivationConfig,
    pub activity: ActivityConfig,
    pub store: StoreConfig,
    pub smtp: SmtpConfig,
    pub backup: BackupConfig,
    pub custom_attributes: crate::model::CustomAttributes,
    pub notifications: NotificationsConfig,
    pub outbox: OutboxConfig,
    pub audit: AuditConfig,
    pub mfa: MfaConfig,
}

/// Second factors beside TOTP (`[mfa]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// People whose roles require MFA and who have no authenticator sign in over REST with a
    /// code mailed to them, instead of getting a session that may only enrol one. Off by
    /// default: a mailbox is a weaker factor than a device, and a password reset goes through
    /// the same mailbox.
    pub email_codes: bool,
    /// How long a mailed code works.
    pub email_code_ttl_minutes: u32,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            email_codes: false,
            email_code_ttl_minutes: 10,
        }
    }
}

/// The audit trail (`[audit]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an audit event is kept before the running server removes it (0, the default:
    /// kept for ever). Every bind and sign-in is an event, so a busy directory's trail grows
    /// quickly; compliance decides how long it must stay.
    pub keep_days: u32,
}

/// The outbox of messages (`[outbox]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Days a sent or undeliverable message is kept for the administrators to read before
    /// the running server removes it (0: kept for ever).
    pub keep_days: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { keep_days: 90 }
    }
}

/// Messages to users about their own accounts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Tell users when their password, email address or authenticator changes, failed
    /// sign-ins lock them, or an administrator acts as them.
    pub security_notices: bool,
    /// Tell users of a sign-in from a device (a kind of client on a network) they have not
    /// signed in from before. Needs `security_notices`.
    pub new_devices: bool,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            security_notices: true,
            new_devices: true,
        }
    }
}

/// Session tokens from `POST /auth/token`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Lifetime of a session when none of the user's roles sets a session timeout.
    pub default_timeout_minutes: u32,
    /// Whether administrators may act as another user (seed 002's "log in as").
    pub act_as: bool,
    /// Live sessions one user may hold at once; 0: no limit.
    pub max_per_user: u32,
    /// What a sign-in past `max_per_user` does.
    pub at_limit: crate::auth::session::AtLimit,
}

/// Self-service password recovery by emailed link.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    pub enabled: bool,
    pub link_ttl_minutes: u32,
    /// Whether administrators may recover their own password by email (seed 002: recovery
    /// can be disabled "for all, regular or admin users").
    pub administrators: bool,
    /// Whether everyone else may.
    pub regular_users: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            default_timeout_minutes: 480,
            act_as: true,
            max_per_user: 0,
            at_limit: crate::auth::session::AtLimit::default(),
        }
    }
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            link_ttl_minutes: 60,
            administrators: true,
            regular_users: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    /// Serve Prometheus metrics at `/metrics`: aggregate counts only, nothing that names a
    /// user. Off hides the endpoint (404).
    pub metrics: bool,
    /// A bearer token `/metrics` then requires (Prometheus `authorization.credentials`): for an
    /// `addr` other networks reach, so that they do not read the counts.
    pub metrics_token: Option<MetricsToken>,
    /// HTTPS instead of HTTP on `addr`, with the `[tls]` certificate (or the generated one).
    pub tls: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see `server::forwarded`).
    pub trusted_proxies: Vec<crate::model::Network>,
    /// Connections open at once; more wait to be accepted (see `server::connections`).
    pub max_connections: usize,
    /// Connections one client address may hold; more from it are closed. Trusted proxies
    /// are held only to `max_connections`.
    pub max_connections_per_ip: usize,
    /// A connection with nothing read or written for this long is closed.
    pub idle_timeout_seconds: u64,
    /// A request's line and headers must have arrived this long after the server began to
    /// wait for them (on a new connection, or one kept alive after an answer); else closed.
    pub header_timeout_seconds: u64,
}

/// The `/metrics` bearer token: compared in constant time, never printed.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Whether `presented` is the token, in time that does not depend on where they differ.
    pub fn admits(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    pub addr: SocketAddr,
    pub ldaps_addr: SocketAddr,
    /// Entries one search returns at most, whatever the client asks (0: no limit). A paged
    /// search is capped per page instead, so full exports still work by paging.
    pub size_limit: usize,
    /// Longest a search may run, in seconds (0: no limit).
    pub time_limit_seconds: u64,
    /// Refuse simple binds and password changes on connections without TLS (LDAPS or
    /// StartTLS) with confidentialityRequired.
    pub require_tls: bool,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// Load balancers whose connections start with a PROXY protocol header (v1 or v2) naming
    /// the client; connections from them without one are closed.
    pub trusted_proxies: Vec<crate::model::Network>,
}

/// Certificate and key (PEM). When both are absent a self-signed pair is generated in
/// `<data>/tls/` on first start.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ActivationConfig {
    pub link_ttl_hours: u32,
}

/// Sign-in activity: the dormant-account rule.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// People who have not signed in for this many days are deactivated; 0: never.
    pub deactivate_after_days: u32,
    /// Deactivations per hourly run at most.
    pub deactivate_per_run: u32,
    /// Users are told this many days before their deactivation; 0: not told.
    pub warn_days_before: u32,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            deactivate_after_days: 0,
            deactivate_per_run: 50,
            warn_days_before: 7,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Page cache of the embedded engine.
    pub cache_mb: u64,
    /// Decoded user records kept in memory for point reads (a uid search, a SCIM GET).
    pub user_cache: usize,
}

/// Scheduled backups by the running server (see [`crate::backups`]). Without a `dir`, none.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where backups go; created (owner-only) at start if missing.
    pub dir: Option<PathBuf>,
    pub interval_hours: u32,
    /// Newest backups kept in `dir`; older ones are removed after each new one.
    pub keep: usize,
    /// age public keys scheduled backups are encrypted to; none: written in the clear.
    pub recipients: Vec<crate::sealed::Recipient>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            interval_hours: 24,
            keep: 7,
            recipients: Vec::new(),
        }
    }
}

/// Outgoing mail for the outbox. Without a `host` nothing is sent: messages stay in the outbox
/// for the admins to read.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    /// Default: 465 with `security = "tls"`, else 587.
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Directory <directory@example.com>`.
    pub from: Option<String>,
    /// Extra trusted roots (PEM) for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    /// For connecting and for each SMTP command.
    pub timeout_seconds: u64,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (no silent downgrade).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the loopback interface.
    None,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            security: SmtpSecurity::default(),
            username: None,
            password: None,
            from: None,
            ca_file: None,
            timeout_seconds: 30,
        }
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Starttls | SmtpSecurity::None => 587,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(format!("[smtp] {m}")));
        let Some(host) = &self.host else {
            return Ok(());
        };
        if host.trim().is_empty() {
            return invalid("host is empty (leave it out to send no mail)".into());
        }
        if self.security == SmtpSecurity::None && !is_loopback(host) {
            return invalid(format!(
                "security = \"none\" sends mail and credentials in clear text; it is only \
                 allowed for a relay on the loopback interface, not host {host:?} \
                 (use \"starttls\" or \"tls\")"
            ));
        }
        match &self.from {
            None => return invalid("from is required when host is set".into()),
            Some(from) => {
                if let Err(e) = from.parse::<lettre::message::Mailbox>() {
                    return invalid(format!("from {from:?} is not a mail address: {e}"));
                }
            }
        }
        if self.username.is_some() != self.password.is_some() {
            return invalid("needs both username and password, or neither".into());
        }
        within(
            "[smtp] timeout_seconds",
            self.timeout_seconds,
            1..=3_600,
            Some("a relay that stops answering holds up every message behind it"),
        )?;
        if let Some(port) = self.port {
            within(
                "[smtp] port",
                u64::from(port),
                1..=u64::from(u16::MAX),
                None,
            )?;
        }
        Ok(())
    }
}

/// This machine's host name, for a public URL on an unspecified address; `localhost` when it
/// has none that can go in a URL.
fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
        .unwrap_or_else(|| "localhost".into())
}

/// `localhost` or a loopback address: the only places mail may go unencrypted.
fn is_loopback(host: &str) -> bool {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The password never reaches a log line, even through `{config:?}`.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("./rollcall-data"),
            base_dn: "dc=example,dc=com".into(),
            public_url: None,
            http: HttpConfig::default(),
            ldap: LdapConfig::default(),
            tls: TlsConfig::default(),
            licenses: LicenseLimits::default(),
            argon2: Argon2Params::default(),
            password: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            sessions: SessionConfig::default(),
            recovery: RecoveryConfig::default(),
            activation: ActivationConfig::default(),
            activity: ActivityConfig::default(),
            store: StoreConfig::default(),
            smtp: SmtpConfig::default(),
            backup: BackupConfig::default(),
            custom_attributes: crate::model::CustomAttributes::default(),
            notifications: NotificationsConfig::default(),
            outbox: OutboxConfig::default(),
            audit: AuditConfig::default(),
            mfa: MfaConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics: true,
            metrics_token: None,
            tls: false,
            trusted_proxies: Vec::new(),
            max_connections: 4096,
            max_connections_per_ip: 512,
            idle_timeout_seconds: 120,
            header_timeout_seconds: 30,
        }
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3890)),
            ldaps_addr: SocketAddr::from(([127, 0, 0, 1], 6360)),
            size_limit: 1000,
            time_limit_seconds: 60,
            require_tls: false,
            max_connections: 4096,
            max_connections_per_ip: 512,
            max_request_bytes: 256 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for ActivationConfig {
    fn default() -> Self {
        Self { link_ttl_hours: 72 }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mb: 512,
            user_cache: 100_000,
        }
    }
}

/// Connections one listener holds at most (`max_connections`): far past any file-descriptor
/// limit, and within what the listeners' counters take.
pub const MAX_CONNECTIONS: usize = 1 << 20;

/// The smallest `[ldap] max_request_bytes`: a bind or a search with a long DN still fits.
pub const MIN_LDAP_REQUEST_BYTES: usize = 1024;
/// The largest `[ldap] max_request_bytes`: each connection may buffer one request this big.
pub const MAX_LDAP_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// The largest `[store] cache_mb`, 1 TiB.
pub const MAX_CACHE_MB: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    #[error("{0}")]
    Invalid(String),
}

/// A setting outside the values it may take. Every such refusal is said the one way, key,
/// value and range, so that whoever reads it knows what to write without the README at hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// As written in the file: `[section] name`.
    pub key: &'static str,
    pub value: u64,
    pub range: std::ops::RangeInclusive<u64>,
    /// Why the range is what it is, where that is not plain.
    pub why: Option<&'static str>,
}

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {} is out of range {}–{}",
            self.key,
            self.value,
            self.range.start(),
            self.range.end()
        )?;
        match self.why {
            Some(why) => write!(f, ": {why}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for OutOfRange {}

/// Refuses `value` of `key` outside `range` (see [`OutOfRange`]).
pub(crate) fn within(
    key: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    why: Option<&'static str>,
) -> Result<(), OutOfRange> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(OutOfRange {
            key,
            value,
            range,
            why,
        })
    }
}

/// Values given on the command line or in `ROLLCALL_*` variables; they win over the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub http: Option<SocketAddr>,
    pub ldap: Option<SocketAddr>,
    pub ldaps: Option<SocketAddr>,
    pub base_dn: Option<String>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        if let Some(v) = &overrides.data {
            config.data.clone_from(v);
        }
        if let Some(v) = overrides.http {
            config.http.addr = v;
        }
        if let Some(v) = overrides.ldap {
            config.ldap.addr = v;
        }
        if let Some(v) = overrides.ldaps {
            config.ldap.ldaps_addr = v;
        }
        if let Some(v) = &overrides.base_dn {
            config.base_dn.clone_from(v);
        }
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.base_dn.trim().is_empty() || !self.base_dn.contains('=') {
            return Err(ConfigError::Invalid(format!(
                "base_dn {:?} is not a DN (expected e.g. dc=example,dc=com)",
                self.base_dn
            )));
        }
        rollcall_ldap::Dn::parse(&self.base_dn).map_err(|e| {
            ConfigError::Invalid(format!("base_dn {:?} is not a DN: {e}", self.base_dn))
        })?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "[tls] needs both cert and key, or neither".into(),
            ));
        }
        self.argon2_bounds()?;
        self.password.validate()?;
        self.lifetime_bounds()?;
        self.connection_bounds()?;
        // The engine's cache is this many MiB in bytes: past the bound the product would not
        // fit in 64 bits.
        within(
            "[store] cache_mb",
            self.store.cache_mb,
            1..=MAX_CACHE_MB,
            Some("1 TiB at most"),
        )?;
        if self.lockout.spray_threshold == 1 {
            return Err(ConfigError::Invalid(
                "[lockout] spray_threshold must be 0 (off) or at least 2: it counts different \
                 userNames failing from one address, and 1 would flag every mistyped password"
                    .into(),
            ));
        }
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|r| {
                r.is_empty() || r.starts_with('/') || r.contains(char::is_whitespace)
            }) {
                return Err(ConfigError::Invalid(format!(
                    "public_url {url:?} is not an http(s) URL such as \
                     https://directory.example.com: it is the base of links in messages and \
                     the issuer of session tokens"
                )));
            }
        }
        within(
            "[sessions] default_timeout_minutes",
            u64::from(self.sessions.default_timeout_minutes),
            1..=u64::from(crate::auth::session::MAX_TIMEOUT_MINUTES),
            Some("a year at most"),
        )?;
        self.smtp.validate()?;
        if self
            .http
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.0.trim().len() < 20)
        {
            return Err(ConfigError::Invalid(
                "[http] metrics_token must be at least 20 characters".into(),
            ));
        }
        self.custom_attributes
            .validate(crate::adapter::ldap::USER_ATTRIBUTE_NAMES)
            .map_err(|e| ConfigError::Invalid(format!("[custom_attributes]: {e}")))?;
        if self.activity.deactivate_after_days > 0 {
            within(
                "[activity] deactivate_per_run",
                u64::from(self.activity.deactivate_per_run),
                1..=u64::from(u32::MAX),
                Some("deactivate_after_days is set"),
            )?;
            if self.activity.warn_days_before >= self.activity.deactivate_after_days {
                return Err(ConfigError::Invalid(format!(
                    "[activity] warn_days_before ({}) must be less than deactivate_after_days \
                     ({}); 0 sends no warning",
                    self.activity.warn_days_before, self.activity.deactivate_after_days
                )));
            }
        }
        // Checked whether codes are on or not, so that turning them on later is no surprise.
        within(
            "[mfa] email_code_ttl_minutes",
            u64::from(self.mfa.email_code_ttl_minutes),
            1..=60,
            Some("a code is a second factor for one sign-in, not a standing password"),
        )?;
        within(
            "[backup] keep",
            self.backup.keep as u64,
            1..=u64::from(u32::MAX),
            Some("the newest backup is never removed"),
        )?;
        Ok(())
    }

    /// argon2id's cost: what argon2 itself refuses (no pass, fewer than 8 KiB a lane) and what
    /// would make every sign-in too slow or too big.
    fn argon2_bounds(&self) -> Result<(), ConfigError> {
        let argon2 = &self.argon2;
        // Lanes argon2 fills at once; more than the cores there are only slows each sign-in,
        // and argon2 itself refuses more than 2^24 - 1.
        const MAX_ARGON2_PARALLELISM: u64 = 64;
        within(
            "[argon2] parallelism",
            u64::from(argon2.parallelism),
            1..=MAX_ARGON2_PARALLELISM,
            Some("OWASP's recommendation is 1"),
        )?;
        // Time grows with the passes: past this a sign-in takes seconds of CPU, and clients
        // give up on binds before they are answered.
        const MAX_ARGON2_ITERATIONS: u64 = 64;
        within(
            "[argon2] iterations",
            u64::from(argon2.iterations),
            1..=MAX_ARGON2_ITERATIONS,
            Some(
                "every sign-in takes that many passes over memory_kib; OWASP's recommendation is 2",
            ),
        )?;
        // Every sign-in takes this much memory while it verifies; past 1 GiB a handful of
        // concurrent ones would exhaust most machines. argon2 needs 8 KiB per lane.
        const MAX_ARGON2_KIB: u64 = 1024 * 1024;
        within(
            "[argon2] memory_kib",
            u64::from(argon2.memory_kib),
            8 * u64::from(argon2.parallelism)..=MAX_ARGON2_KIB,
            Some(
                "8 per lane of parallelism at least, 1 GiB at most (every sign-in takes it \
                 while it verifies); OWASP's recommendation is 19456",
            ),
        )?;
        // Whatever else argon2 might refuse, refused at start rather than at the first sign-in.
        argon2
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("[argon2]: {e}")))
    }

    /// Lifetimes and ages are added to (or taken from) today's date: one past a hundred years
    /// would not be a setting but a crash at the first use. Some must be at least 1, or the
    /// feature would look on while doing nothing (a lock of no time, links already expired).
    fn lifetime_bounds(&self) -> Result<(), ConfigError> {
        const DAYS: u64 = 100 * 366;
        const HOURS: u64 = DAYS * 24;
        const MINUTES: u64 = HOURS * 60;
        const SECONDS: u64 = MINUTES * 60;
        let (activation, recovery, activity, password, lockout) = (
            &self.activation,
            &self.recovery,
            &self.activity,
            &self.password,
            &self.lockout,
        );
        let lifetimes = [
            (
                "[activation] link_ttl_hours",
                u64::from(activation.link_ttl_hours),
                1..=HOURS,
                "a link that expires as it is made activates no one; a hundred years at most",
            ),
            (
                "[recovery] link_ttl_minutes",
                u64::from(recovery.link_ttl_minutes),
                1..=MINUTES,
                "a hundred years at most",
            ),
            (
                "[outbox] keep_days",
                u64::from(self.outbox.keep_days),
                0..=DAYS,
                "0 keeps them for ever; a hundred years at most",
            ),
            (
                "[audit] keep_days",
                u64::from(self.audit.keep_days),
                0..=DAYS,
                "0 keeps them for ever; a hundred years at most",
            ),
            (
                "[activity] deactivate_after_days",
                u64::from(activity.deactivate_after_days),
                0..=DAYS,
                "0 deactivates no one; a hundred years at most",
            ),
            (
                "[activity] warn_days_before",
                u64::from(activity.warn_days_before),
                0..=DAYS,
                "a hundred years at most",
            ),
            (
                "[password] max_age_days",
                u64::from(password.max_age_days),
                0..=DAYS,
                "0: passwords never expire; a hundred years at most",
            ),
            (
                "[password] expiry_warning_days",
                u64::from(password.expiry_warning_days),
                0..=DAYS,
                "a hundred years at most",
            ),
            (
                "[lockout] window_seconds",
                lockout.window_seconds,
                1..=SECONDS,
                "failed sign-ins count within it (threshold = 0 turns lockout off); a hundred \
                 years at most",
            ),
            (
                "[lockout] duration_seconds",
                lockout.duration_seconds,
                1..=SECONDS,
                "a lock of 0 seconds would let the right password in at once (threshold = 0 \
                 turns lockout off); a hundred years at most",
            ),
            (
                "[ldap] time_limit_seconds",
                self.ldap.time_limit_seconds,
                0..=SECONDS,
                "0: none; a hundred years at most",
            ),
            (
                "[backup] interval_hours",
                u64::from(self.backup.interval_hours),
                1..=HOURS,
                "a hundred years at most",
            ),
        ];
        for (key, value, range, why) in lifetimes {
            within(key, value, range, Some(why))?;
        }
        Ok(())
    }

    /// What each listener holds: the counters take [`MAX_CONNECTIONS`], a connection that
    /// times out at once serves nothing, and an LDAP request larger than the limit closes its
    /// connection unanswered, so too small a limit shuts out every client (a bind alone takes
    /// a few hundred bytes).
    fn connection_bounds(&self) -> Result<(), ConfigError> {
        let connections = 1..=MAX_CONNECTIONS as u64;
        let (http, ldap) = (&self.http, &self.ldap);
        within(
            "[http] max_connections",
            http.max_connections as u64,
            connections.clone(),
            None,
        )?;
        within(
            "[http] max_connections_per_ip",
            http.max_connections_per_ip as u64,
            connections.clone(),
            None,
        )?;
        within(
            "[http] idle_timeout_seconds",
            http.idle_timeout_seconds,
            1..=86_400,
            Some("a day at most"),
        )?;
        within(
            "[http] header_timeout_seconds",
            http.header_timeout_seconds,
            1..=3_600,
            Some("an hour at most"),
        )?;
        within(
            "[ldap] max_connections",
            ldap.max_connections as u64,
            connections.clone(),
            None,
        )?;
        within(
            "[ldap] max_connections_per_ip",
            ldap.max_connections_per_ip as u64,
            connections,
            None,
        )?;
        within(
            "[ldap] max_request_bytes",
            ldap.max_request_bytes as u64,
            MIN_LDAP_REQUEST_BYTES as u64..=MAX_LDAP_REQUEST_BYTES as u64,
            Some("a larger request closes the connection"),
        )?;
        Ok(())
    }

    /// The base of links in messages: `public_url`, else the HTTP address. An unspecified
    /// address (0.0.0.0, ::) is where the server listens,
    /// not where anyone reaches it, so the machine's host name stands in for it (the start
    /// warns to set `public_url`, see [`Config::public_url_is_guessed`]).
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| {
                let scheme = if self.http.tls { "https" } else { "http" };
                let addr = self.http.addr;
                if addr.ip().is_unspecified() {
                    format!("{scheme}://{}:{}", host_name(), addr.port())
                } else {
                    format!("{scheme}://{addr}")
                }
            })
            .trim_end_matches('/')
            .to_string()
    }

    /// The issuer session tokens carry and are checked against: `public_url`, else the HTTP
    /// address as it is, an unspecified one included. Never the host name [`Self::public_url`]
    /// guesses for links: a container gets a new one at every start, and every session would
    /// end with it.
    pub fn token_issuer(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| {
                let scheme = if self.http.tls { "https" } else { "http" };
                format!("{scheme}://{}", self.http.addr)
            })
            .trim_end_matches('/')
            .to_string()
    }

    /// Whether the public URL is made up from an address other machines reach the server
    /// at: by what name they do is not Rollcall's to know, and a wrong guess mails links
    /// nobody can open.
    pub fn public_url_is_guessed(&self) -> bool {
        self.public_url.is_none() && !self.http.addr.ip().is_loopback()
    }

    /// The rules the core service takes from configuration (templates are loaded apart, from
    /// the data directory).
    pub fn policy(&self) -> crate::service::Policy {
        crate::service::Policy {
            templates: std::sync::Arc::default(),
            licenses: self.licenses,
            public_url: self.public_url(),
            token_issuer: self.token_issuer(),
            activation_link_ttl: time::Duration::hours(self.activation.link_ttl_hours.into()),
            argon2: self.argon2,
            password: self.password,
            lockout: self.lockout,
            session_timeout: time::Duration::minutes(self.sessions.default_timeout_minutes.into()),
            act_as: self.sessions.act_as,
            session_limit: (self.sessions.max_per_user > 0).then_some(
                crate::auth::session::SessionLimit {
                    max: self.sessions.max_per_user,
                    at_limit: self.sessions.at_limit,
                },
            ),
            recovery: self.recovery.enabled,
            security_notices: self.notifications.security_notices,
            new_device_notices: self.notifications.security_notices
                && self.notifications.new_devices,
            email_codes: self
                .mfa
                .email_codes
                .then(|| time::Duration::minutes(self.mfa.email_code_ttl_minutes.into())),
            outbox_keep: (self.outbox.keep_days > 0)
                .then(|| time::Duration::days(self.outbox.keep_days.into())),
            audit_keep: (self.audit.keep_days > 0)
                .then(|| time::Duration::days(self.audit.keep_days.into())),
            recovery_for: crate::service::RecoveryFor {
                administrators: self.recovery.administrators,
                regular_users: self.recovery.regular_users,
            },
            recovery_link_ttl: time::Duration::minutes(self.recovery.link_ttl_minutes.into()),
            custom: std::sync::Arc::new(self.custom_attributes.clone()),
            dormancy: (self.activity.deactivate_after_days > 0).then(|| {
                crate::service::DormancyPolicy {
                    after: time::Duration::days(self.activity.deactivate_after_days.into()),
                    per_run: self.activity.deactivate_per_run as usize,
                    warn_before: (self.activity.warn_days_before > 0)
                        .then(|| time::Duration::days(self.activity.warn_days_before.into())),
                }
            }),
        }
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data.join("store")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply_and_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollcall.toml");
        std::fs::write(
            &path,
            r#"
            base_dn = "dc=corp,dc=test"
            [http]
            addr = "127.0.0.1:9000"
            [licenses]
            employee = 10
            partner_model = "per_account"
            "#,
        )
        .unwrap();
        let config = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(config.base_dn, "dc=corp,dc=test");
        assert_eq!(config.http.addr.port(), 9000);
        assert_eq!(config.licenses.employee, Some(10));
        assert_eq!(config.ldap.addr.port(), 3890, "defaults fill the rest");

        let overrides = Overrides {
            http: Some("127.0.0.1:9100".parse().unwrap()),
            base_dn: Some("dc=other".into()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), &overrides).unwrap();
        assert_eq!(config.http.addr.port(), 9100);
        assert_eq!(config.base_dn, "dc=other");
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[licenses]\nemployees = 5\n").unwrap();
        let err = Config::load(Some(&path), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("employees"), "{err}");

        std::fs::write(&path, "[tls]\ncert = \"a.pem\"\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());

        std::fs::write(&path, "base_dn = \"example\"\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());
    }

    #[test]
    fn the_dormant_rule_is_off_by_default_and_becomes_a_policy_when_set() {
        assert_eq!(Config::default().policy().dormancy, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("activity.toml");
        std::fs::write(&path, "[activity]\ndeactivate_after_days = 90\n").unwrap();
        let policy = Config::load(Some(&path), &Overrides::default())
            .unwrap()
            .policy()
            .dormancy
            .unwrap();
        assert_eq!(policy.after, time::Duration::days(90));
        assert_eq!(policy.per_run, 50);
        assert_eq!(policy.warn_before, Some(time::Duration::days(7)));
        std::fs::write(
            &path,
            "[activity]\ndeactivate_after_days = 90\ndeactivate_per_run = 0\n",
        )
        .unwrap();
        let err = Config::load(Some(&path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[activity] deactivate_per_run = 0 is out of range 1–4294967295"),
            "{err}"
        );
        std::fs::write(&path, "[activity]\ndeactivate_after_days = 5\n").unwrap();
        let err = Config::load(Some(&path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("warn_days_before (7) must be less than deactivate_after_days (5)"),
            "{err}"
        );
        std::fs::write(
            &path,
            "[activity]\ndeactivate_after_days = 5\nwarn_days_before = 0\n",
        )
        .unwrap();
        let policy = Config::load(Some(&path), &Overrides::default())
            .unwrap()
            .policy()
            .dormancy
            .unwrap();
        assert_eq!(policy.warn_before, None);
    }

    #[test]
    fn lifetimes_past_the_calendar_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spans.toml");
        for (toml, key) in [
            ("[audit]\nkeep_days = 4294967295", "[audit] keep_days"),
            (
                "[lockout]\nduration_seconds = 18446744073709551615",
                "[lockout] duration_seconds",
            ),
            (
                "[password]\nmax_age_days = 40000",
                "[password] max_age_days",
            ),
            (
                "[sessions]\ndefault_timeout_minutes = 4294967295",
                "default_timeout_minutes",
            ),
        ] {
            std::fs::write(&path, toml).unwrap();
            let err = Config::load(Some(&path), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        std::fs::write(&path, "[audit]\nkeep_days = 36500\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_ok());
    }

    #[test]
    fn settings_that_would_break_at_first_use_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bounds.toml");
        for (toml, key) in [
            ("[store]\ncache_mb = 0", "cache_mb"),
            ("[argon2]\nmemory_kib = 16777216", "memory_kib"),
            ("[ldap]\nmax_connections = 0", "[ldap] max_connections"),
            ("public_url = \"not a url\"", "public_url"),
            ("public_url = \"https://\"", "public_url"),
        ] {
            std::fs::write(&path, toml).unwrap();
            let err = Config::load(Some(&path), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        std::fs::write(&path, "public_url = \"https://directory.example.com/\"\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_ok());
    }

    /// Values that a start used to take and then quietly ran without the feature (a lock of
    /// no time, links already expired, an LDAP server that closes every connection) or never
    /// finished with are refused, naming the key and what it may be.
    #[test]
    fn values_that_would_quietly_disable_a_feature_are_refused_with_their_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bounds.toml");
        let load = |toml: &str| {
            std::fs::write(&path, toml).unwrap();
            Config::load(Some(&path), &Overrides::default())
        };
        for (toml, says) in [
            (
                "[lockout]\nwindow_seconds = 0",
                "[lockout] window_seconds = 0 is out of range 1–3162240000: failed sign-ins",
            ),
            (
                "[lockout]\nduration_seconds = 0",
                "[lockout] duration_seconds = 0 is out of range 1–3162240000: a lock of 0",
            ),
            (
                "[lockout]\nspray_threshold = 1",
                "[lockout] spray_threshold must be 0 (off) or at least 2",
            ),
            (
                "[activation]\nlink_ttl_hours = 0",
                "[activation] link_ttl_hours = 0 is out of range 1–878400",
            ),
            (
                "[recovery]\nlink_ttl_minutes = 0",
                "[recovery] link_ttl_minutes = 0 is out of range 1–52704000",
            ),
            (
                "[backup]\ninterval_hours = 0",
                "[backup] interval_hours = 0 is out of range 1–878400",
            ),
            (
                "[backup]\nkeep = 0",
                "[backup] keep = 0 is out of range 1–4294967295: the newest backup",
            ),
            (
                "[ldap]\nmax_request_bytes = 0",
                "[ldap] max_request_bytes = 0 is out of range 1024–67108864",
            ),
            (
                "[ldap]\nmax_request_bytes = 1000000000",
                "[ldap] max_request_bytes = 1000000000 is out of range 1024–67108864",
            ),
            (
                "[ldap]\ntime_limit_seconds = 18446744073709551615",
                "[ldap] time_limit_seconds = 18446744073709551615 is out of range 0–3162240000: \
                 0: none; a hundred years at most",
            ),
            (
                "[ldap]\nmax_connections = 18446744073709551615",
                "[ldap] max_connections = 18446744073709551615 is out of range 1–1048576",
            ),
            (
                "[ldap]\nmax_connections_per_ip = 0",
                "[ldap] max_connections_per_ip = 0 is out of range 1–1048576",
            ),
            (
                "[http]\nmax_connections = 18446744073709551615",
                "[http] max_connections = 18446744073709551615 is out of range 1–1048576",
            ),
            (
                "[http]\nmax_connections = 1048577",
                "[http] max_connections = 1048577 is out of range 1–1048576",
            ),
            (
                "[http]\nmax_connections = 0",
                "[http] max_connections = 0 is out of range 1–1048576",
            ),
            (
                "[http]\nmax_connections_per_ip = 0",
                "[http] max_connections_per_ip = 0 is out of range 1–1048576",
            ),
            (
                "[http]\nidle_timeout_seconds = 0",
                "[http] idle_timeout_seconds = 0 is out of range 1–86400",
            ),
            (
                "[http]\nheader_timeout_seconds = 0",
                "[http] header_timeout_seconds = 0 is out of range 1–3600",
            ),
            (
                "[password]\nmin_length = 100000",
                "[password] min_length = 100000 is out of range 0–128",
            ),
            (
                "[password]\nhistory = 100000",
                "[password] history = 100000 is out of range 0–100",
            ),
            (
                "[password]\nrequired_classes = 5",
                "[password] required_classes = 5 is out of range 0–4",
            ),
            (
                "[password]\ngrace_logins = 1000000",
                "[password] grace_logins = 1000000 is out of range 0–100",
            ),
            (
                "[store]\ncache_mb = 17592186044416",
                "[store] cache_mb = 17592186044416 is out of range 1–1048576",
            ),
            (
                "[argon2]\niterations = 1000000",
                "[argon2] iterations = 1000000 is out of range 1–64",
            ),
            (
                "[argon2]\niterations = 0",
                "[argon2] iterations = 0 is out of range 1–64",
            ),
            (
                "[argon2]\nparallelism = 100000",
                "[argon2] parallelism = 100000 is out of range 1–64",
            ),
            (
                "[argon2]\nparallelism = 0",
                "[argon2] parallelism = 0 is out of range 1–64",
            ),
            (
                "[argon2]\nmemory_kib = 0",
                "[argon2] memory_kib = 0 is out of range 8–1048576",
            ),
            (
                "[argon2]\nmemory_kib = 64\nparallelism = 16",
                "[argon2] memory_kib = 64 is out of range 128–1048576",
            ),
            (
                "[sessions]\ndefault_timeout_minutes = 0",
                "[sessions] default_timeout_minutes = 0 is out of range 1–527040",
            ),
            (
                "[smtp]\nhost = \"m.example.com\"\nfrom = \"d@example.com\"\ntimeout_seconds = 86400",
                "[smtp] timeout_seconds = 86400 is out of range 1–3600",
            ),
            (
                "[smtp]\nhost = \"m.example.com\"\nfrom = \"d@example.com\"\nport = 0",
                "[smtp] port = 0 is out of range 1–65535",
            ),
        ] {
            let err = load(toml).unwrap_err().to_string();
            assert!(err.contains(says), "{toml}: {err}");
        }
        // The bounds themselves, and the zeros that mean something, are taken.
        for toml in [
            "[http]\nmax_connections = 1048576\nidle_timeout_seconds = 86400\nheader_timeout_seconds = 3600",
            "[http]\nmax_connections = 1\nmax_connections_per_ip = 1\nidle_timeout_seconds = 1\nheader_timeout_seconds = 1",
            "[argon2]\nmemory_kib = 8\niterations = 1\nparallelism = 1",
            "[argon2]\nmemory_kib = 1048576",
            "[audit]\nkeep_days = 36600",
            "[lockout]\nthreshold = 0\nspray_threshold = 0\nwindow_seconds = 1\nduration_seconds = 1",
            "[activation]\nlink_ttl_hours = 1",
            "[ldap]\nmax_request_bytes = 1024\nsize_limit = 0\ntime_limit_seconds = 0",
            "[ldap]\nmax_request_bytes = 67108864",
            "[password]\nmin_length = 128\nhistory = 100",
            "[password]\nmin_length = 0\nhistory = 0",
            "[argon2]\niterations = 64\nparallelism = 64",
            "[password]\ngrace_logins = 100",
        ] {
            assert!(load(toml).is_ok(), "{toml}: {:?}", load(toml).err());
        }
    }

    /// With no `public_url`, links name the HTTP address, except an unspecified one (0.0.0.0,
    /// ::), which no client can reach: the machine's name stands in. The token issuer never
    /// takes the machine's name, which a container changes at every start: it is the address
    /// as configured, so sessions outlive a restart.
    #[test]
    fn the_default_public_url_never_names_an_unspecified_address() {
        let mut config = Config::default();
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
        assert_eq!(config.token_issuer(), "http://127.0.0.1:8080");
        assert!(!config.public_url_is_guessed());
        for addr in ["0.0.0.0:8443", "[::]:8443"] {
            config.http.addr = addr.parse().unwrap();
            config.http.tls = true;
            let url = config.public_url();
            assert!(url.starts_with("https://"), "{url}");
            assert!(url.ends_with(":8443"), "{url}");
            assert!(!url.contains("0.0.0.0") && !url.contains("[::]"), "{url}");
            assert!(config.public_url_is_guessed());
            assert_eq!(config.token_issuer(), format!("https://{addr}"));
        }
        config.http.addr = "192.0.2.7:8080".parse().unwrap();
        config.http.tls = false;
        assert_eq!(config.public_url(), "http://192.0.2.7:8080");
        assert!(
            config.public_url_is_guessed(),
            "other machines may know it by another name"
        );
        config.public_url = Some("https://directory.example.com/".into());
        assert_eq!(config.public_url(), "https://directory.example.com");
        assert_eq!(config.token_issuer(), "https://directory.example.com");
        assert!(!config.public_url_is_guessed());
    }

    #[test]
    fn email_codes_are_off_by_default_and_their_lifetime_is_bounded() {
        assert_eq!(Config::default().policy().email_codes, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mfa.toml");
        let load = |toml: &str| {
            std::fs::write(&path, format!("[mfa]\n{toml}\n")).unwrap();
            Config::load(Some(&path), &Overrides::default())
        };
        let policy = load("email_codes = true").unwrap().policy();
        assert_eq!(policy.email_codes, Some(time::Duration::minutes(10)));
        let err = load("email_codes = true\nemail_code_ttl_minutes = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[mfa] email_code_ttl_minutes = 0 is out of range 1–60"),
            "{err}"
        );
        let err = load("email_codes = true\nemail_code_ttl_minutes = 1440")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[mfa] email_code_ttl_minutes = 1440 is out of range 1–60"),
            "{err}"
        );
        // Checked with codes off too: the README's range holds whatever else is set.
        for ttl in [0, 61] {
            let err = load(&format!("email_code_ttl_minutes = {ttl}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!(
                    "[mfa] email_code_ttl_minutes = {ttl} is out of range 1–60"
                )),
                "{err}"
            );
        }
        assert!(
            load("email_codes = \"yes\"").is_err(),
            "a boolean, not a string"
        );
    }

    fn smtp(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtp.toml");
        std::fs::write(&path, format!("[smtp]\n{toml}\n")).unwrap();
        Config::load(Some(&path), &Overrides::default())
    }

    #[test]
    fn custom_attributes_that_cannot_work_stop_the_start() {
        let load = |toml: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("custom.toml");
            std::fs::write(&path, toml).unwrap();
            Config::load(Some(&path), &Overrides::default())
        };
        let ok = load("[[custom_attributes.attributes]]\nname = \"costCenterCode\"\n").unwrap();
        assert_eq!(ok.custom_attributes.attributes.len(), 1);
        assert_eq!(ok.policy().custom.attributes.len(), 1);
        for (bad, says) in [
            (
                "[[custom_attributes.attributes]]\nname = \"cost centre\"\n",
                "[custom_attributes]: attribute name \"cost centre\"",
            ),
            // The LDAP name of a built-in attribute.
            (
                "[[custom_attributes.attributes]]\nname = \"code\"\nldap = \"mail\"\n",
                "\"mail\" is already one of the directory's",
            ),
            (
                "[[custom_attributes.attributes]]\nname = \"code\"\ntype = \"blob\"\n",
                "unknown variant `blob`",
            ),
        ] {
            let err = load(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn smtp_defaults_and_ports() {
        let config = Config::default();
        assert_eq!(config.smtp.host, None, "no SMTP unless configured");
        let config = smtp("host = \"mail.example.com\"\nfrom = \"dir@example.com\"").unwrap();
        assert_eq!(config.smtp.security, SmtpSecurity::Starttls);
        assert_eq!(config.smtp.port(), 587);
        assert_eq!(config.smtp.timeout_seconds, 30);
        let config = smtp(
            "host = \"mail.example.com\"\nfrom = \"Directory <dir@example.com>\"\nsecurity = \"tls\"",
        )
        .unwrap();
        assert_eq!(config.smtp.port(), 465);
        let config = smtp(
            "host = \"mail.example.com\"\nfrom = \"dir@example.com\"\nsecurity = \"tls\"\nport = 2465",
        )
        .unwrap();
        assert_eq!(config.smtp.port(), 2465);
    }

    #[test]
    fn smtp_without_encryption_only_on_loopback() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.53"] {
            smtp(&format!(
                "host = \"{host}\"\nfrom = \"dir@example.com\"\nsecurity = \"none\""
            ))
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        for host in ["mail.example.com", "10.0.0.5", "localhost.example.com"] {
            let err = smtp(&format!(
                "host = \"{host}\"\nfrom = \"dir@example.com\"\nsecurity = \"none\""
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("loopback") && err.contains(host), "{err}");
        }
    }

    #[test]
    fn smtp_settings_are_checked() {
        let err = smtp("host = \"mail.example.com\"").unwrap_err().to_string();
        assert!(err.contains("from is required"), "{err}");
        let err = smtp("host = \"mail.example.com\"\nfrom = \"not an address\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a mail address"), "{err}");
        let err = smtp("host = \"m.example.com\"\nfrom = \"d@example.com\"\nusername = \"u\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("username and password"), "{err}");
        let err = smtp("host = \"m.example.com\"\nfrom = \"d@example.com\"\nsecurity = \"ssl\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ssl"), "{err}");
        let err = smtp("hostname = \"m.example.com\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hostname"), "unknown keys are refused: {err}");
    }

    #[test]
    fn smtp_debug_redacts_the_password() {
        let config = smtp(
            "host = \"m.example.com\"\nfrom = \"d@example.com\"\nusername = \"u\"\npassword = \"hunter2-secret\"",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
