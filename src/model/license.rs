use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a person is licensed as; decides their data scope and which pool their seat comes from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LicenseType {
    /// Internal staff: whole-organisation scope, no account needed.
    #[default]
    Employee,
    /// External partners: scoped to their account.
    Partner,
    /// Customers: scoped to their account.
    Customer,
}

impl LicenseType {
    pub const ALL: [LicenseType; 3] = [Self::Employee, Self::Partner, Self::Customer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Partner => "partner",
            Self::Customer => "customer",
        }
    }

    /// The indefinite article before its name in messages (`an employee license`, `a partner
    /// license`), chosen by the name, not guessed from its first letter.
    pub fn article(self) -> &'static str {
        match self {
            Self::Employee => "an",
            Self::Partner | Self::Customer => "a",
        }
    }

    /// Partner and customer data is filtered by account, so such a user without one would see
    /// either nothing or everything; both are wrong, hence the requirement.
    pub fn requires_account(self) -> bool {
        !matches!(self, Self::Employee)
    }
}

impl fmt::Display for LicenseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for LicenseType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "employee" => Ok(Self::Employee),
            "partner" => Ok(Self::Partner),
            "customer" => Ok(Self::Customer),
            other => Err(format!(
                "unknown license type {other:?} (expected employee, partner or customer)"
            )),
        }
    }
}

/// How partner seats are counted (seed 000: "user-based tiers or account-based licensing").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerModel {
    /// Every active partner takes a seat from the `partner` limit.
    #[default]
    PerUser,
    /// A licensed account gives unlimited partner users; a partner in an unlicensed account cannot
    /// be activated. The `partner` limit is not used.
    PerAccount,
}

/// Seats per license type. `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenseLimits {
    pub employee: Option<u64>,
    pub partner: Option<u64>,
    pub customer: Option<u64>,
    pub partner_model: PartnerModel,
}

impl LicenseLimits {
    /// The cap a counter is checked against; per-account partner licensing has no global cap.
    pub fn limit(&self, license: LicenseType) -> Option<u64> {
        match license {
            LicenseType::Employee => self.employee,
            LicenseType::Partner if self.partner_model == PartnerModel::PerAccount => None,
            LicenseType::Partner => self.partner,
            LicenseType::Customer => self.customer,
        }
    }
}

/// One line of the license report: seats in use against the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseUsage {
    pub license: LicenseType,
    pub used: u64,
    pub limit: Option<u64>,
}
