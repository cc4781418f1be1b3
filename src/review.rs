//! An access review as a file for the reviewer: CSV (RFC 4180, for a spreadsheet), JSON lines
//! (for a script), or tab-separated text (for a terminal). The CLI and `GET /admin/reports/access`
//! write the same rows through here.

use std::io::{self, Write};

use time::OffsetDateTime;

use crate::service::AccessRow;

/// How the rows are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Tab-separated, a header line first.
    #[default]
    Text,
    /// RFC 4180, a header line first, CRLF line ends.
    Csv,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "csv" => Ok(Self::Csv),
            "json" | "jsonl" => Ok(Self::Json),
            other => Err(format!("unknown format {other:?}: text, csv or json")),
        }
    }
}

const COLUMNS: [&str; 20] = [
    "userName",
    "displayName",
    "kind",
    "license",
    "account",
    "active",
    "locked",
    "administrator",
    "roles",
    "permissions",
    "mfa",
    "mfaRequired",
    "passwordLogin",
    "apiAccess",
    "sessionTimeoutMinutes",
    "allowedNetworks",
    "passwordChanged",
    "lastLogin",
    "idleDays",
    "created",
];

/// Writes rows one at a time, the header before the first (and alone when there are none).
pub struct Writer<W: Write> {
    out: W,
    format: Format,
    started: bool,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            started: false,
        }
    }

    pub fn row(&mut self, row: &AccessRow) -> io::Result<()> {
        self.header()?;
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, row)?;
                self.out.write_all(b"\n")
            }
            Format::Text => self.line(&fields(row, "; ", ",")),
            Format::Csv => self.line(&fields(row, "; ", " ")),
        }
    }

    /// Ends the output: the header of an empty report.
    pub fn finish(mut self) -> io::Result<W> {
        self.header()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if self.format == Format::Json {
            return Ok(());
        }
        self.line(&COLUMNS.map(String::from))
    }

    fn line(&mut self, fields: &[String]) -> io::Result<()> {
        match self.format {
            Format::Csv => {
                let cells: Vec<String> = fields.iter().map(|f| csv_cell(f)).collect();
                write!(self.out, "{}\r\n", cells.join(","))
            }
            _ => {
                let cells: Vec<String> = fields.iter().map(|f| text_cell(f)).collect();
                writeln!(self.out, "{}", cells.join("\t"))
            }
        }
    }
}

/// `roles_sep` also separates the network lists of several roles, `list_sep` the entries of
/// one permission or network list.
fn fields(row: &AccessRow, roles_sep: &str, list_sep: &str) -> [String; 20] {
    let flag = |b: bool| if b { "yes" } else { "no" }.to_string();
    let stamp = |t: Option<OffsetDateTime>| t.map(rfc3339).unwrap_or_default();
    [
        row.user_name.clone(),
        row.display_name.clone().unwrap_or_default(),
        row.kind.to_string(),
        // As `user list` shows it: a service account takes no license.
        row.license
            .map_or_else(|| "-".to_string(), |l| l.to_string()),
        row.account.clone().unwrap_or_default(),
        flag(row.active),
        flag(row.locked),
        flag(row.administrator),
        row.roles.join(roles_sep),
        row.permissions.join(list_sep),
        flag(row.mfa),
        flag(row.mfa_required),
        flag(row.password_login),
        flag(row.api_access),
        row.session_timeout_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        row.allowed_networks
            .iter()
            .map(|rule| rule.join(list_sep))
            .collect::<Vec<_>>()
            .join(roles_sep),
        stamp(row.password_changed),
        stamp(row.last_login),
        row.idle_days.to_string(),
        rfc3339(row.created),
    ]
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break. A cell a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with
/// `'`: names come from identity providers and users, and a review is opened by an auditor.
/// A lone `-` (a service account's license) is no formula: spreadsheets keep it as text.
fn csv_cell(value: &str) -> String {
    let guarded = if value != "-" && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// A tab-separated cell: tabs and line breaks would break the columns; they become spaces.
fn text_cell(value: &str) -> String {
    value.replace(['\t', '\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LicenseType, PrincipalKind};

    fn row() -> AccessRow {
        AccessRow {
            user_name: "alice".into(),
            display_name: Some("=HYPERLINK(\"http://x\",\"Alice, A.\")".into()),
            kind: PrincipalKind::Person,
            license: Some(LicenseType::Employee),
            account: None,
            active: true,
            locked: false,
            roles: vec!["Helpdesk".into(), "VPN users".into()],
            administrator: false,
            permissions: vec!["user.read=all".into(), "user.edit=team".into()],
            mfa: true,
            mfa_required: false,
            password_login: true,
            api_access: false,
            session_timeout_minutes: Some(60),
            allowed_networks: vec![
                vec!["10.0.0.0/8".into(), "192.168.0.0/16".into()],
                vec!["10.1.0.0/16".into()],
            ],
            password_changed: None,
            last_login: Some(OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()),
            idle_days: 3,
            created: OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
        }
    }

    fn written(format: Format, rows: &[AccessRow]) -> String {
        let mut w = Writer::new(Vec::new(), format);
        for r in rows {
            w.row(r).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let out = written(Format::Csv, &[row()]);
        let mut lines = out.split("\r\n");
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "alice,\"'=HYPERLINK(\"\"http://x\"\",\"\"Alice, A.\"\")\",person,employee,,yes,no,no,\
             Helpdesk; VPN users,user.read=all user.edit=team,yes,no,yes,no,60,\
             10.0.0.0/8 192.168.0.0/16; 10.1.0.0/16,,2026-09-21T14:13:20Z,3,2026-05-28T20:26:40Z"
        );
        assert_eq!(lines.next(), Some(""), "every line ends with CRLF");
    }

    #[test]
    fn an_empty_report_is_its_header() {
        assert_eq!(written(Format::Text, &[]), COLUMNS.join("\t") + "\n");
        assert_eq!(written(Format::Json, &[]), "");
    }

    #[test]
    fn json_lines_carry_the_typed_row_and_text_keeps_its_columns() {
        let out = written(Format::Json, &[row()]);
        let value: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(value["user_name"], "alice");
        assert_eq!(value["roles"], serde_json::json!(["Helpdesk", "VPN users"]));
        assert_eq!(value["idle_days"], 3);
        assert_eq!(value["password_changed"], serde_json::Value::Null);
        let mut broken = row();
        broken.display_name = Some("tab\there\nnewline".into());
        let text = written(Format::Text, &[broken]);
        let line = text.lines().nth(1).unwrap();
        assert_eq!(line.split('\t').count(), COLUMNS.len());
        assert!(line.contains("tab here newline"));
    }
}
