//! The operator commands themselves: what each one does through the core service, as the
//! system principal from the CLI, whether a server or the command line process runs it.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::audit::Source;
use crate::model::{
    Account, AccountId, LicenseType, MultiValue, Network, PermissionGrant, PrincipalKind, Role,
    RoleSettings, RoleType, User,
};
use crate::service::{
    Actor, Announcement, Audience, CancelSelection, NewUser, Plan, Service, ServiceError,
};
use crate::transfer::{Importer, without_secrets};

/// An operator command, as the CLI parses it and the socket carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    User(UserCommand),
    Role(RoleCommand),
    Account(AccountCommand),
    Token(TokenCommand),
    Report(ReportCommand),
    Licenses,
    /// Audit events as JSON lines.
    Audit(AuditArgs),
    /// Outbox messages as JSON lines.
    Outbox(OutboxArgs),
    /// Cancels waiting outbox messages.
    OutboxCancel(CancelArgs),
    /// Cross-check every index and counter against the records.
    Check,
    /// Every account, role and readable user as JSON lines.
    Export,
    /// Records in the `export` format, one per line after the request; see [`import_line`].
    Import,
    /// An administrator's message to the active people of `roles` (by name), or to every
    /// active person with `everyone`.
    Announce {
        subject: String,
        roles: Vec<String>,
        everyone: bool,
        body: String,
    },
    /// A backup of the whole store to `file`, an absolute path: the server resolves nothing
    /// against its own working directory.
    Backup {
        file: PathBuf,
        /// Encrypted to these age public keys; none: in the clear.
        #[serde(default)]
        recipients: Vec<crate::sealed::Recipient>,
    },
}

