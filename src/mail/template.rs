//! Message templates: one per [`MessageKind`], built in and overridable by files in
//! `<data>/templates/<kind>.txt`, so an organisation can word its mails without a rebuild.
//!
//! Format: a first line `Subject: …`, a blank line, then the body. `{{name}}` inserts a variable;
//! `{{#name}}…{{/name}}` shows its content only when the variable is not empty (`{{^name}}…{{/name}}`
//! only when it is). A section tag alone on its line takes the whole line with it, so optional
//! paragraphs leave no stray blank lines. Templates are checked when loaded: an unknown
//! placeholder or a missing Subject line stops the server at start-up rather than producing a
//! broken mail to a user days later.

use std::collections::BTreeMap;
use std::path::Path;

use crate::outbox::MessageKind;

/// The values a template can use. A template naming anything else is refused at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    DisplayName,
    UserName,
    /// The directory's public URL.
    LoginUrl,
    /// A one-time link; empty when the message carries none.
    Link,
    /// When the link stops working.
    LinkExpires,
    /// What an admin notification is about; an announcement's text.
    Detail,
    /// An announcement's subject.
    Subject,
    /// A sign-in code (`[mfa] email_codes`).
    Code,
}

impl Var {
    pub const ALL: [Var; 8] = [
        Self::DisplayName,
        Self::UserName,
        Self::LoginUrl,
        Self::Link,
        Self::LinkExpires,
        Self::Detail,
        Self::Subject,
        Self::Code,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::UserName => "user_name",
            Self::LoginUrl => "login_url",
            Self::Link => "link",
            Self::LinkExpires => "link_expires",
            Self::Detail => "detail",
            Self::Subject => "subject",
            Self::Code => "code",
        }
    }

    fn from_name(name: &str) -> Option<Var> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// Values for one message; a variable never set renders as empty.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: [String; Var::ALL.len()],
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, var: Var, value: impl Into<String>) -> Self {
        self.values[var as usize] = value.into();
        self
    }

    pub fn get(&self, var: Var) -> &str {
        &self.values[var as usize]
    }
}

/// A rendered message, ready for the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("template {file}: the first line must be \"Subject: …\" with a non-empty subject")]
    MissingSubject { file: String },
    #[error(
        "template {file}, line {line}: unknown placeholder {{{{{name}}}}} (known: {known})",
        known = known_names()
    )]
    UnknownPlaceholder {
        file: String,
        line: usize,
        name: String,
    },
    #[error("template {file}, line {line}: {detail}")]
    Malformed {
        file: String,
        line: usize,
        detail: String,
    },
    #[error(
        "template {file}: no message kind of that name (expected one of {expected})",
        expected = MessageKind::ALL.map(|k| format!("{k}.txt")).join(", ")
    )]
    UnknownFile { file: String },
}

