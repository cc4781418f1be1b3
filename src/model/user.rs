use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AccountId, LicenseType, RoleId, UserId};

/// What kind of principal a user record is (seed 002). Only persons log in interactively and
/// consume licenses; the system principal never logs in at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    #[default]
    Person,
    /// SCIM/REST automation (an IdP's provisioning token).
    Api,
    /// An application's LDAP bind DN.
    Bind,
    System,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Api => "api",
            Self::Bind => "bind",
            Self::System => "system",
        }
    }

    pub fn is_service_account(self) -> bool {
        matches!(self, Self::Api | Self::Bind)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for PrincipalKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "person" => Ok(Self::Person),
            "api" => Ok(Self::Api),
            "bind" => Ok(Self::Bind),
            "system" => Ok(Self::System),
            other => Err(format!(
                "unknown principal kind {other:?} (expected person, api, bind or system)"
            )),
        }
    }
}

/// The parts of a person's name, as SCIM's `name` complex attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Name {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// One value of a multi-valued attribute such as emails or phone numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MultiValue {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub primary: bool,
    pub display: Option<String>,
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub formatted: Option<String>,
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub primary: bool,
}

/// A principal in the directory: a person, a service account or the system principal.
///
/// `roles` is the source of truth for membership; the store keeps the role→members direction as
/// an index. Holding it here lets one transaction check a license-type change against the user's
/// roles with point reads only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    #[serde(default)]
    pub kind: PrincipalKind,
    pub user_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub name: Name,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub nick_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub emails: Vec<MultiValue>,
    #[serde(default)]
    pub phone_numbers: Vec<MultiValue>,
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// What identity providers say of a person besides the above, kept as sent (RFC 7643
    /// §4.1: `profileUrl`, `ims`, `photos`, `entitlements`, `roles`, `x509Certificates`). No
    /// rule here reads them; they are the provider's to send and the applications' to read.
    /// Left out of records that have none, so that those read as they always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ims: Vec<MultiValue>,
    /// URLs of pictures of the person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<MultiValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<MultiValue>,
    /// SCIM `roles`: free-form values an identity provider assigns (Entra ID's app roles).
    /// They are not Rollcall roles (`roles`, which SCIM shows as Groups) and grant nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scim_roles: Vec<MultiValue>,
    /// DER X.509 certificates, each base64 as RFC 7643 §4.1.2 has it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub x509_certificates: Vec<MultiValue>,
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub cost_center: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub division: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    /// Drives the reporting hierarchy (subordinates, team) of the permission engine.
    #[serde(default)]
    pub manager: Option<UserId>,
    #[serde(default)]
    pub account: Option<AccountId>,
    #[serde(default)]
    pub license: LicenseType,
    #[serde(default)]
    pub active: bool,
    /// Final: personal data erased, unreadable, cannot log in; the id stays for the audit trail.
    #[serde(default)]
    pub anonymised: bool,
    #[serde(default)]
    pub roles: Vec<RoleId>,
    /// argon2id PHC string. Never leaves the server.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub password_changed: Option<OffsetDateTime>,
    /// The password was set by someone else (an administrator) under `[password]
    /// reset_must_change`: a temporary one, to be replaced by the user at the next sign-in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_must_change: bool,
    /// Earlier password hashes, newest first, as many as `[password] history` asks for.
    #[serde(default)]
    pub password_history: Vec<String>,
    /// Locked after too many failed logins until this time (or until an admin unlocks).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    /// The TOTP authenticator, once enrolled.
    #[serde(default)]
    pub totp: Option<crate::auth::totp::TotpEnrolment>,
    /// Sessions issued before this time are void ("sign out everywhere").
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sessions_revoked: Option<OffsetDateTime>,
    /// When the user was first activated; a user created inactive and activated later must set
    /// a password through the emailed link (seed 000).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_activated: Option<OffsetDateTime>,
    /// Custom attributes keyed by schema URN + attribute, so new attributes need no new columns.
    #[serde(default)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    /// Bumped by every write; SCIM's ETag and the compare-and-swap token.
    pub version: u64,
}

impl User {
    /// A new, inactive employee with only a userName; the service fills in the rest.
    pub fn new(user_name: impl Into<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: UserId::new(),
            kind: PrincipalKind::Person,
            user_name: user_name.into(),
            external_id: None,
            name: Name::default(),
            display_name: None,
            nick_name: None,
            title: None,
            user_type: None,
            preferred_language: None,
            locale: None,
            timezone: None,
            emails: Vec::new(),
            phone_numbers: Vec::new(),
            addresses: Vec::new(),
            profile_url: None,
            ims: Vec::new(),
            photos: Vec::new(),
            entitlements: Vec::new(),
            scim_roles: Vec::new(),
            x509_certificates: Vec::new(),
            employee_number: None,
            cost_center: None,
            organization: None,
            division: None,
            department: None,
            manager: None,
            account: None,
            license: LicenseType::Employee,
            active: false,
            anonymised: false,
            roles: Vec::new(),
            password_hash: None,
            password_changed: None,
            password_must_change: false,
            password_history: Vec::new(),
            locked_until: None,
            totp: None,
            sessions_revoked: None,
            first_activated: None,
            extensions: BTreeMap::new(),
            created: now,
            modified: now,
            version: 0,
        }
    }

    /// The license seat this user occupies, if any: only active, non-anonymised persons consume.
    pub fn seat(&self) -> Option<LicenseType> {
        (self.kind == PrincipalKind::Person && self.active && !self.anonymised)
            .then_some(self.license)
    }

    /// The license type this record is under: a person's. Service accounts (and the system
    /// principal) take no license, so the type their record carries means nothing and is not
    /// shown as theirs (`-` in listings and reviews).
    pub fn license_type(&self) -> Option<LicenseType> {
        (self.kind == PrincipalKind::Person).then_some(self.license)
    }

    /// Whether failed logins have locked the user at `now`.
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Whether logins must present a TOTP code: an enrolled, confirmed authenticator.
    pub fn has_mfa(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed)
    }

    /// The address activation and recovery messages go to: the primary email, else the first.
    pub fn contact_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str())
    }

    /// Erases everything that identifies the person. The id, kind, license type and timestamps
    /// stay so that audit entries and license history still resolve.
    pub fn erase_personal_data(&mut self) {
        let id = self.id;
        let kind = self.kind;
        let license = self.license;
        let created = self.created;
        let version = self.version;
        let first_activated = self.first_activated;
        *self = User::new(format!("anonymised-{id}"));
        self.id = id;
        self.kind = kind;
        self.license = license;
        self.created = created;
        self.version = version;
        self.first_activated = first_activated;
        self.anonymised = true;
    }
}
