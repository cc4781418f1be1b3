//! The core's implementation of [`rollcall_scim::Provider`]: resources in and out of the domain,
//! filters planned on the store's indexes. Every decision (who sees what, license rules,
//! uniqueness) is the service's.

use std::ops::ControlFlow;

use rollcall_scim::filter::Plan as ScimPlan;
use rollcall_scim::{
    AttrPath, AttributeDef, ClientInfo, Endpoint, ListQuery, MemberChanges, Provider, Resource,
    ResourceTypeDef, SchemaDef, ScimError, Uniqueness,
};
use serde_json::Value;

use super::user::custom_from_scim;
use super::{
    ACCOUNT_SCHEMA, ENTERPRISE_USER, GROUP_SCHEMA, GroupMembers, ROLLCALL_ROLE, ROLLCALL_USER,
    USER_SCHEMA, UserContext, account_from_scim, account_to_scim, failure, keep_unasserted,
    member_ids, role_from_scim, role_to_scim, unlock_requested, user_from_scim, user_to_scim,
};
use crate::audit::Source;
use crate::model::{Account, AccountId, Role, RoleId, User, UserId};
use crate::service::{
    Actor, NewUser, Plan, Principal, References, Service, ServiceError, SessionUse, UserLookup,
};

pub struct ScimDirectory {
    service: Service,
    /// Absolute URL of `/scim/v2`, for `$ref` and `meta.location`.
    base: String,
}

impl ScimDirectory {
    pub fn new(service: Service, base: String) -> Self {
        Self { service, base }
    }

    /// References as `who` may see them, for the resources of one request.
    fn refs(&self, who: &Actor) -> Result<References<'_>, ScimError> {
        self.service.references(who).map_err(failure)
    }

    fn user_resource(&self, refs: &mut References<'_>, user: &User) -> Result<Resource, ScimError> {
        let mut ctx = UserContext {
            base: self.base.clone(),
            custom: std::sync::Arc::clone(&self.service.policy().custom),
            ..UserContext::default()
        };
        if let Some(m) = user.manager {
            ctx.manager_display = refs
                .user(m)
                .map_err(failure)?
                .map(|r| r.display_name.unwrap_or(r.user_name));
        }
        if let Some(a) = user.account {
            ctx.account_name = refs.account(a).map_err(failure)?;
        }
        for role in &user.roles {
            if let Some(name) = refs.role(*role).map_err(failure)? {
                ctx.groups.push((role.to_string(), name));
            }
        }
        ctx.last_login = refs.last_login(user.id).map_err(failure)?;
        Ok(Resource {
            id: user.id.to_string(),
            version: user.version,
            json: user_to_scim(user, &ctx),
        })
    }

    /// Resources of the users a service listing visits; the first that cannot be built ends
    /// the listing with its error.
    fn user_resources<T>(
        &self,
        who: &Actor,
        list: impl FnOnce(&mut dyn FnMut(&User) -> ControlFlow<()>) -> crate::service::Result<T>,
    ) -> Result<(T, Vec<Resource>), ScimError> {
        let mut out = Vec::new();
        let mut failed = None;
        let mut refs = self.refs(who)?;
        let listed = list(&mut |user| match self.user_resource(&mut refs, user) {
            Ok(r) => {
                out.push(r);
                ControlFlow::Continue(())
            }
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        })
        .map_err(failure)?;
        match failed {
            Some(e) => Err(e),
            None => Ok((listed, out)),
        }
    }

    fn role_resource(&self, actor: &Actor, role: &Role) -> Result<Resource, ScimError> {
        let ids = self.service.role_members(actor, role.id).map_err(failure)?;
        self.role_with_members(actor, role, Some(ids))
    }

    /// The answer to a write of `role`: as [`Self::role_resource`], or, when the write took
    /// the caller out of those who may read it (a member that removed itself), the role as
    /// stored without its members: the change is made, and a 404 would say it was not.
    fn written_role_resource(&self, actor: &Actor, role: &Role) -> Result<Resource, ScimError> {
        let ids = match self.service.role_members(actor, role.id) {
            Ok(ids) => Some(ids),
            Err(ServiceError::NotFound { .. }) => None,
            Err(e) => return Err(failure(e)),
        };
        self.role_with_members(actor, role, ids)
    }

    /// `role` as a Group, with the members `ids` (those the actor may read), or none listed.
    fn role_with_members(
        &self,
        actor: &Actor,
        role: &Role,
        ids: Option<Vec<UserId>>,
    ) -> Result<Resource, ScimError> {
        let members = match ids {
            Some(ids) => {
                let mut refs = self.refs(actor)?;
                let mut members: GroupMembers = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(u) = refs.user(id).map_err(failure)? {
                        members.push((id, u.user_name));
                    }
                }
                Some(members)
            }
            None => None,
        };
        Ok(Resource {
            id: role.id.to_string(),
            version: role.version,
            json: role_to_scim(role, members.as_ref(), &self.base),
        })
    }

    fn account_resource(&self, account: &Account) -> Resource {
        Resource {
            id: account.id.to_string(),
            version: account.version,
            json: account_to_scim(account, &self.base),
        }
    }

    /// The service's plan for a SCIM filter's index plan.
    fn user_plan(plan: &ScimPlan) -> Plan {
        match plan {
            ScimPlan::All => Plan::Scan,
            ScimPlan::And(parts) => Plan::And(parts.iter().map(Self::user_plan).collect()),
            ScimPlan::Or(parts) => Plan::Or(parts.iter().map(Self::user_plan).collect()),
            ScimPlan::Eq { path, value } => {
                let Some(v) = value.as_str() else {
                    return Plan::Scan;
                };
                match user_index(path) {
                    Some(Index::Id) => match v.parse() {
                        Ok(id) => Plan::Lookup(UserLookup::Id(UserId(id))),
                        // Not an id: nothing has it (a filter on a random id → 0 results).
                        Err(_) => Plan::Or(Vec::new()),
                    },
                    Some(Index::UserName) => Plan::Lookup(UserLookup::UserName(v.to_owned())),
                    Some(Index::ExternalId) => Plan::Lookup(UserLookup::ExternalId(v.to_owned())),
                    Some(Index::EmployeeNumber) => {
                        Plan::Lookup(UserLookup::EmployeeNumber(v.to_owned()))
                    }
                    Some(Index::Email) => Plan::Lookup(UserLookup::Email(v.to_owned())),
                    Some(Index::Manager) => match v.parse() {
                        Ok(id) => Plan::Lookup(UserLookup::Manager(UserId(id))),
                        Err(_) => Plan::Or(Vec::new()),
                    },
                    Some(Index::Group) => match v.parse() {
                        Ok(id) => Plan::Lookup(UserLookup::Role(RoleId(id))),
                        Err(_) => Plan::Or(Vec::new()),
                    },
                    None => Plan::Scan,
                }
            }
        }
    }
}