fn known_names() -> String {
    Var::ALL.map(|v| v.name()).join(", ")
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Var(Var),
    /// Shown when the variable is non-empty, or when it is empty if `inverted`.
    Section {
        var: Var,
        inverted: bool,
        body: Vec<Node>,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Template {
    subject: Vec<Node>,
    body: Vec<Node>,
}

/// The templates of every message kind.
#[derive(Clone, Debug)]
pub struct Templates {
    by_kind: BTreeMap<MessageKind, Template>,
    /// Per language tag, in lower case (`de`, `pt-br`): the kinds that language rewords, from
    /// `<dir>/<tag>/<kind>.txt`.
    by_language: BTreeMap<String, BTreeMap<MessageKind, Template>>,
}

fn builtin_source(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Activation => include_str!("templates/activation.txt"),
        MessageKind::PasswordReset => include_str!("templates/password_reset.txt"),
        MessageKind::AccountLocked => include_str!("templates/account_locked.txt"),
        MessageKind::LicenseThreshold => include_str!("templates/license_threshold.txt"),
        MessageKind::LicenseRefused => include_str!("templates/license_refused.txt"),
        MessageKind::PermissionEscalation => include_str!("templates/permission_escalation.txt"),
        MessageKind::DormantDeactivated => include_str!("templates/dormant_deactivated.txt"),
        MessageKind::DormantWarning => include_str!("templates/dormant_warning.txt"),
        MessageKind::SuspiciousSignIns => include_str!("templates/suspicious_sign_ins.txt"),
        MessageKind::SecurityNotice => include_str!("templates/security_notice.txt"),
        MessageKind::Announcement => include_str!("templates/announcement.txt"),
        MessageKind::PasswordExpiring => include_str!("templates/password_expiring.txt"),
        MessageKind::SignInCode => include_str!("templates/sign_in_code.txt"),
    }
}

impl Default for Templates {
    /// The built-in templates (unit-tested to parse).
    fn default() -> Self {
        let by_kind = MessageKind::ALL
            .into_iter()
            .map(|kind| {
                let file = format!("built-in {kind}.txt");
                let template = Template::parse(builtin_source(kind), &file)
                    .unwrap_or_else(|e| panic!("built-in templates parse: {e}"));
                (kind, template)
            })
            .collect();
        Self {
            by_kind,
            by_language: BTreeMap::new(),
        }
    }
}

impl Templates {
    /// The built-ins, replaced by `<dir>/<kind>.txt` where such a file exists, and reworded
    /// for people of one language by `<dir>/<tag>/<kind>.txt` (a subdirectory named by a
    /// language tag: `de`, `fr-CA`). A missing `dir` means no overrides. A `.txt` file that
    /// names no message kind is refused, since a misspelt override would otherwise be
    /// silently ignored; other files, and directories not named like a language, are left
    /// alone.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut templates = Self::default();
        let read_error = |file: &Path, source| TemplateError::Read {
            file: file.display().to_string(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(templates),
            Err(e) => return Err(read_error(dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| read_error(dir, e))?.path();
            if path.is_dir() {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if is_language_tag(name) {
                    let kinds = read_kinds(&path)?;
                    templates
                        .by_language
                        .entry(name.to_ascii_lowercase())
                        .or_default()
                        .extend(kinds);
                }
                continue;
            }
            if let Some((kind, template)) = read_kind(&path)? {
                templates.by_kind.insert(kind, template);
            }
        }
        Ok(templates)
    }

    /// Languages with templates of their own, as their directories are named (lower case).
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.by_language.keys().map(String::as_str)
    }

    /// A message of `kind` in the default wording.
    pub fn render(&self, kind: MessageKind, vars: &Vars) -> Rendered {
        self.render_template(&self.by_kind[&kind], vars)
    }

    /// A message of `kind` to someone whose language is `language` (a SCIM `preferredLanguage`,
    /// as an `Accept-Language` value, or a `locale`): the template of that exact language
    /// if there is one, else of its primary language (`de` for `de-CH`), else the default.
    pub fn render_for(&self, kind: MessageKind, vars: &Vars, language: Option<&str>) -> Rendered {
        let template = language
            .and_then(first_language)
            .and_then(|tag| {
                let primary = tag.split('-').next().unwrap_or(&tag).to_string();
                [tag, primary]
                    .into_iter()
                    .find_map(|t| self.by_language.get(&t)?.get(&kind))
            })
            .unwrap_or(&self.by_kind[&kind]);
        self.render_template(template, vars)
    }

    fn render_template(&self, template: &Template, vars: &Vars) -> Rendered {
        let mut subject = String::new();
        render(&template.subject, vars, &mut subject);
        // A value with a line break must not turn into a second header line.
        let subject = subject
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut body = String::new();
        render(&template.body, vars, &mut body);
        Rendered { subject, body }
    }
}

/// The `.txt` templates in a language's directory.
fn read_kinds(dir: &Path) -> Result<Vec<(MessageKind, Template)>, TemplateError> {
    let read_error = |file: &Path, source| TemplateError::Read {
        file: file.display().to_string(),
        source,
    };
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
        let path = entry.map_err(|e| read_error(dir, e))?.path();
        if path.is_file()
            && let Some(found) = read_kind(&path)?
        {
            kinds.push(found);
        }
    }
    Ok(kinds)
}

