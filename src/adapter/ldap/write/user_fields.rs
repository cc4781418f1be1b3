//! Which field of the user record (or custom attribute) a person's attribute is, and its values.

use super::super::contact;
use crate::model::{CustomAttribute, CustomType, LicenseType, MultiValue, User};
use crate::service::ServiceError;

#[derive(Clone, Copy)]
pub(super) enum UserField {
    GivenName,
    Sn,
    DisplayName,
    Mail,
    /// A phone attribute of [`contact::PHONES`], by its LDAP name.
    Phone(&'static str),
    Title,
    EmployeeNumber,
    EmployeeType,
    Department,
    Organization,
    PreferredLanguage,
    /// SCIM `profileUrl`.
    ProfileUrl,
    /// SCIM `x509Certificates`, each value in base64 as SCIM stores it.
    Certificates,
    LicenseType,
    Active,
}

pub(super) fn user_field(attr: &str) -> Option<UserField> {
    use UserField as F;
    Some(match attr.to_ascii_lowercase().as_str() {
        "givenname" | "gn" => F::GivenName,
        "sn" | "surname" => F::Sn,
        "displayname" | "cn" | "commonname" => F::DisplayName,
        "mail" => F::Mail,
        "pagertelephonenumber" => F::Phone("pager"),
        "hometelephonenumber" => F::Phone("homePhone"),
        "title" => F::Title,
        "employeenumber" => F::EmployeeNumber,
        "employeetype" => F::EmployeeType,
        "departmentnumber" => F::Department,
        "o" => F::Organization,
        "preferredlanguage" => F::PreferredLanguage,
        "labeleduri" => F::ProfileUrl,
        "licensetype" => F::LicenseType,
        "active" => F::Active,
        name => {
            let (ldap, _) = contact::PHONES
                .iter()
                .find(|(ldap, _)| ldap.eq_ignore_ascii_case(name))?;
            F::Phone(ldap)
        }
    })
}

/// The attribute a field is written as (for its equality rule and in messages).
pub(super) fn field_attribute(field: UserField) -> &'static str {
    use UserField as F;
    match field {
        F::GivenName => "givenName",
        F::Sn => "sn",
        F::DisplayName => "displayName",
        F::Mail => "mail",
        F::Phone(attribute) => attribute,
        F::Title => "title",
        F::EmployeeNumber => "employeeNumber",
        F::EmployeeType => "employeeType",
        F::Department => "departmentNumber",
        F::Organization => "o",
        F::PreferredLanguage => "preferredLanguage",
        F::ProfileUrl => super::super::profile::PROFILE_URL,
        F::Certificates => super::super::profile::CERTIFICATE,
        F::LicenseType => "licenseType",
        F::Active => "active",
    }
}

/// The record keeps one value of every field but these.
pub(super) fn multi_valued(field: UserField) -> bool {
    matches!(
        field,
        UserField::Mail | UserField::Phone(_) | UserField::Certificates
    )
}

pub(super) fn set_field(
    user: &mut User,
    field: UserField,
    values: &[String],
) -> crate::service::Result<()> {
    use UserField as F;
    let one = || values.first().cloned();
    let invalid = |field, reason: &str| ServiceError::Invalid {
        field,
        reason: reason.into(),
    };
    if values.len() > 1 && !multi_valued(field) {
        return Err(invalid("attribute", "is single-valued"));
    }
    match field {
        F::GivenName => user.name.given_name = one(),
        F::Sn => user.name.family_name = one(),
        F::DisplayName => user.display_name = one(),
        F::Mail => contact::set_mail(&mut user.emails, values),
        F::Phone(attribute) => contact::set_phones(&mut user.phone_numbers, attribute, values),
        F::Title => user.title = one(),
        F::EmployeeNumber => user.employee_number = one(),
        F::EmployeeType => user.user_type = one(),
        F::Department => user.department = one(),
        F::Organization => user.organization = one(),
        F::PreferredLanguage => user.preferred_language = one(),
        F::ProfileUrl => user.profile_url = one(),
        F::Certificates => {
            // A certificate that stays keeps what SCIM says of it (type, display, primary).
            let before = std::mem::take(&mut user.x509_certificates);
            user.x509_certificates = values
                .iter()
                .map(|v| {
                    before
                        .iter()
                        .find(|c| c.value == *v)
                        .cloned()
                        .unwrap_or_else(|| MultiValue {
                            value: v.clone(),
                            ..MultiValue::default()
                        })
                })
                .collect();
        }
        F::LicenseType => {
            user.license = match one() {
                None => LicenseType::Employee,
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid("licenseType", "must be employee, partner or customer"))?,
            }
        }
        F::Active => {
            user.active = match one().as_deref() {
                None | Some("FALSE") => false,
                Some("TRUE") => true,
                Some(_) => return Err(invalid("active", "must be TRUE or FALSE")),
            }
        }
    }
    Ok(())
}

