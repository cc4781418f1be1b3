//! CSV import (seed 003: "CSV import for bulk user creation"): a spreadsheet with one person per
//! row, a header row naming the columns, and the account, roles and manager by name, as an HR
//! export or a hand-made sheet has them. Each row becomes a `{"row": {…}}` (or, to change
//! people already there, `{"update": {…}}`) import line, so a
//! sheet goes through the same import as an export (line by line, on a running server or a
//! stopped store), and the names are looked up where the records are.

use serde::{Deserialize, Serialize};

use crate::model::LicenseType;

/// One person, as a row of the sheet gives it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Row {
    pub user_name: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub employee_number: Option<String>,
    /// Work phone.
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub license: Option<LicenseType>,
    /// The account's name.
    pub account: Option<String>,
    /// The manager's userName; it may come later in the sheet.
    pub manager: Option<String>,
    /// Role and group names.
    pub roles: Vec<String>,
    /// Active (taking a license under the rules) or not; empty: a new person is inactive,
    /// an updated one stays as it is.
    pub active: Option<bool>,
    /// In clear text, under the password policy; without it an active person gets a link to
    /// choose one.
    pub password: Option<String>,
}

/// The columns a sheet may have, by their names in the header. Header names are matched
/// without regard to case, spaces, `_` and `-` (`User Name`, `user_name` and `userName` are
/// one column).
pub const COLUMNS: [&str; 20] = [
    "userName",
    "externalId",
    "email",
    "givenName",
    "familyName",
    "displayName",
    "title",
    "department",
    "employeeNumber",
    "phone",
    "mobile",
    "preferredLanguage",
    "locale",
    "timezone",
    "license",
    "account",
    "manager",
    "roles",
    "active",
    "password",
];

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SheetError {
    #[error("the header has no userName column (columns: {})", COLUMNS.join(", "))]
    NoUserName,
    #[error("column {0:?} is not one of: {cols}", cols = COLUMNS.join(", "))]
    UnknownColumn(String),
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    /// `row` counts as a spreadsheet does: the header is row 1.
    #[error("row {row}: {detail}")]
    Row { row: u64, detail: String },
    #[error("the sheet is not CSV: {0}")]
    Csv(String),
}

/// A sheet being read: the header is checked when it opens, rows are read one at a time.
pub struct Sheet<R: std::io::Read> {
    reader: csv::Reader<R>,
    /// Which column each header field is.
    columns: Vec<usize>,
}

fn normalised(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl<R: std::io::Read> Sheet<R> {
    pub fn open(input: R) -> Result<Self, SheetError> {
        // Cells are trimmed here rather than by the reader, whose trimming shifts the line
        // numbers its records report.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        let header = reader
            .headers()
            .map_err(|e| SheetError::Csv(e.to_string()))?
            .clone();
        let mut columns = Vec::with_capacity(header.len());
        for field in header.iter() {
            // A spreadsheet saved as "CSV UTF-8" starts with a byte order mark.
            let field = field.trim_start_matches('\u{feff}').trim();
            let wanted = normalised(field);
            let Some(index) = COLUMNS.iter().position(|c| normalised(c) == wanted) else {
                return Err(SheetError::UnknownColumn(field.to_string()));
            };
            if columns.contains(&index) {
                return Err(SheetError::DuplicateColumn(field.to_string()));
            }
            columns.push(index);
        }
        if !columns.contains(&0) {
            return Err(SheetError::NoUserName);
        }
        Ok(Self { reader, columns })
    }

    /// The next row and its number (the header is row 1): `None` at the end. A row that cannot be read (a value of the wrong kind,
    /// no userName) is an error for that row alone; the caller goes on with the next.
    pub fn next_row(&mut self) -> Option<Result<(u64, Row), SheetError>> {
        let mut record = csv::StringRecord::new();
        match self.reader.read_record(&mut record) {
            Ok(false) => None,
            Ok(true) => {
                // Records, not lines: a quoted cell may hold line breaks, and the reader's line
                // count is one short in files with CRLF line ends.
                let row = record.position().map_or(0, |p| p.record()) + 1;
                Some(
                    self.row(&record)
                        .map(|read| (row, read))
                        .map_err(|detail| SheetError::Row { row, detail }),
                )
            }
            Err(e) => Some(Err(SheetError::Csv(e.to_string()))),
        }
    }

    fn row(&self, record: &csv::StringRecord) -> Result<Row, String> {
        if record.iter().all(|v| v.trim().is_empty()) {
            return Err("the row is empty".into());
        }
        let mut row = Row::default();
        for (value, &column) in record.iter().zip(&self.columns) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let text = Some(value.to_string());
            match COLUMNS[column] {
                "userName" => row.user_name = value.to_string(),
                "externalId" => row.external_id = text,
                "email" => row.email = text,
                "givenName" => row.given_name = text,
                "familyName" => row.family_name = text,
                "displayName" => row.display_name = text,
                "title" => row.title = text,
                "department" => row.department = text,
                "employeeNumber" => row.employee_number = text,
                "phone" => row.phone = text,
                "mobile" => row.mobile = text,
                "preferredLanguage" => row.preferred_language = text,
                "locale" => row.locale = text,
                "timezone" => row.timezone = text,
                "license" => {
                    row.license = Some(value.to_lowercase().parse().map_err(|_| {
                        format!("license {value:?} is not one of employee, partner, customer")
                    })?);
                }
                "account" => row.account = text,
                "manager" => row.manager = text,
                "roles" => {
                    row.roles = value
                        .split(';')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(String::from)
                        .collect();
                }
                "active" => row.active = Some(truth(value)?),
                "password" => row.password = text,
                other => unreachable!("column {other} is listed but not read"),
            }
        }
        if row.user_name.is_empty() {
            return Err("userName is empty".into());
        }
        Ok(row)
    }
}