/// A template file: `None` for a file that is not `.txt`, an error for one that names no kind.
fn read_kind(path: &Path) -> Result<Option<(MessageKind, Template)>, TemplateError> {
    if path.extension().is_none_or(|ext| ext != "txt") {
        return Ok(None);
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let Some(kind) = MessageKind::ALL.into_iter().find(|k| k.as_str() == stem) else {
        return Err(TemplateError::UnknownFile {
            file: path.display().to_string(),
        });
    };
    let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
        file: path.display().to_string(),
        source: e,
    })?;
    Ok(Some((
        kind,
        Template::parse(&text, &path.display().to_string())?,
    )))
}

/// A BCP 47 language tag as a directory name: a primary language of 2–3 letters, then
/// subtags of letters and digits (`de`, `fr-CA`, `zh-Hant-TW`).
fn is_language_tag(name: &str) -> bool {
    let mut parts = name.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The language a person reads first, lower case with `-`: from an `Accept-Language` value
/// (`de-CH, en;q=0.8`: `de-ch`) or a locale (`de_CH`).
fn first_language(value: &str) -> Option<String> {
    let first = value.split(',').next()?.split(';').next()?.trim();
    let tag = first.replace('_', "-").to_ascii_lowercase();
    is_language_tag(&tag).then_some(tag)
}

fn render(nodes: &[Node], vars: &Vars, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Var(var) => out.push_str(vars.get(*var)),
            Node::Section {
                var,
                inverted,
                body,
            } => {
                if vars.get(*var).is_empty() == *inverted {
                    render(body, vars, out);
                }
            }
        }
    }
}

impl Template {
    /// `file` names the source in errors.
    fn parse(source: &str, file: &str) -> Result<Template, TemplateError> {
        let text = source.strip_prefix('\u{feff}').unwrap_or(source);
        let text = text.replace("\r\n", "\n");
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .get(..8)
            .filter(|prefix| prefix.eq_ignore_ascii_case("subject:"))
            .map(|_| first[8..].trim())
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| TemplateError::MissingSubject { file: file.into() })?;
        let (second, body) = rest.split_once('\n').unwrap_or((rest, ""));
        if !second.trim().is_empty() {
            return Err(TemplateError::Malformed {
                file: file.into(),
                line: 2,
                detail: "expected a blank line between the Subject line and the body".into(),
            });
        }
        Ok(Template {
            subject: Parser::new(file, 1).parse(subject)?,
            body: Parser::new(file, 3).parse(body)?,
        })
    }
}

/// A line-by-line parser. Placeholders do not span lines.
struct Parser<'a> {
    file: &'a str,
    first_line: usize,
    /// Sections opened and not yet closed: variable, inverted, line opened, nodes before it.
    open: Vec<(Var, bool, usize, Vec<Node>)>,
    nodes: Vec<Node>,
}

enum Tag {
    Var(Var),
    Open(Var, bool),
    Close(Var),
}

impl<'a> Parser<'a> {
    fn new(file: &'a str, first_line: usize) -> Self {
        Self {
            file,
            first_line,
            open: Vec::new(),
            nodes: Vec::new(),
        }
    }

    fn malformed(&self, line: usize, detail: String) -> TemplateError {
        TemplateError::Malformed {
            file: self.file.into(),
            line,
            detail,
        }
    }

    fn parse(mut self, text: &str) -> Result<Vec<Node>, TemplateError> {
        for (n, line) in text.split_inclusive('\n').enumerate() {
            let line_no = self.first_line + n;
            let content = line.trim();
            if let Some(inner) = standalone_tag(content) {
                match self.tag(inner, line_no)? {
                    tag @ (Tag::Open(..) | Tag::Close(_)) => {
                        self.apply(tag, line_no)?;
                        continue;
                    }
                    // A variable alone on a line keeps its line and line break.
                    Tag::Var(_) => {}
                }
            }
            self.line(line, line_no)?;
        }
        if let Some((var, _, line, _)) = self.open.last() {
            return Err(self.malformed(*line, format!("{{{{#{}}}}} is never closed", var.name())));
        }
        Ok(self.nodes)
    }