pub(super) fn current_values(user: &User, field: UserField) -> Vec<String> {
    use UserField as F;
    let opt = |o: &Option<String>| o.iter().cloned().collect::<Vec<_>>();
    match field {
        F::GivenName => opt(&user.name.given_name),
        F::Sn => opt(&user.name.family_name),
        F::DisplayName => opt(&user.display_name),
        F::Mail => contact::mail(&user.emails).map(str::to_owned).collect(),
        F::Phone(attribute) => contact::phones(&user.phone_numbers, attribute)
            .map(str::to_owned)
            .collect(),
        F::Title => opt(&user.title),
        F::EmployeeNumber => opt(&user.employee_number),
        F::EmployeeType => opt(&user.user_type),
        F::Department => opt(&user.department),
        F::Organization => opt(&user.organization),
        F::PreferredLanguage => opt(&user.preferred_language),
        F::ProfileUrl => opt(&user.profile_url),
        F::Certificates => user
            .x509_certificates
            .iter()
            .map(|c| c.value.clone())
            .collect(),
        F::LicenseType => vec![user.license.as_str().to_owned()],
        F::Active => vec![if user.active { "TRUE" } else { "FALSE" }.to_owned()],
    }
}

/// LDAP values as the JSON value a custom attribute of this type holds (`None`: no value).
pub(super) fn custom_value(
    attribute: &CustomAttribute,
    values: &[String],
) -> crate::service::Result<Option<serde_json::Value>> {
    use serde_json::Value;
    let invalid = |v: &str| {
        ServiceError::invalid(
            "custom attribute",
            format!(
                "{}: {v:?} is not {}",
                attribute.ldap_name(),
                match attribute.kind {
                    CustomType::String => "a string",
                    CustomType::Boolean => "a boolean (TRUE or FALSE)",
                    CustomType::Integer =>
                        "an integer (digits, a leading - for a negative one, no leading zeros)",
                    CustomType::Decimal => "a decimal number",
                    CustomType::DateTime => "a date and time",
                }
            ),
        )
    };
    let one = |v: &String| -> crate::service::Result<Value> {
        Ok(match attribute.kind {
            CustomType::String | CustomType::DateTime => Value::String(v.clone()),
            CustomType::Boolean => match v.to_ascii_uppercase().as_str() {
                "TRUE" => Value::Bool(true),
                "FALSE" => Value::Bool(false),
                _ => return Err(invalid(v)),
            },
            CustomType::Integer => {
                use rollcall_ldap::schema::syntax;
                match syntax::integer::<i64>(v) {
                    Some(n) => Value::from(n),
                    None if syntax::is_integer(v) => {
                        return Err(ServiceError::invalid(
                            "custom attribute",
                            format!(
                                "{}: {v} is out of range: integers here are from {} to {}",
                                attribute.ldap_name(),
                                i64::MIN,
                                i64::MAX
                            ),
                        ));
                    }
                    None => return Err(invalid(v)),
                }
            }
            CustomType::Decimal => {
                serde_json::Number::from_f64(v.trim().parse::<f64>().map_err(|_| invalid(v))?)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(v))?
            }
        })
    };
    let converted: Vec<Value> = values.iter().map(one).collect::<Result<_, _>>()?;
    Ok(match (attribute.multi_valued, converted.len()) {
        (_, 0) => None,
        (true, _) => Some(Value::Array(converted)),
        (false, 1) => converted.into_iter().next(),
        (false, _) => {
            return Err(ServiceError::invalid(
                "custom attribute",
                format!("{} takes one value", attribute.ldap_name()),
            ));
        }
    })
}