enum Index {
    Id,
    UserName,
    ExternalId,
    EmployeeNumber,
    Email,
    Manager,
    Group,
}

/// Which store index answers an equality on `path` of a User, if any.
fn user_index(path: &AttrPath) -> Option<Index> {
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    let urn = path.urn.as_deref().map(str::to_ascii_lowercase);
    let enterprise = urn.as_deref() == Some(&ENTERPRISE_USER.to_ascii_lowercase());
    let core = urn.is_none() || urn.as_deref() == Some(&USER_SCHEMA.to_ascii_lowercase());
    match (name.as_str(), sub.as_deref()) {
        ("id", None) if core => Some(Index::Id),
        ("username", None) if core => Some(Index::UserName),
        ("externalid", None) if core => Some(Index::ExternalId),
        ("emails", Some("value")) if core => Some(Index::Email),
        ("groups", Some("value")) if core => Some(Index::Group),
        ("manager", Some("value")) if enterprise || urn.is_none() => Some(Index::Manager),
        // The short name resolves to the enterprise extension's before any custom schema's.
        ("employeenumber", None) if enterprise || urn.is_none() => Some(Index::EmployeeNumber),
        _ => None,
    }
}

fn parse_id<I: std::str::FromStr>(id: &str) -> Result<I, ScimError> {
    // A malformed id names nothing: the same 404 as a missing one.
    id.parse()
        .map_err(|_| ScimError::not_found(format!("{id} not found")))
}

fn unknown_endpoint(endpoint: &Endpoint) -> ScimError {
    ScimError::not_found(format!("no resource type at /{endpoint}"))
}

impl Provider for ScimDirectory {
    type Principal = Actor;

    fn authenticate(&self, bearer: &str, client: &ClientInfo) -> Result<Actor, ScimError> {
        let client = client.peer.map(|p| p.ip());
        self.service
            .bearer_actor(bearer, SessionUse::Api, Source::Scim, client)
            .map_err(|e| match e {
                ServiceError::InvalidCredentials => {
                    ScimError::unauthorized("invalid or expired token")
                }
                e => failure(e),
            })
    }