    fn line(&mut self, mut rest: &str, line_no: usize) -> Result<(), TemplateError> {
        while let Some(start) = rest.find("{{") {
            self.text(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(self.malformed(line_no, "\"{{\" without a closing \"}}\"".into()));
            };
            let tag = self.tag(&after[..end], line_no)?;
            self.apply(tag, line_no)?;
            rest = &after[end + 2..];
        }
        self.text(rest);
        Ok(())
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(last)) = self.nodes.last_mut() {
            last.push_str(text);
        } else {
            self.nodes.push(Node::Text(text.to_string()));
        }
    }

    fn tag(&self, inner: &str, line_no: usize) -> Result<Tag, TemplateError> {
        let inner = inner.trim();
        let (kind, name) = match inner.chars().next() {
            Some(c @ ('#' | '^' | '/')) => (Some(c), inner[1..].trim()),
            _ => (None, inner),
        };
        let var = Var::from_name(name).ok_or_else(|| TemplateError::UnknownPlaceholder {
            file: self.file.into(),
            line: line_no,
            name: inner.to_string(),
        })?;
        Ok(match kind {
            Some('#') => Tag::Open(var, false),
            Some('^') => Tag::Open(var, true),
            Some(_) => Tag::Close(var),
            None => Tag::Var(var),
        })
    }

    fn apply(&mut self, tag: Tag, line_no: usize) -> Result<(), TemplateError> {
        match tag {
            Tag::Var(var) => self.nodes.push(Node::Var(var)),
            Tag::Open(var, inverted) => {
                let before = std::mem::take(&mut self.nodes);
                self.open.push((var, inverted, line_no, before));
            }
            Tag::Close(var) => {
                let Some((opened, inverted, opened_at, before)) = self.open.pop() else {
                    return Err(self.malformed(
                        line_no,
                        format!("{{{{/{}}}}} closes no section", var.name()),
                    ));
                };
                if opened != var {
                    return Err(self.malformed(
                        line_no,
                        format!(
                            "{{{{/{}}}}} does not match {{{{#{}}}}} opened on line {opened_at}",
                            var.name(),
                            opened.name()
                        ),
                    ));
                }
                let body = std::mem::replace(&mut self.nodes, before);
                self.nodes.push(Node::Section {
                    var,
                    inverted,
                    body,
                });
            }
        }
        Ok(())
    }
}