/// A yes/no cell as spreadsheets and HR exports write it.
fn truth(value: &str) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "active" => Ok(true),
        "false" | "no" | "n" | "0" | "inactive" => Ok(false),
        _ => Err(format!("active {value:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Result<(u64, Row), SheetError>> {
        let mut sheet = Sheet::open(text.as_bytes()).unwrap();
        std::iter::from_fn(|| sheet.next_row()).collect()
    }

    #[test]
    fn header_names_are_matched_loosely_and_rows_read_by_them() {
        let text = "\u{feff}User Name,E-mail,given_name,FAMILY NAME,Roles,Active,License,Account\r\n\
                    alice,alice@example.com,Alice,\"Smith, Jr.\",Helpdesk; VPN users ,yes,partner,Acme\r\n\
                    bob,,,,,,,\r\n";
        let read = rows(text);
        let (line, alice) = read[0].clone().unwrap();
        assert_eq!(line, 2, "the header is row 1");
        assert_eq!(alice.user_name, "alice");
        assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
        assert_eq!(alice.family_name.as_deref(), Some("Smith, Jr."));
        assert_eq!(alice.roles, ["Helpdesk", "VPN users"]);
        assert_eq!(alice.active, Some(true));
        assert_eq!(alice.license, Some(LicenseType::Partner));
        assert_eq!(alice.account.as_deref(), Some("Acme"));
        let (_, bob) = read[1].clone().unwrap();
        assert_eq!(
            bob,
            Row {
                user_name: "bob".into(),
                ..Row::default()
            },
            "empty cells are absent values"
        );
    }

    #[test]
    fn a_bad_header_is_refused_whole() {
        let open = |t: &str| Sheet::open(t.as_bytes()).err();
        assert_eq!(
            open("userName,cost centre\n"),
            Some(SheetError::UnknownColumn("cost centre".into()))
        );
        assert_eq!(open("email\n"), Some(SheetError::NoUserName));
        assert_eq!(
            open("userName,Email,email\n"),
            Some(SheetError::DuplicateColumn("email".into()))
        );
        assert!(
            SheetError::UnknownColumn("x".into())
                .to_string()
                .contains("userName, externalId, email")
        );
    }

    #[test]
    fn a_bad_row_is_an_error_of_that_row_only() {
        let read = rows(
            "userName,active,license\n\
             a,perhaps,\n\
             b,,contractor\n\
             ,yes,\n\
             c,no,Employee\n",
        );
        let errors: Vec<String> = read
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(
            errors,
            [
                "row 2: active \"perhaps\" is not true or false",
                "row 3: license \"contractor\" is not one of employee, partner, customer",
                "row 4: userName is empty",
            ]
        );
        let (_, c) = read[3].clone().unwrap();
        assert_eq!(c.license, Some(LicenseType::Employee));
        assert_eq!(c.active, Some(false));
    }

    #[test]
    fn a_row_survives_the_trip_through_an_import_line() {
        let row = Row {
            user_name: "dora".into(),
            roles: vec!["Helpdesk".into()],
            active: Some(true),
            manager: Some("alice".into()),
            ..Row::default()
        };
        let line = serde_json::to_string(&row).unwrap();
        assert_eq!(serde_json::from_str::<Row>(&line).unwrap(), row);
    }
}