    fn schemas(&self) -> Vec<SchemaDef> {
        let mut all = vec![group_schema()];
        all.extend(schemas());
        all.extend(custom_schema(&self.service.policy().custom));
        all
    }

    fn resource_types(&self) -> Vec<ResourceTypeDef> {
        let mut users = ResourceTypeDef::new("User", "/Users", USER_SCHEMA);
        users.description = "People and service accounts".into();
        users.schema_extensions = vec![
            (ENTERPRISE_USER.into(), false),
            (ROLLCALL_USER.into(), false),
        ];
        let custom = &self.service.policy().custom;
        if !custom.attributes.is_empty() {
            users.schema_extensions.push((custom.schema.clone(), false));
        }
        let mut groups = ResourceTypeDef::new("Group", "/Groups", GROUP_SCHEMA);
        groups.description = "Roles, and plain groups without a role type".into();
        groups.schema_extensions = vec![(ROLLCALL_ROLE.into(), false)];
        let mut accounts = ResourceTypeDef::new("Account", "/Accounts", ACCOUNT_SCHEMA);
        accounts.description = "Organisations that partner and customer users belong to".into();
        vec![users, groups, accounts]
    }

    fn me(&self, who: &Actor) -> Option<String> {
        match who.principal {
            Principal::User(id) => Some(id.to_string()),
            _ => None,
        }
    }

    fn gets_are_point_reads(&self, endpoint: &str) -> bool {
        // A user is its record and the names of its roles; a group lists all its members.
        matches!(endpoint, "Users" | "Accounts")
    }

    fn is_point_query(&self, endpoint: &str, filter: &rollcall_scim::filter::Filter) -> bool {
        endpoint == "Users"
            && filter.equalities().iter().any(|(path, _)| {
                matches!(
                    user_index(path),
                    Some(
                        Index::Id
                            | Index::UserName
                            | Index::ExternalId
                            | Index::EmployeeNumber
                            | Index::Email
                    )
                )
            })
    }

    fn get(&self, who: &Actor, endpoint: &Endpoint, id: &str) -> Result<Resource, ScimError> {
        match endpoint {
            "Users" => {
                let user = self.service.user(who, parse_id(id)?).map_err(failure)?;
                self.user_resource(&mut self.refs(who)?, &user)
            }
            "Groups" => {
                let role = self.service.role(who, parse_id(id)?).map_err(failure)?;
                self.role_resource(who, &role)
            }
            "Accounts" => {
                let account = self.service.account(who, parse_id(id)?).map_err(failure)?;
                Ok(self.account_resource(&account))
            }
            other => Err(unknown_endpoint(other)),
        }
    }

    fn list(
        &self,
        who: &Actor,
        endpoint: &Endpoint,
        query: &ListQuery,
    ) -> Result<Vec<Resource>, ScimError> {
        match endpoint {
            "Users" => {
                let plan = match &query.filter {
                    Some(f) => Self::user_plan(&f.plan(&|p| user_index(p).is_some())),
                    None => Plan::Scan,
                };
                let ((), users) =
                    self.user_resources(who, |visit| self.service.list_users(who, &plan, visit))?;
                Ok(users)
            }
            "Groups" => {
                let members = query.needs("members");
                self.service
                    .roles(who)
                    .map_err(failure)?
                    .iter()
                    .map(|r| {
                        if members {
                            self.role_resource(who, r)
                        } else {
                            Ok(Resource {
                                id: r.id.to_string(),
                                version: r.version,
                                json: role_to_scim(r, None, &self.base),
                            })
                        }
                    })
                    .collect()
            }
            "Accounts" => Ok(self
                .service
                .accounts(who)
                .map_err(failure)?
                .iter()
                .map(|a| self.account_resource(a))
                .collect()),
            other => Err(unknown_endpoint(other)),
        }
    }

    fn list_page(
        &self,
        who: &Actor,
        endpoint: &Endpoint,
        _query: &ListQuery,
        start_index: usize,
        count: usize,
    ) -> Result<Option<(usize, Vec<Resource>)>, ScimError> {
        if endpoint != "Users" {
            return Ok(None);
        }
        // Only the page's users are turned into resources.
        let first = start_index.saturating_sub(1);
        let (total, page) = self.user_resources(who, |visit| {
            self.service.user_page(who, first, count, visit)
        })?;
        Ok(Some((total, page)))
    }