/// The inside of `{{…}}` when that tag is all the (trimmed) line holds.
fn standalone_tag(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse(text, "test.txt")
    }

    fn render_with(text: &str, vars: &Vars) -> Rendered {
        let templates = Templates {
            by_kind: BTreeMap::from([(MessageKind::Activation, parse(text).unwrap())]),
            by_language: BTreeMap::new(),
        };
        templates.render(MessageKind::Activation, vars)
    }

    #[test]
    fn a_language_directory_rewords_messages_for_its_people() {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "de/activation.txt",
            "Subject: Willkommen, {{display_name}}\n\nHallo\n",
        );
        write("fr-CA/activation.txt", "Subject: Bienvenue\n\nBonjour\n");
        write("password_reset.txt", "Subject: Reset\n\nDefault wording\n");
        write("backups/notes.md", "not a template directory: left alone");
        let templates = Templates::load(dir.path()).unwrap();
        assert_eq!(templates.languages().collect::<Vec<_>>(), ["de", "fr-ca"]);
        let vars = Vars::new().with(Var::DisplayName, "Ada");
        let subject = |kind, language| templates.render_for(kind, &vars, language).subject;
        let activation = MessageKind::Activation;
        assert_eq!(subject(activation, Some("de")), "Willkommen, Ada");
        assert_eq!(
            subject(activation, Some("de-CH, en;q=0.8")),
            "Willkommen, Ada"
        );
        assert_eq!(subject(activation, Some("de_AT")), "Willkommen, Ada");
        assert_eq!(subject(activation, Some("fr-ca")), "Bienvenue");
        let default = templates.render(activation, &vars).subject;
        for other in [Some("fr"), Some("en-US"), Some("*"), Some(""), None] {
            assert_eq!(subject(activation, other), default, "{other:?}");
        }
        assert_eq!(
            subject(MessageKind::PasswordReset, Some("de")),
            "Reset",
            "a kind the language does not reword keeps the default's"
        );
        write("de/welcome.txt", "Subject: x\n\ny\n");
        assert!(matches!(
            Templates::load(dir.path()),
            Err(TemplateError::UnknownFile { .. })
        ));
    }

    #[test]
    fn every_builtin_template_parses_and_renders() {
        let templates = Templates::default();
        let vars = Vars::new()
            .with(Var::DisplayName, "Alice Example")
            .with(Var::UserName, "alice")
            .with(Var::LoginUrl, "https://dir.example.com")
            .with(Var::Detail, "9 of 10 employee licenses are in use")
            .with(Var::Subject, "Maintenance on Saturday");
        for kind in MessageKind::ALL {
            let rendered = templates.render(kind, &vars);
            assert!(!rendered.subject.is_empty(), "{kind}");
            assert!(!rendered.body.contains("{{"), "{kind}: {}", rendered.body);
        }
    }

    #[test]
    fn placeholders_are_replaced_in_subject_and_body() {
        let vars = Vars::new()
            .with(Var::DisplayName, "Alice")
            .with(Var::UserName, "alice");
        let out = render_with(
            "Subject: Welcome, {{display_name}}\n\nHi {{ display_name }} ({{user_name}})!\n",
            &vars,
        );
        assert_eq!(out.subject, "Welcome, Alice");
        assert_eq!(out.body, "Hi Alice (alice)!\n");
    }

    #[test]
    fn conditional_blocks_show_only_when_the_variable_is_set() {
        let text = "Subject: s\n\nActive.\n{{#link}}\n\nSet a password: {{link}}\n{{/link}}\n\
                    {{^link}}\nUse the password you were given.\n{{/link}}\nBye{{#link}} (link inside){{/link}}.\n";
        let with_link = render_with(text, &Vars::new().with(Var::Link, "https://x/a?token=1"));
        assert_eq!(
            with_link.body,
            "Active.\n\nSet a password: https://x/a?token=1\nBye (link inside).\n"
        );
        let without = render_with(text, &Vars::new());
        assert_eq!(
            without.body,
            "Active.\nUse the password you were given.\nBye.\n"
        );
    }

    #[test]
    fn the_builtin_activation_template_has_a_link_paragraph_only_with_a_link() {
        let templates = Templates::default();
        let base = Vars::new()
            .with(Var::DisplayName, "Bob")
            .with(Var::UserName, "bob")
            .with(Var::LoginUrl, "https://dir");
        let plain = templates.render(MessageKind::Activation, &base);
        assert_eq!(plain.subject, "Your account is active");
        assert!(!plain.body.contains("token"), "{}", plain.body);
        assert!(
            plain.body.ends_with("Sign in at https://dir.\n"),
            "{}",
            plain.body
        );
        let linked = templates.render(
            MessageKind::Activation,
            &base
                .with(Var::Link, "https://dir/auth/activate?token=abc")
                .with(Var::LinkExpires, "2030-01-01 00:00 UTC"),
        );
        assert!(linked.body.contains("until 2030-01-01 00:00 UTC"));
        assert!(
            linked
                .body
                .contains("\nhttps://dir/auth/activate?token=abc\n")
        );
    }

    #[test]
    fn line_breaks_in_values_do_not_reach_the_subject() {
        let out = render_with(
            "Subject: Hello {{display_name}}\n\nbody\n",
            &Vars::new().with(Var::DisplayName, "Eve\r\nBcc: victim@example.com"),
        );
        assert_eq!(out.subject, "Hello Eve Bcc: victim@example.com");
    }

    #[test]
    fn unknown_placeholders_are_refused_with_file_and_line() {
        let err = parse("Subject: s\n\nHello\n{{first_name}}\n").unwrap_err();
        assert!(
            matches!(&err, TemplateError::UnknownPlaceholder { line: 4, name, .. } if name == "first_name"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("test.txt") && text.contains("{{first_name}}"),
            "{text}"
        );
        assert!(
            text.contains("display_name"),
            "lists the known names: {text}"
        );
        assert!(matches!(
            parse("Subject: Hi {{nmae}}\n\nbody\n"),
            Err(TemplateError::UnknownPlaceholder { line: 1, .. })
        ));
        assert!(matches!(
            parse("Subject: s\n\n{{#lnk}}x{{/lnk}}\n"),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
    }

    #[test]
    fn a_missing_subject_line_is_refused() {
        for text in [
            "Hello {{display_name}}\n\nbody\n",
            "Subject:\n\nbody\n",
            "",
            "\nSubject: late\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(err, TemplateError::MissingSubject { .. }),
                "{text:?}: {err:?}"
            );
            assert!(err.to_string().contains("test.txt"));
        }
        assert!(parse("SUBJECT: shouting is fine\n\nbody").is_ok());
        assert!(matches!(
            parse("Subject: s\nbody right away\n"),
            Err(TemplateError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn unbalanced_sections_and_braces_are_refused() {
        for (text, line) in [
            ("Subject: s\n\n{{#link}}\nx\n", 3),
            ("Subject: s\n\nx\n{{/link}}\n", 4),
            ("Subject: s\n\n{{#link}}{{/detail}}\n", 3),
            ("Subject: s\n\nHello {{display_name\n", 3),
        ] {
            match parse(text) {
                Err(TemplateError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn windows_line_endings_and_a_bom_are_accepted() {
        let out = render_with(
            "\u{feff}Subject: s\r\n\r\nline one\r\n{{#link}}\r\n{{link}}\r\n{{/link}}\r\n",
            &Vars::new().with(Var::Link, "L"),
        );
        assert_eq!(out.body, "line one\nL\n");
    }

    #[test]
    fn override_files_replace_builtins_and_misnamed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let builtin = Templates::load(&missing).unwrap();
        assert_eq!(
            builtin
                .render(MessageKind::Activation, &Vars::new())
                .subject,
            "Your account is active"
        );

        std::fs::write(
            dir.path().join("activation.txt"),
            "Subject: Welcome to Example Corp, {{display_name}}\n\nLog in: {{login_url}}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.md"), "not a template").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let vars = Vars::new()
            .with(Var::DisplayName, "Ann")
            .with(Var::LoginUrl, "https://d");
        let out = templates.render(MessageKind::Activation, &vars);
        assert_eq!(out.subject, "Welcome to Example Corp, Ann");
        assert_eq!(out.body, "Log in: https://d\n");
        assert_eq!(
            templates.render(MessageKind::LicenseRefused, &vars).subject,
            Templates::default()
                .render(MessageKind::LicenseRefused, &vars)
                .subject,
            "kinds without an override keep the built-in"
        );

        std::fs::write(dir.path().join("activaton.txt"), "Subject: s\n\nb\n").unwrap();
        let err = Templates::load(dir.path()).unwrap_err();
        assert!(matches!(err, TemplateError::UnknownFile { .. }), "{err:?}");
        assert!(err.to_string().contains("activaton.txt"), "{err}");
        std::fs::remove_file(dir.path().join("activaton.txt")).unwrap();

        std::fs::write(dir.path().join("license_refused.txt"), "no subject here\n").unwrap();
        let err = Templates::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("license_refused.txt"), "{err}");
    }
}
