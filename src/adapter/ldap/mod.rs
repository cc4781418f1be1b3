//! The LDAP view of the directory (DESIGN §3): the core's implementation of
//! [`rollcall_ldap::Directory`]. It maps DNs and attributes and plans searches on the store's
//! indexes; who may see or change what is decided by the service it calls.

mod contact;
mod entry;
mod error;
mod profile;
mod schema;
mod search;
mod tree;
mod write;

use std::net::IpAddr;

use rollcall_ldap::ppolicy::{PolicyError, PolicyResponse};
use rollcall_ldap::{
    AddRequest, ClientInfo, Directory, Dn, EntrySink, LdapError, ModifyDnRequest, ModifyRequest,
    PasswordModified, PasswordModify, SearchQuery, Session,
};

pub use self::entry::USER_ATTRIBUTES as USER_ATTRIBUTE_NAMES;
pub use self::schema::schema;
use self::tree::{Branch, Target, Tree};
use crate::audit::Source;
use crate::model::{Entity, User};
use crate::service::{Actor, Expected, LoginSource, SecondFactor, Service, ServiceError};

/// The identity of an LDAP connection.
#[derive(Clone, Debug)]
pub struct LdapSession {
    actor: Actor,
    dn: Option<Dn>,
    /// Right after a bind: its password expires soon, or it took a grace login.
    password_policy: Option<PolicyResponse>,
}

impl LdapSession {
    /// The session once its user has changed its own password on it: a temporary password no
    /// longer limits it, and the new password (which ends every other sign-in) not this one.
    fn with_own_password(&self) -> Self {
        Self {
            actor: self.actor.with_own_password(),
            dn: self.dn.clone(),
            password_policy: None,
        }
    }
}

impl Session for LdapSession {
    fn dn(&self) -> Option<&Dn> {
        self.dn.as_ref()
    }

    fn password_policy(&self) -> Option<PolicyResponse> {
        self.password_policy
    }
}

pub struct LdapDirectory {
    service: Service,
    tree: Tree,
    schema: std::sync::Arc<rollcall_ldap::Schema>,
}

impl LdapDirectory {
    pub fn new(service: Service, base: Dn, schema: std::sync::Arc<rollcall_ldap::Schema>) -> Self {
        Self {
            service,
            tree: Tree::new(base),
            schema,
        }
    }

    /// The user named `name` under `branch` (people or services). A user's entry is in the
    /// branch of its kind only: the same name under the other branch names no entry, so it
    /// reads as missing there, and a write, a DN value or a filter given that DN reaches no
    /// record (`cn=ann,ou=services` is not the person `ann`).
    fn user_in(&self, actor: &Actor, branch: Branch, name: &str) -> crate::service::Result<User> {
        let user = self.service.user_by_name(actor, name)?;
        if entry::user_branch(&user) == branch {
            Ok(user)
        } else {
            Err(ServiceError::not_found(Entity::User, name))
        }
    }

    /// The noSuchObject for a DN below record `name` of `branch` (RFC 4511 §4.1.9: matchedDN
    /// names the deepest entry that exists): the record when `actor` may read it, else its
    /// branch, so the answer says nothing of records out of reach.
    fn below_record(&self, actor: &Actor, branch: Branch, name: &str) -> LdapError {
        let readable = match branch {
            Branch::People | Branch::Services => self.user_in(actor, branch, name).is_ok(),
            Branch::Roles => self.service.role_by_name(actor, name).is_ok(),
            Branch::Accounts => self.service.account_by_name(actor, name).is_ok(),
        };
        let matched = if readable {
            self.tree.record_dn(branch, name)
        } else {
            self.tree.branch_dn(branch)
        };
        LdapError::no_such_object().with_matched(matched)
    }
}

fn client_ip(client: &ClientInfo) -> Option<IpAddr> {
    Some(client.peer.ip())
}

impl Directory for LdapDirectory {
    type Session = LdapSession;

    fn anonymous(&self, client: &ClientInfo) -> LdapSession {
        LdapSession {
            actor: Actor::anonymous(Source::Ldap, client_ip(client)),
            dn: None,
            password_policy: None,
        }
    }

    fn bind(&self, dn: &Dn, password: &str, client: &ClientInfo) -> Result<LdapSession, LdapError> {
        let (expects, name) = match self.tree.resolve(dn) {
            Target::Record(Branch::People, name) => (Expected::People, name),
            Target::Record(Branch::Services, name) => (Expected::ServiceAccounts, name),
            // Not a DN anyone can bind as: no user has it as a name, and the login still pays
            // for one verification.
            _ => (Expected::Nobody, dn.to_string()),
        };
        let from = LoginSource {
            source: Source::Ldap,
            client: client_ip(client),
            expects,
        };
        // An expired password that was right is invalidCredentials too, with the reason in
        // the message and the password policy control (see `error::ldap_error`).
        let logged = self
            .service
            .login(&name, password, SecondFactor::Appended, from)
            .map_err(|e| match e {
                crate::service::ServiceError::InvalidCredentials => {
                    LdapError::invalid_credentials()
                }
                e => error::ldap_error(e),
            })?;
        let standing = logged.password;
        let password_policy = match (standing.grace_remaining, standing.expires) {
            _ if standing.must_change => Some(PolicyResponse::Error(PolicyError::ChangeAfterReset)),
            (Some(left), _) => Some(PolicyResponse::GraceRemaining(left)),
            (None, Some(at)) => {
                let left = (at - time::OffsetDateTime::now_utc())
                    .whole_seconds()
                    .max(0);
                Some(PolicyResponse::ExpiresIn(
                    u32::try_from(left).unwrap_or(u32::MAX),
                ))
            }
            (None, None) => None,
        };
        Ok(LdapSession {
            // With a temporary password, the core lets this actor change it and nothing else.
            actor: logged.actor(Source::Ldap, client_ip(client)),
            dn: Some(entry::user_dn(&self.tree, &logged.user)),
            password_policy,
        })
    }

    fn search(
        &self,
        session: &LdapSession,
        query: &SearchQuery,
        sink: &mut dyn EntrySink,
    ) -> Result<(), LdapError> {
        search::Search {
            directory: self,
            actor: &session.actor,
            query,
            seen: Default::default(),
        }
        .run(sink)
    }

    fn is_point_lookup(&self, query: &SearchQuery) -> bool {
        search::is_point_lookup(self, query)
    }

    fn add(&self, session: &LdapSession, request: AddRequest) -> Result<(), LdapError> {
        write::add(self, &session.actor, request)
    }

    fn modify(&self, session: &LdapSession, request: ModifyRequest) -> Result<(), LdapError> {
        write::modify(self, &session.actor, request)
    }

    fn delete(&self, session: &LdapSession, dn: &Dn) -> Result<(), LdapError> {
        write::delete(self, &session.actor, dn)
    }

    fn modify_dn(&self, session: &LdapSession, request: ModifyDnRequest) -> Result<(), LdapError> {
        write::modify_dn(self, &session.actor, request)
    }

    fn password_modify(
        &self,
        session: &LdapSession,
        request: PasswordModify,
    ) -> Result<PasswordModified<LdapSession>, LdapError> {
        write::password_modify(self, session, request)
    }
}