    fn create(&self, who: &Actor, endpoint: &Endpoint, body: Value) -> Result<Resource, ScimError> {
        match endpoint {
            "Users" => {
                let (mut user, password) = user_from_scim(&body)?;
                user.extensions = custom_from_scim(&body, &self.service.policy().custom);
                let user = self
                    .service
                    .create_user(who, NewUser { user, password })
                    .map_err(failure)?;
                self.user_resource(&mut self.refs(who)?, &user)
            }
            "Groups" => {
                let (role, members) = role_from_scim(&body)?;
                let role = self
                    .service
                    .create_role_with_members(who, role, &members.unwrap_or_default())
                    .map_err(failure)?;
                self.written_role_resource(who, &role)
            }
            "Accounts" => {
                let account = account_from_scim(&body)?;
                let account = self.service.create_account(who, account).map_err(failure)?;
                Ok(self.account_resource(&account))
            }
            other => Err(unknown_endpoint(other)),
        }
    }

    fn replace(
        &self,
        who: &Actor,
        endpoint: &Endpoint,
        id: &str,
        body: Value,
        if_version: Option<u64>,
    ) -> Result<Resource, ScimError> {
        match endpoint {
            "Users" => {
                let id: UserId = parse_id(id)?;
                let (mut user, password) = user_from_scim(&body)?;
                user.extensions = custom_from_scim(&body, &self.service.policy().custom);
                let current = self.service.user(who, id).map_err(failure)?;
                keep_unasserted(&body, &mut user, &current);
                let mut user = self
                    .service
                    .replace_user(who, id, user, if_version, password.as_deref())
                    .map_err(failure)?;
                if unlock_requested(&body)? && user.locked_until.is_some() {
                    user = self.service.unlock_user(who, id).map_err(failure)?;
                }
                self.user_resource(&mut self.refs(who)?, &user)
            }
            "Groups" => {
                let id: RoleId = parse_id(id)?;
                let (role, members) = role_from_scim(&body)?;
                let role = self
                    .service
                    .replace_role_with_members(who, id, role, members.as_deref(), if_version)
                    .map_err(failure)?;
                self.written_role_resource(who, &role)
            }
            "Accounts" => {
                let id: AccountId = parse_id(id)?;
                let account = account_from_scim(&body)?;
                let account = self
                    .service
                    .replace_account(who, id, account, if_version)
                    .map_err(failure)?;
                Ok(self.account_resource(&account))
            }
            other => Err(unknown_endpoint(other)),
        }
    }

    fn change_members(
        &self,
        who: &Actor,
        endpoint: &Endpoint,
        id: &str,
        changes: &MemberChanges,
        if_version: Option<u64>,
        unused: &[String],
    ) -> Option<Result<Resource, ScimError>> {
        if endpoint != "Groups" {
            return None;
        }
        let changed = || {
            let id: RoleId = parse_id(id)?;
            let add = member_ids(&changes.add)?;
            // A member's value is its id as `Display` writes it (lower case, hyphens), which
            // reads the same however SCIM compares it: a value that reads otherwise (no id,
            // an id written another way) names no member, and its removal removes nothing.
            let remove: Vec<UserId> = changes
                .remove
                .iter()
                .filter_map(|value| {
                    let id: UserId = value.parse().ok()?;
                    (id.to_string() == *value).then_some(id)
                })
                .collect();
            let role = self
                .service
                .patch_members(who, id, if_version, &add, &remove)
                .map_err(failure)?;
            if unused.iter().any(|a| a.eq_ignore_ascii_case("members")) {
                self.role_with_members(who, &role, None)
            } else {
                self.written_role_resource(who, &role)
            }
        };
        Some(changed())
    }

    fn delete(
        &self,
        who: &Actor,
        endpoint: &Endpoint,
        id: &str,
        if_version: Option<u64>,
    ) -> Result<(), ScimError> {
        match endpoint {
            "Users" => self
                .service
                .anonymise_user(who, parse_id(id)?, if_version)
                .map_err(failure),
            "Groups" => self
                .service
                .delete_role(who, parse_id(id)?, if_version)
                .map_err(failure),
            "Accounts" => self
                .service
                .delete_account(who, parse_id(id)?, if_version)
                .map_err(failure),
            other => Err(unknown_endpoint(other)),
        }
    }
}

/// The core Group schema as the directory keeps it: a role's name is unique in any case (a
/// second "Sales" is `409 uniqueness`), which RFC 7643's `none` for `displayName` would hide
/// from a client deciding whether to look before it creates.
fn group_schema() -> SchemaDef {
    let mut group = SchemaDef::core_group();
    for attribute in &mut group.attributes {
        if attribute.name == "displayName" {
            attribute.uniqueness = Uniqueness::Server;
        }
    }
    group
}