impl Command {
    /// What the command is, as typed (`user create`), without its arguments: names, addresses
    /// and announcement texts are personal data and stay out of the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(command) => match command {
                UserCommand::List { .. } => "user list",
                UserCommand::Create { .. } => "user create",
                UserCommand::Set { .. } => "user set",
                UserCommand::SetLicense { .. } => "user set-license",
                UserCommand::Anonymise { .. } => "user anonymise",
                UserCommand::Show { .. } => "user show",
                UserCommand::Activate { .. } => "user activate",
                UserCommand::Deactivate { .. } => "user deactivate",
                UserCommand::Unlock { .. } => "user unlock",
                UserCommand::Sessions { .. } => "user sessions",
                UserCommand::SignOut { .. } => "user sign-out",
                UserCommand::ResetPassword { .. } => "user reset-password",
                UserCommand::RemoveMfa { .. } => "user remove-mfa",
            },
            Self::Role(command) => match command {
                RoleCommand::List { .. } => "role list",
                RoleCommand::Create { .. } => "role create",
                RoleCommand::Delete { .. } => "role delete",
                RoleCommand::Members { .. } => "role members",
                RoleCommand::SignOut { .. } => "role sign-out",
                RoleCommand::ResetPasswords { .. } => "role reset-passwords",
                RoleCommand::AddMember { .. } => "role add-member",
                RoleCommand::RemoveMember { .. } => "role remove-member",
            },
            Self::Account(command) => match command {
                AccountCommand::Create { .. } => "account create",
                AccountCommand::List { .. } => "account list",
            },
            Self::Token(command) => match command {
                TokenCommand::Create { .. } => "token create",
                TokenCommand::List => "token list",
                TokenCommand::Revoke { .. } => "token revoke",
            },
            Self::Report(ReportCommand::Access { .. }) => "report access",
            Self::Licenses => "licenses",
            Self::Audit(_) => "audit",
            Self::Outbox(_) => "outbox",
            Self::OutboxCancel(_) => "outbox cancel",
            Self::Check => "check",
            Self::Export => "export",
            Self::Import => "import",
            Self::Announce { .. } => "announce",
            Self::Backup { .. } => "backup",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum UserCommand {
    /// One line per user: userName, kind, license type, status (tab-separated).
    List {
        /// JSON lines instead, in the `export` format (never secrets).
        #[arg(long)]
        json: bool,
    },
    /// Create a user. A person is inactive unless `--active` (which takes a license under the
    /// rules and queues the activation message, with a link to choose a password when it has
    /// none); a service account (`--kind api|bind`) takes no license and is active unless
    /// `--inactive`. Prints `created USERNAME (LICENSE, active|inactive)` (`KIND service
    /// account` in place of a license), or with `--generate-password` only the password.
    Create {
        /// userName of the new user (unique, case-insensitive).
        user_name: String,
        /// What it is: a `person`, or a service account: `api` (API tokens; see `token
        /// create --account`) or `bind` (an application's LDAP bind DN, under ou=services).
        /// Service accounts take no license seat.
        #[arg(long, default_value = "person")]
        kind: PrincipalKind,
        /// License type: employee, partner or customer.
        #[arg(long, default_value = "employee")]
        license: LicenseType,
        /// Account the user belongs to, by name (required for partner and customer).
        #[arg(long)]
        account: Option<String>,
        /// Work email address.
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// userName of the user's manager.
        #[arg(long)]
        manager: Option<String>,
        /// A role to grant, by name; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Create it active (a person takes a license under the rules). What a service
        /// account is made anyway: its use is an application's, which expects it to work.
        #[arg(long, conflicts_with = "inactive")]
        active: bool,
        /// Create it inactive: for a service account, which is otherwise created active
        /// (its binds and tokens are refused until `user activate`). What a person is anyway.
        #[arg(long)]
        #[serde(default)]
        inactive: bool,
        /// Set a generated password (under the password policy) and print only it, once.
        #[arg(long)]
        generate_password: bool,
    },
    /// Change a user's address, names or title: each option given replaces what the user has
    /// (an empty value clears it); the others stay. `--email` sets the primary work address,
    /// where activation and recovery messages, and an administrator's notices, go.
    Set {
        /// userName of the user.
        user_name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// Move a user to another license type; an active user's license moves in the same
    /// transaction (refused when the new type has no room). Roles of the old type must be
    /// taken away first.
    SetLicense {
        /// userName of the user.
        user_name: String,
        /// The new license type.
        license: LicenseType,
        /// The account for a partner or customer, by name (the user's own is kept if omitted).
        #[arg(long)]
        account: Option<String>,
    },
    /// Anonymise a user: final. Personal data is erased, the license and the userName are
    /// freed, roles are taken away, and the audit trail keeps the id. Needs `--yes`.
    Anonymise {
        /// userName of the user.
        user_name: String,
        /// Confirms that the user's personal data is to be erased for good.
        #[arg(long)]
        yes: bool,
    },
    /// A user as JSON (never secrets), with the names of its roles and account.
    Show {
        /// userName of the user.
        user_name: String,
    },
    /// Activate a user under the license rules: refused, naming the type and its usage, when
    /// no license is free.
    Activate {
        /// userName of the user.
        user_name: String,
    },
    /// Deactivate a user: it keeps its data and roles but cannot sign in or bind, and its
    /// license is freed.
    Deactivate {
        /// userName of the user.
        user_name: String,
    },
    /// Lift a lockout after failed logins.
    Unlock {
        /// userName of the locked user.
        user_name: String,
    },
    /// A user's live sessions, newest first: one line each with the session id, when it
    /// started and ends, the client's address and `User-Agent` (tab-separated).
    Sessions {
        /// userName of the user.
        user_name: String,
    },
    /// End every session of a user.
    SignOut {
        /// userName of the user.
        user_name: String,
    },
    /// Set a new generated password, print it once, and lift any lockout: the way back in for
    /// an administrator who lost their password.
    ResetPassword {
        /// userName of the user.
        user_name: String,
    },
    /// Remove a user's authenticator (TOTP), for one who lost the device; the user can enrol
    /// again after signing in.
    RemoveMfa {
        /// userName of the user.
        user_name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum RoleCommand {
    /// One line per role: name, type (or `group`), `administrator` or `-`, member count
    /// (tab-separated).
    List {
        /// JSON lines instead, in the `export` format.
        #[arg(long)]
        json: bool,
    },
    /// Create a role (with `--type`) or a plain group (without). A new role has no
    /// permissions unless given with `--permission`.
    Create {
        /// Name of the role (unique, case-insensitive).
        name: String,
        /// Which license type its members hold: employee, partner, customer or guest.
        #[arg(long = "type", value_name = "TYPE")]
        role_type: Option<RoleType>,
        /// The Administrator System Role flag: every permission.
        #[arg(long)]
        administrator: bool,
        /// ENTITY[.ACTION]=LEVEL, e.g. `user.read=all` or `user=team` (all four actions);
        /// repeat for several. Entities: user, role, account; actions: read, create, edit,
        /// delete; levels as in the SCIM role extension.
        #[arg(long = "permission", value_name = "GRANT")]
        permissions: Vec<PermissionGrant>,
        /// Its members must sign in with a second factor.
        #[arg(long)]
        mfa_required: bool,
        /// Longest session of its members, in minutes.
        #[arg(long, value_name = "MINUTES")]
        session_timeout: Option<u32>,
        /// Its members sign in only through SSO.
        #[arg(long)]
        password_login_disabled: bool,
        /// Its members may use the SCIM and REST APIs with their tokens.
        #[arg(long)]
        api_access: bool,
        #[arg(long)]
        description: Option<String>,
        /// A network its members may sign in from (CIDR, e.g. 10.0.0.0/8); repeat for several.
        /// Without one, anywhere.
        #[arg(long = "allowed-network", value_name = "CIDR")]
        allowed_networks: Vec<Network>,
    },
    /// Delete a role after taking it from its members (roles, unlike users, may be deleted;
    /// refused for the last administrator role held by an active user).
    Delete {
        /// Name of the role.
        role: String,
    },
    /// The userNames of a role's members, one per line.
    Members {
        /// Name of the role.
        role: String,
    },
    /// End every session of every member of a role (access revocation, e.g. when the role's
    /// people may be compromised).
    SignOut {
        /// Name of the role.
        role: String,
    },
    /// Clear the password of every person in a role and end their sessions; active members
    /// with an email address are sent a link to choose a new one. Needs `--yes`.
    ResetPasswords {
        /// Name of the role.
        role: String,
        /// Confirms that the members' current passwords stop working now.
        #[arg(long)]
        yes: bool,
    },
    /// Grant a role to users, all in one change (a name that does not exist, or a user whose
    /// license type the role's type does not match, changes nothing). Granting a role a user
    /// holds changes nothing for that user.
    AddMember {
        /// Name of the role.
        role: String,
        /// userNames of the users; `-` reads them from stdin, one per line.
        #[arg(required = true, value_name = "USERNAME")]
        user_names: Vec<String>,
    },
    /// Take a role from users, all in one change (refused for the last active administrator).
    RemoveMember {
        /// Name of the role.
        role: String,
        /// userNames of the users; `-` reads them from stdin, one per line.
        #[arg(required = true, value_name = "USERNAME")]
        user_names: Vec<String>,
    },
}

/// Which audit events `rollcall audit` prints (as `GET /admin/audit` takes them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct AuditArgs {
    /// From this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// By this actor: a user id or userName, `system` or `anonymous`.
    #[arg(long)]
    pub actor: Option<String>,
    /// About this record: an id, a userName or a role name.
    #[arg(long)]
    pub target: Option<String>,
    /// Of this kind, e.g. login_failed.
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many, oldest first (1 to 10 000).
    #[arg(long, value_parser = count_parser(crate::service::MAX_AUDIT_COUNT))]
    pub count: Option<usize>,
}

/// `--count`: refused on the command line as the service refuses it (see
/// [`crate::service::listing_count`]), before anything is sent to a server.
fn count_parser(max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync {
    move |text| {
        let count = text
            .parse()
            .map_err(|e| format!("{text:?} is not a count: {e}"))?;
        crate::service::listing_count(Some(count), max).map_err(|e| e.to_string())
    }
}

/// Which outbox messages `rollcall outbox` prints (as `GET /admin/outbox` takes them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct OutboxArgs {
    /// Created from this time on (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// For this user, by userName.
    #[arg(long)]
    pub user: Option<String>,
    /// Of this kind, e.g. password_reset.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only those not yet sent, given up on or cancelled.
    #[arg(long)]
    pub waiting: bool,
    /// At most this many, oldest first (1 to 10 000).
    #[arg(long, value_parser = count_parser(crate::service::MAX_OUTBOX_COUNT))]
    pub count: Option<usize>,
}

/// Which waiting messages `rollcall outbox cancel` cancels (as `POST /admin/outbox/cancel`):
/// those matching every option given, and at least one must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[group(required = true, multiple = true)]
pub struct CancelArgs {
    /// This message, by id (as `rollcall outbox` prints it); repeat for several. An id that is
    /// not in the outbox refuses the command.
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<uuid::Uuid>,
    /// Of this kind, e.g. announcement.
    #[arg(long)]
    pub kind: Option<crate::outbox::MessageKind>,
    /// For this user, by userName.
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    /// Created from this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_time)]
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<time::OffsetDateTime>,
}

/// A `--since` time, checked as it is typed.
fn rfc3339_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z): {e}"))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum ReportCommand {
    /// An access review: a row per user with its roles, what they grant, whether it is an
    /// administrator, MFA, its last sign-in and how many days it has been idle.
    Access {
        /// text (tab-separated), csv (RFC 4180, for a spreadsheet) or json (JSON lines).
        #[arg(long, default_value = "text")]
        format: crate::review::Format,
        /// Only the active people (who sign in here) idle for at least DAYS days: those
        /// `[activity] deactivate_after_days = DAYS` would deactivate.
        #[arg(long, value_name = "DAYS")]
        idle_days: Option<u32>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account (an external organisation partner and customer users belong to).
    Create {
        /// Name of the account (unique).
        name: String,
        /// The parent account, by name.
        #[arg(long)]
        parent: Option<String>,
        /// Under per-account partner licensing, admits unlimited active partners.
        #[arg(long)]
        licensed: bool,
    },
    /// One line per account: name, parent account or `-`, `licensed` or `-` (tab-separated).
    List {
        /// JSON lines instead, in the `export` format.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print only the token.
    Create {
        /// A label for the token, e.g. the identity provider using it.
        #[arg(long)]
        name: String,
        /// The api service account the token acts as.
        #[arg(long, default_value = crate::bootstrap::PROVISIONING_ACCOUNT)]
        account: String,
        /// Days until the token stops working (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens (never their secrets) as JSON lines.
    List,
    /// Revoke a token by id, or by name when one live token has it.
    Revoke {
        /// Token id or name.
        token: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    // The messages carry their causes rather than chaining them: a server sends only the
    // message back to the operator.
    #[error("{context}{error}")]
    Service {
        context: String,
        error: ServiceError,
    },
    #[error("{0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Transfer(#[from] crate::transfer::TransferError),
    #[error(transparent)]
    Backup(#[from] crate::backups::BackupFileError),
    #[error("{}", counted(*.0, "inconsistency", "inconsistencies"))]
    Inconsistent(usize),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    /// The server's answer to a command it could not run.
    #[error("{0}")]
    Refused(String),
    #[error("control socket {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

impl From<serde_json::Error> for ControlError {
    fn from(error: serde_json::Error) -> Self {
        Self::Json(error)
    }
}

impl From<std::io::Error> for ControlError {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error)
    }
}

impl From<ServiceError> for ControlError {
    fn from(error: ServiceError) -> Self {
        Self::Service {
            context: String::new(),
            error,
        }
    }
}

/// Runs `command`, writing what it prints on stdout to `out`; `progress` hears how many
/// records a long command has done.
pub fn execute(
    service: &Service,
    command: Command,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ControlError> {
    let actor = Actor::system(Source::Cli);
    match command {
        Command::User(UserCommand::List { json }) => {
            list_users(service, &actor, json, out)?;
        }
        Command::User(UserCommand::Create {
            user_name,
            kind,
            license,
            account,
            email,
            given_name,
            family_name,
            display_name,
            manager,
            roles,
            active,
            inactive,
            generate_password,
        }) => {
            if kind == PrincipalKind::System {
                return Err(ControlError::Refused(
                    "the system principal is the server's own: create a person, an api or a \
                     bind account"
                        .into(),
                ));
            }
            let mut user = User::new(user_name);
            user.kind = kind;
            user.license = license;
            user.account = account_id(service, &actor, account, "account")?;
            user.manager = manager
                .map(|name| named(service.user_by_name(&actor, &name), "manager", &name))
                .transpose()?
                .map(|u| u.id);
            for name in &roles {
                user.roles
                    .push(named(service.role_by_name(&actor, name), "role", name)?.id);
            }
            user.emails = email.map(work_address).into_iter().collect();
            user.name.given_name = given_name;
            user.name.family_name = family_name;
            user.display_name = display_name;
            user.active = created_active(kind, active, inactive);
            let password = generate_password.then(|| service.generate_password());
            let user = service.create_user(
                &actor,
                NewUser {
                    user,
                    password: password.clone(),
                },
            )?;
            match password {
                Some(password) => writeln!(out, "{password}")?,
                None => writeln!(
                    out,
                    "created {} ({}, {})",
                    user.user_name,
                    license_held(&user),
                    if user.active { "active" } else { "inactive" }
                )?,
            }
        }
        Command::User(UserCommand::Set {
            user_name,
            email,
            given_name,
            family_name,
            display_name,
            title,
        }) => {
            if [&email, &given_name, &family_name, &display_name, &title]
                .iter()
                .all(|v| v.is_none())
            {
                return Err(ControlError::Refused(
                    "nothing to set: give --email, --given-name, --family-name, --display-name \
                     or --title"
                        .into(),
                ));
            }
            let found = service.user_by_name(&actor, &user_name)?;
            let cleared = |v: &Option<String>| {
                v.as_ref()
                    .map(|v| Some(v.clone()).filter(|v| !v.is_empty()))
            };
            let user = service.update_user(&actor, found.id, None, |u| {
                if let Some(email) = cleared(&email) {
                    // The primary address is replaced; other addresses stay.
                    u.emails.retain(|e| !e.primary);
                    if let Some(address) = email {
                        u.emails.iter_mut().for_each(|e| e.primary = false);
                        u.emails.insert(0, work_address(address));
                    }
                }
                if let Some(v) = cleared(&given_name) {
                    u.name.given_name = v;
                }
                if let Some(v) = cleared(&family_name) {
                    u.name.family_name = v;
                }
                if let Some(v) = cleared(&display_name) {
                    u.display_name = v;
                }
                if let Some(v) = cleared(&title) {
                    u.title = v;
                }
                Ok(())
            })?;
            if user.version == found.version {
                writeln!(out, "{} already had that: nothing changed", user.user_name)?;
            } else {
                writeln!(out, "changed {}", user.user_name)?;
            }
        }
        Command::User(UserCommand::SetLicense {
            user_name,
            license,
            account,
        }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let account = account_id(service, &actor, account, "account")?;
            let user = service.update_user(&actor, user.id, None, |u| {
                u.license = license;
                if account.is_some() {
                    u.account = account;
                }
                Ok(())
            })?;
            writeln!(
                out,
                "{} holds {} {} license",
                user.user_name,
                user.license.article(),
                user.license
            )?;
        }
        Command::User(UserCommand::Anonymise { user_name, yes }) => {
            if !yes {
                return Err(ControlError::Refused(format!(
                    "anonymising erases the personal data of {user_name} for good; add --yes to go ahead"
                )));
            }
            let user = service.user_by_name(&actor, &user_name)?;
            service.anonymise_user(&actor, user.id, None)?;
            writeln!(out, "anonymised {} ({})", user.user_name, user.id)?;
        }
        Command::User(UserCommand::Show { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            show_user(service, &actor, &user, out)?;
        }
        Command::User(UserCommand::Activate { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let user = service.set_active(&actor, user.id, true, None)?;
            writeln!(
                out,
                "activated {} ({})",
                user.user_name,
                license_held(&user)
            )?;
        }
        Command::User(UserCommand::Deactivate { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let user = service.set_active(&actor, user.id, false, None)?;
            writeln!(out, "deactivated {}", user.user_name)?;
        }
        Command::Role(RoleCommand::List { json }) => {
            for role in service.roles(&actor)? {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&role)?)?;
                    continue;
                }
                let members = service.role_members(&actor, role.id)?.len();
                let kind = role
                    .role_type
                    .map_or("group".to_string(), |t| t.to_string());
                let admin = if role.administrator {
                    "administrator"
                } else {
                    "-"
                };
                writeln!(out, "{}\t{kind}\t{admin}\t{members}", role.name)?;
            }
        }
        Command::Role(RoleCommand::Create {
            name,
            role_type,
            administrator,
            permissions,
            mfa_required,
            session_timeout,
            password_login_disabled,
            api_access,
            description,
            allowed_networks,
        }) => {
            let mut role = Role::new(name, role_type);
            role.administrator = administrator;
            for grant in permissions {
                role.permissions.grant(grant);
            }
            role.settings = RoleSettings {
                session_timeout_minutes: session_timeout,
                mfa_required,
                password_login_disabled,
                api_access,
                description,
                allowed_networks,
            };
            let role = service.create_role(&actor, role)?;
            let kind = role
                .role_type
                .map_or("plain group".to_string(), |t| format!("{t} role"));
            writeln!(out, "created {} ({kind})", role.name)?;
        }
        Command::Role(RoleCommand::Delete { role }) => {
            let role = service.role_by_name(&actor, &role)?;
            service.delete_role(&actor, role.id, None)?;
            writeln!(out, "deleted {}", role.name)?;
        }
        Command::Role(RoleCommand::Members { role }) => {
            let role = service.role_by_name(&actor, &role)?;
            for member in service.role_members(&actor, role.id)? {
                writeln!(out, "{}", service.user(&actor, member)?.user_name)?;
            }
        }
        Command::Role(RoleCommand::SignOut { role }) => {
            let role = service.role_by_name(&actor, &role)?;
            let n = service.sign_out_members(&actor, role.id)?;
            writeln!(
                out,
                "signed out {} of {}",
                counted(n, "member", "members"),
                role.name
            )?;
        }
        Command::Role(RoleCommand::ResetPasswords { role, yes }) => {
            if !yes {
                return Err(ControlError::Refused(format!(
                    "resetting the passwords of {role} stops every member's password from working now; add --yes to go ahead"
                )));
            }
            let role = service.role_by_name(&actor, &role)?;
            let reset = service.reset_member_passwords(&actor, role.id)?;
            writeln!(
                out,
                "{}: {} cleared, {} sent",
                role.name,
                counted(reset.cleared, "password", "passwords"),
                counted(reset.linked, "link", "links")
            )?;
            for name in &reset.unreachable {
                writeln!(
                    out,
                    "no email address: {name} (set a password with `rollcall user reset-password {name}`)"
                )?;
            }
        }
        Command::Announce {
            subject,
            roles,
            everyone,
            body,
        } => {
            let audience = match (everyone, roles.is_empty()) {
                (true, true) => Audience::Everyone,
                (false, false) => Audience::Roles(
                    roles
                        .iter()
                        .map(|name| Ok(named(service.role_by_name(&actor, name), "role", name)?.id))
                        .collect::<Result<_, ControlError>>()?,
                ),
                (true, false) => {
                    return Err(ControlError::Refused(
                        "--everyone and --role exclude each other".into(),
                    ));
                }
                (false, true) => {
                    return Err(ControlError::Refused(
                        "name the roles whose members it is for with --role, or send it to every active person with --everyone".into(),
                    ));
                }
            };
            let announced = service.announce(
                &actor,
                &Announcement {
                    subject,
                    body,
                    audience,
                },
            )?;
            writeln!(
                out,
                "{} queued",
                counted(announced.queued, "message", "messages")
            )?;
            for name in &announced.without_address {
                writeln!(out, "no email address: {name}")?;
            }
        }
        Command::Role(RoleCommand::AddMember { role, user_names }) => {
            let role = service.role_by_name(&actor, &role)?;
            let users = users_named(service, &actor, &user_names)?;
            let ids: Vec<_> = users.iter().map(|u| u.id).collect();
            service.change_members(&actor, role.id, None, &ids, &[])?;
            for user in &users {
                writeln!(out, "{} holds {}", user.user_name, role.name)?;
            }
        }
        Command::Role(RoleCommand::RemoveMember { role, user_names }) => {
            let role = service.role_by_name(&actor, &role)?;
            let users = users_named(service, &actor, &user_names)?;
            let ids: Vec<_> = users.iter().map(|u| u.id).collect();
            service.change_members(&actor, role.id, None, &[], &ids)?;
            for user in &users {
                writeln!(out, "{} no longer holds {}", user.user_name, role.name)?;
            }
        }
        Command::Account(AccountCommand::Create {
            name,
            parent,
            licensed,
        }) => {
            let mut account = Account::new(name);
            account.parent = account_id(service, &actor, parent, "parent")?;
            account.licensed = licensed;
            let account = service.create_account(&actor, account)?;
            writeln!(out, "created {}", account.name)?;
        }
        Command::Account(AccountCommand::List { json }) => {
            let accounts = service.accounts(&actor)?;
            let names: std::collections::HashMap<_, _> =
                accounts.iter().map(|a| (a.id, a.name.clone())).collect();
            for account in &accounts {
                if json {
                    writeln!(out, "{}", serde_json::to_string(account)?)?;
                    continue;
                }
                let parent = account
                    .parent
                    .and_then(|p| names.get(&p))
                    .map_or("-", String::as_str);
                let licensed = if account.licensed { "licensed" } else { "-" };
                writeln!(out, "{}\t{parent}\t{licensed}", account.name)?;
            }
        }
        Command::User(UserCommand::Unlock { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.unlock_user(&actor, user.id)?;
            writeln!(out, "unlocked {}", user.user_name)?;
        }
        Command::User(UserCommand::Sessions { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            for session in service.sessions(&actor, Some(user.id))? {
                let client = session.client.map_or("-".to_string(), |c| c.to_string());
                let stamp = |t: time::OffsetDateTime| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_else(|_| t.to_string())
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{client}\t{}",
                    session.jti,
                    stamp(session.created),
                    stamp(session.expires),
                    session.user_agent.as_deref().unwrap_or("-")
                )?;
            }
        }
        Command::User(UserCommand::SignOut { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            service.revoke_all_sessions(&actor, user.id)?;
            writeln!(out, "ended every session of {}", user.user_name)?;
        }
        Command::User(UserCommand::ResetPassword { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            let password = service.generate_password();
            service.set_password(&actor, user.id, &password)?;
            // A lockout would keep the new password from working.
            service.unlock_user(&actor, user.id)?;
            writeln!(out, "{password}")?;
        }
        Command::User(UserCommand::RemoveMfa { user_name }) => {
            let user = service.user_by_name(&actor, &user_name)?;
            // As `DELETE /auth/totp`, none to remove is no failure; but it is said.
            if service.remove_totp(&actor, Some(user.id), None)? {
                writeln!(out, "removed the authenticator of {}", user.user_name)?;
            } else {
                writeln!(
                    out,
                    "{} has no authenticator: nothing was removed",
                    user.user_name
                )?;
            }
        }
        Command::Token(TokenCommand::Create {
            name,
            account,
            expires_days,
        }) => {
            let principal = named(
                service.user_by_name(&actor, &account),
                "service account",
                &account,
            )?;
            let expires = expires_days.map(crate::service::token_expiry).transpose()?;
            let token = service.create_api_token(&actor, &name, principal.id, None, expires)?;
            writeln!(out, "{token}")?;
        }
        Command::Token(TokenCommand::List) => {
            for token in service.api_tokens(&actor)? {
                writeln!(out, "{}", serde_json::to_string(&token)?)?;
            }
        }
        Command::Token(TokenCommand::Revoke { token }) => {
            let revoked = service.revoke_api_token(&actor, &token)?;
            writeln!(out, "revoked {} ({})", revoked.name, revoked.id)?;
        }
        Command::Report(ReportCommand::Access { format, idle_days }) => {
            let mut writer = crate::review::Writer::new(&mut *out, format);
            service.access_review(
                &actor,
                crate::service::ReviewFilter { idle_days },
                &mut |row| writer.row(&row).map_err(ControlError::from),
            )?;
            writer.finish()?;
        }
        Command::Licenses => {
            for usage in service.license_usage()? {
                let limit = usage
                    .limit
                    .map_or("unlimited".to_string(), |l| l.to_string());
                writeln!(out, "{:<9} {}/{}", usage.license, usage.used, limit)?;
            }
        }
        Command::Audit(args) => {
            let query = crate::service::AuditQuery {
                since: args.since.as_deref().map(since).transpose()?,
                actor: args.actor,
                target: args.target,
                kind: args
                    .kind
                    .as_deref()
                    .map(|k| k.parse().map_err(ControlError::Refused))
                    .transpose()?,
                count: args.count,
            };
            let events = service.audit_query(&actor, &query)?;
            if events.is_empty()
                && let Some(target) = query.target.as_deref()
            {
                check_target(service, &actor, target)?;
            }
            for event in events {
                writeln!(out, "{}", serde_json::to_string(&event)?)?;
            }
        }
        Command::Outbox(args) => {
            let query = crate::service::OutboxQuery {
                since: args.since.as_deref().map(since).transpose()?,
                user: args
                    .user
                    .map(|name| named(service.user_by_name(&actor, &name), "user", &name))
                    .transpose()?
                    .map(|u| u.id),
                kind: args
                    .kind
                    .as_deref()
                    .map(|k| k.parse().map_err(ControlError::Refused))
                    .transpose()?,
                waiting: args.waiting,
                count: args.count,
            };
            for message in service.outbox_report(&actor, &query)? {
                writeln!(out, "{}", serde_json::to_string(&message)?)?;
            }
        }
        Command::OutboxCancel(args) => {
            let user = args
                .user
                .map(|name| named(service.user_by_name(&actor, &name), "user", &name))
                .transpose()?
                .map(|u| u.id);
            let done = service.cancel_messages(
                &actor,
                &CancelSelection {
                    ids: args.ids,
                    kind: args.kind,
                    user,
                    since: args.since,
                },
            )?;
            writeln!(
                out,
                "{} cancelled",
                counted(done.cancelled, "message", "messages")
            )?;
            for id in &done.not_cancelled {
                writeln!(out, "not waiting, left as it was: {id}")?;
            }
        }
        Command::Check => {
            let problems = service.verify()?;
            if !problems.is_empty() {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
                return Err(ControlError::Inconsistent(problems.len()));
            }
            writeln!(
                out,
                "ok: every index and counter agrees with the records, and every reference \
                 between them holds"
            )?;
        }
        Command::Export => {
            crate::transfer::export(service, &actor, out, progress)?;
        }
        Command::Import => {
            return Err(ControlError::Refused(
                "import reads its records line by line; run it with `rollcall import`".into(),
            ));
        }
        Command::Backup { file, recipients } => {
            let entries =
                crate::backups::write_file(&file, &recipients, |out| service.backup(&actor, out))?;
            writeln!(
                out,
                "backup of {entries} entries written to {}",
                file.display()
            )?;
        }
    }
    Ok(())
}

/// An `audit --target` that found nothing: a userName or role name that names no one is
/// refused, so that a typo is not read as a quiet trail. Only then: events also name what no
/// record is (a refused activation names a user that was never created, a flagged address is
/// a target), and those are found by what they name. (Over REST the empty list is the answer:
/// a name an anonymisation erased is found in no event either.)
fn check_target(service: &Service, actor: &Actor, target: &str) -> Result<(), ControlError> {
    if !crate::service::is_audit_name(target) {
        return Ok(());
    }
    let found = |found: Result<(), ServiceError>| match found {
        Ok(()) => Ok(true),
        Err(ServiceError::NotFound { .. }) => Ok(false),
        Err(e) => Err(ControlError::from(e)),
    };
    if found(service.user_by_name(actor, target).map(drop))?
        || found(service.role_by_name(actor, target).map(drop))?
    {
        return Ok(());
    }
    Err(ControlError::Refused(format!(
        "target {target:?}: no user or role has that name, and no event names it"
    )))
}

/// `n` with the noun that goes with it: `1 message`, `2 messages`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A primary work address, as `--email` gives one.
fn work_address(value: String) -> MultiValue {
    MultiValue {
        value,
        kind: Some("work".into()),
        primary: true,
        display: None,
    }
}

/// A `--since` time.
fn since(text: &str) -> Result<time::OffsetDateTime, ControlError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        ControlError::Refused(format!("--since {text:?} is not an RFC 3339 time: {e}"))
    })
}

/// The users of `names`, or an error naming every name that is not a user.
fn users_named(
    service: &Service,
    actor: &Actor,
    names: &[String],
) -> Result<Vec<User>, ControlError> {
    let mut users = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match service.user_by_name(actor, name) {
            Ok(user) => users.push(user),
            Err(ServiceError::NotFound { .. }) => unknown.push(name.as_str()),
            Err(error) => return Err(error.into()),
        }
    }
    if !unknown.is_empty() {
        return Err(ControlError::Refused(format!(
            "no such user: {} (nothing was changed)",
            unknown.join(", ")
        )));
    }
    Ok(users)
}

/// Whether `user create` makes the user active: a person only when asked (activation takes
/// a license and mails the person), a service account unless asked not to (it takes no
/// license, and an application that was given its credentials expects them to work).
fn created_active(kind: PrincipalKind, active: bool, inactive: bool) -> bool {
    match kind {
        PrincipalKind::Person => active,
        PrincipalKind::Api | PrincipalKind::Bind | PrincipalKind::System => !inactive,
    }
}

/// What a user holds, as `user create` and `user activate` say it: a person's license type,
/// or what kind of service account it is (which takes no license).
fn license_held(user: &User) -> String {
    match user.license_type() {
        Some(license) => license.to_string(),
        None => format!("{} service account", user.kind),
    }
}

fn named<T>(found: Result<T, ServiceError>, what: &str, name: &str) -> Result<T, ControlError> {
    found.map_err(|error| ControlError::Service {
        context: format!("{what} {name:?}: "),
        error,
    })
}

/// The id of the account named `name`, if one is named; `what` says which it is in errors.
fn account_id(
    service: &Service,
    actor: &Actor,
    name: Option<String>,
    what: &str,
) -> Result<Option<AccountId>, ControlError> {
    name.map(|name| named(service.account_by_name(actor, &name), what, &name).map(|a| a.id))
        .transpose()
}

/// `user list`: streamed, so a large directory is never held in memory.
fn list_users(
    service: &Service,
    actor: &Actor,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), ControlError> {
    let now = time::OffsetDateTime::now_utc();
    service.try_list_users(actor, &Plan::Scan, &mut |user| {
        if json {
            writeln!(out, "{}", crate::transfer::user_line(service, actor, user)?)?;
            return Ok(());
        }
        let mut status = if user.active { "active" } else { "inactive" }.to_string();
        if user.locked_until.is_some_and(|t| t > now) {
            status.push_str(",locked");
        }
        // Service accounts take no seat: the license a record carries means nothing for them.
        let license = user
            .license_type()
            .map_or_else(|| "-".to_string(), |l| l.to_string());
        writeln!(
            out,
            "{}\t{}\t{license}\t{status}",
            user.user_name, user.kind
        )?;
        Ok::<(), ControlError>(())
    })
}

/// `user show`: the export record, pretty, with the names an operator looks for next to the
/// ids.
fn show_user(
    service: &Service,
    actor: &Actor,
    user: &User,
    out: &mut dyn Write,
) -> Result<(), ControlError> {
    let mut shown = serde_json::to_value(without_secrets(user))?;
    // The secrets' fields are left out rather than shown emptied (a `null` hash read as "no
    // password"); what an operator needs is whether there is one.
    if let Some(fields) = shown.as_object_mut() {
        for secret in ["password_hash", "password_history", "totp"] {
            fields.remove(secret);
        }
    }
    shown["password"] = if user.password_hash.is_some() {
        "set"
    } else {
        "none"
    }
    .into();
    shown["authenticator"] = match &user.totp {
        Some(totp) if totp.confirmed => "enrolled",
        Some(_) => "unconfirmed",
        None => "none",
    }
    .into();
    let mut roles = Vec::with_capacity(user.roles.len());
    for id in &user.roles {
        roles.push(service.role(actor, *id)?.name);
    }
    shown["role_names"] = roles.into();
    if let Some(account) = user.account {
        shown["account_name"] = service.account(actor, account)?.name.into();
    }
    if let Some(manager) = user.manager {
        // A manager the operator cannot read (or one anonymised) shows as its id only.
        if let Ok(manager) = service.user(actor, manager) {
            shown["manager_name"] = manager.user_name.into();
        }
    }
    let activity = service.activity(actor, user.id)?;
    shown["last_login"] = activity
        .last_login
        .map(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        })
        .into();
    let now = time::OffsetDateTime::now_utc();
    shown["idle_days"] = activity.idle_days(now).into();
    let age = service.password_age(actor, user.id, now)?;
    if let Some(expires) = age.expires {
        shown["password_expires"] = expires
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
            .into();
        shown["password_expired"] = age.expired.into();
        if age.expired {
            shown["grace_logins_left"] = age.grace_left.into();
        }
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
    Ok(())
}

/// Imports one record line: the report line once it is durably stored, or why it was not.
pub fn import_line(importer: &mut Importer, text: &str) -> Result<String, String> {
    importer
        .line(text)
        .map(|imported| imported.report().to_string())
        .map_err(|e| e.to_string())
}

/// Ends an import: sets the managers that referred to users later in the input; returns what
/// could not be set.
pub fn import_finish(importer: &mut Importer) -> Vec<String> {
    importer
        .finish()
        .into_iter()
        .map(|(user, e)| format!("user {user}: manager not set: {e}"))
        .collect()
}