/// The Rollcall extension schemas and the Account resource schema (DESIGN §7).
fn schemas() -> Vec<SchemaDef> {
    use rollcall_scim::Mutability;
    let level = || {
        AttributeDef::string("level").canonical(&[
            "none",
            "private",
            "subordinates_direct",
            "subordinates_all",
            "team",
            "team_subordinates_direct",
            "team_subordinates_all",
            "all_employees",
            "account",
            "account_hierarchy",
            "all",
        ])
    };
    let actions = |entity: &str| {
        AttributeDef::complex(
            entity,
            ["read", "create", "edit", "delete"]
                .into_iter()
                .map(|a| {
                    let mut l = level();
                    l.name = a.into();
                    l
                })
                .collect(),
        )
    };
    let reference = |name: &str, description: &str| {
        AttributeDef::complex(
            name,
            vec![
                AttributeDef::string("value"),
                AttributeDef::string("display").read_only(),
                AttributeDef::reference("$ref", &["Account"]).read_only(),
            ],
        )
        .describe(description)
    };
    vec![
        SchemaDef::new(
            ROLLCALL_USER,
            "RollcallUser",
            "License, account and state of a Rollcall user",
            vec![
                AttributeDef::string("licenseType")
                    .canonical(&["employee", "partner", "customer"])
                    .describe("The license the user consumes while active"),
                reference("account", "The account a partner or customer belongs to"),
                AttributeDef::boolean("locked")
                    .describe("Locked after failed logins; write false to unlock"),
                AttributeDef::string("kind")
                    .canonical(&["person", "api", "bind", "system"])
                    .mutability(Mutability::Immutable),
                AttributeDef::date_time("lastLogin")
                    .read_only()
                    .describe("The last successful sign-in (LDAP bind or REST), to the minute"),
            ],
        ),
        SchemaDef::new(
            ROLLCALL_ROLE,
            "RollcallRole",
            "Role type, permissions and settings of a Rollcall role",
            vec![
                AttributeDef::string("roleType")
                    .canonical(&["employee", "partner", "customer", "guest"]),
                AttributeDef::boolean("administrator"),
                AttributeDef::complex(
                    "permissions",
                    vec![actions("user"), actions("role"), actions("account")],
                ),
                AttributeDef::complex(
                    "settings",
                    vec![
                        AttributeDef::integer("sessionTimeoutMinutes"),
                        AttributeDef::boolean("mfaRequired"),
                        AttributeDef::boolean("passwordLoginDisabled"),
                        AttributeDef::boolean("apiAccess"),
                        AttributeDef::string("description"),
                        AttributeDef::string("allowedNetworks").multi().describe(
                            "Where members may sign in from and use sessions, in CIDR \
                             notation; several roles' lists all apply",
                        ),
                    ],
                ),
            ],
        ),
        SchemaDef::new(
            ACCOUNT_SCHEMA,
            "Account",
            "An organisation of partner or customer users",
            vec![
                AttributeDef::string("name")
                    .required()
                    .uniqueness(Uniqueness::Server),
                AttributeDef::string("externalId").case_exact(),
                reference("parent", "The parent account"),
                AttributeDef::boolean("licensed"),
            ],
        ),
    ]
}

/// The extension schema of the declared custom attributes, if any are.
fn custom_schema(custom: &crate::model::CustomAttributes) -> Option<SchemaDef> {
    use crate::model::CustomType;
    if custom.attributes.is_empty() {
        return None;
    }
    let attributes = custom
        .attributes
        .iter()
        .map(|a| {
            let def = match a.kind {
                CustomType::String => AttributeDef::string(a.name.clone()),
                CustomType::Boolean => AttributeDef::boolean(a.name.clone()),
                CustomType::Integer => AttributeDef::integer(a.name.clone()),
                CustomType::Decimal => AttributeDef::decimal(a.name.clone()),
                CustomType::DateTime => AttributeDef::date_time(a.name.clone()),
            };
            let def = if a.multi_valued { def.multi() } else { def };
            match &a.description {
                Some(d) => def.describe(d.clone()),
                None => def,
            }
        })
        .collect();
    Some(SchemaDef::new(
        &custom.schema,
        "CustomUser",
        "Custom user attributes declared in [custom_attributes]",
        attributes,
    ))
}
