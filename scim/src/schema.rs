//! Schemas and resource types (RFC 7643 §2, §4, §6, §7) and the registry that answers "what is
//! this attribute?" for filters, projection and input validation.
//!
//! Attribute characteristics drive behaviour: `caseExact` decides how filters compare,
//! `returned` what projection keeps, `mutability` and `type` what writes may do. Keeping them
//! as data (not code paths per attribute) lets a provider's extensions behave like the core.

use serde_json::{Map, Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Reference => "reference",
            Self::Complex => "complex",
            Self::Binary => "binary",
        }
    }

    /// Types whose values are JSON strings, compared as text.
    pub fn is_textual(self) -> bool {
        matches!(self, Self::String | Self::Reference | Self::Binary)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute (or sub-attribute) definition, RFC 7643 §7.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, case-insensitive, readWrite attribute returned by default:
    /// the RFC 7643 §2.2 defaults.
    pub fn new(name: impl Into<String>, kind: AttrType) -> Self {
        Self {
            name: name.into(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::String)
    }
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Integer)
    }
    pub fn decimal(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Decimal)
    }
    pub fn date_time(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::DateTime)
    }
    pub fn binary(name: impl Into<String>) -> Self {
        Self::new(name, AttrType::Binary)
    }
    pub fn reference(name: impl Into<String>, types: &[&str]) -> Self {
        Self::new(name, AttrType::Reference).reference_types(types)
    }
    pub fn complex(name: impl Into<String>, subs: Vec<AttributeDef>) -> Self {
        let mut a = Self::new(name, AttrType::Complex);
        a.sub_attributes = subs;
        a
    }
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn reference_types(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn describe(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Sub-attribute by name; SCIM attribute names are case-insensitive (RFC 7643 §2.1).
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_complex(&self) -> bool {
        self.kind == AttrType::Complex
    }

    /// The RFC 7643 §7 representation, for `/Schemas`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.kind.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if self.kind != AttrType::Complex && self.kind != AttrType::Boolean {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        m.insert("mutability".into(), json!(self.mutability.as_str()));
        m.insert("returned".into(), json!(self.returned.as_str()));
        m.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        if !self.sub_attributes.is_empty() {
            m.insert(
                "subAttributes".into(),
                Value::Array(self.sub_attributes.iter().map(|a| a.to_json()).collect()),
            );
        }
        Value::Object(m)
    }
}

/// A schema (RFC 7643 §7): a URN and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        attributes: Vec<AttributeDef>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            attributes,
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` representation; `base_url` is the absolute URL of the SCIM root.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            }
        })
    }

    /// RFC 7643 §4.1 core User.
    pub fn core_user() -> Self {
        use AttributeDef as A;
        let typed = |subs: Vec<AttributeDef>, types: &[&str]| {
            let mut s = subs;
            s.push(A::string("display"));
            s.push(A::string("type").canonical(types));
            s.push(A::boolean("primary"));
            s
        };
        Self::new(
            USER_SCHEMA,
            "User",
            "User Account",
            vec![
                A::string("userName")
                    .required()
                    .uniqueness(Uniqueness::Server)
                    .describe("Unique identifier for the User, used to authenticate."),
                A::complex(
                    "name",
                    vec![
                        A::string("formatted"),
                        A::string("familyName"),
                        A::string("givenName"),
                        A::string("middleName"),
                        A::string("honorificPrefix"),
                        A::string("honorificSuffix"),
                    ],
                )
                .describe("The components of the user's real name."),
                A::string("displayName"),
                A::string("nickName"),
                A::reference("profileUrl", &["external"]),
                A::string("title"),
                A::string("userType"),
                A::string("preferredLanguage"),
                A::string("locale"),
                A::string("timezone"),
                A::boolean("active"),
                A::string("password")
                    .mutability(Mutability::WriteOnly)
                    .returned(Returned::Never)
                    .describe("The User's cleartext password; never returned."),
                A::complex(
                    "emails",
                    typed(vec![A::string("value")], &["work", "home", "other"]),
                )
                .multi(),
                A::complex(
                    "phoneNumbers",
                    typed(
                        vec![A::string("value")],
                        &["work", "home", "mobile", "fax", "pager", "other"],
                    ),
                )
                .multi(),
                A::complex(
                    "ims",
                    typed(
                        vec![A::string("value")],
                        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                    ),
                )
                .multi(),
                A::complex(
                    "photos",
                    typed(
                        vec![A::reference("value", &["external"])],
                        &["photo", "thumbnail"],
                    ),
                )
                .multi(),
                A::complex(
                    "addresses",
                    vec![
                        A::string("formatted"),
                        A::string("streetAddress"),
                        A::string("locality"),
                        A::string("region"),
                        A::string("postalCode"),
                        A::string("country"),
                        A::string("type").canonical(&["work", "home", "other"]),
                        A::boolean("primary"),
                    ],
                )
                .multi(),
                A::complex(
                    "groups",
                    vec![
                        A::string("value").read_only(),
                        A::reference("$ref", &["User", "Group"]).read_only(),
                        A::string("display").read_only(),
                        A::string("type")
                            .canonical(&["direct", "indirect"])
                            .read_only(),
                    ],
                )
                .multi()
                .read_only()
                .describe("Groups the user belongs to; managed through the Group resource."),
                A::complex("entitlements", typed(vec![A::string("value")], &[])).multi(),
                A::complex("roles", typed(vec![A::string("value")], &[])).multi(),
                A::complex("x509Certificates", typed(vec![A::binary("value")], &[])).multi(),
            ],
        )
    }

    /// RFC 7643 §4.2 core Group.
    pub fn core_group() -> Self {
        use AttributeDef as A;
        Self::new(
            GROUP_SCHEMA,
            "Group",
            "Group",
            vec![
                A::string("displayName").required(),
                A::complex(
                    "members",
                    vec![
                        A::string("value").mutability(Mutability::Immutable),
                        A::reference("$ref", &["User", "Group"]).mutability(Mutability::Immutable),
                        A::string("display"),
                        A::string("type")
                            .canonical(&["User", "Group"])
                            .mutability(Mutability::Immutable),
                    ],
                )
                .multi(),
            ],
        )
    }

    /// RFC 7643 §4.3 Enterprise User extension.
    pub fn enterprise_user() -> Self {
        use AttributeDef as A;
        Self::new(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            vec![
                A::string("employeeNumber"),
                A::string("costCenter"),
                A::string("organization"),
                A::string("division"),
                A::string("department"),
                A::complex(
                    "manager",
                    vec![
                        A::string("value"),
                        A::reference("$ref", &["User"]),
                        A::string("displayName").read_only(),
                    ],
                ),
            ],
        )
    }
}

/// Attributes every resource has (RFC 7643 §3.1), outside any schema's attribute list.
pub fn common_attributes() -> Vec<AttributeDef> {
    use AttributeDef as A;
    vec![
        A::string("id")
            .case_exact()
            .read_only()
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        A::string("externalId").case_exact(),
        A::complex(
            "meta",
            vec![
                A::string("resourceType").case_exact().read_only(),
                A::date_time("created").read_only(),
                A::date_time("lastModified").read_only(),
                A::reference("location", &["uri"]).case_exact().read_only(),
                A::string("version").case_exact().read_only(),
            ],
        )
        .read_only()
        .returned(Returned::Always),
    ]
}

/// A resource type (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTypeDef {
    pub id: String,
    pub name: String,
    /// As in discovery, with the leading slash (`/Users`); a bare name is accepted too.
    pub endpoint: String,
    pub description: String,
    /// The core schema URN.
    pub schema: String,
    /// Extension schema URNs and whether each is required.
    pub schema_extensions: Vec<(String, bool)>,
}

impl ResourceTypeDef {
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            id: name.clone(),
            description: name.clone(),
            name,
            endpoint: endpoint.into(),
            schema: schema.into(),
            schema_extensions: Vec::new(),
        }
    }

    pub fn with_extension(mut self, urn: impl Into<String>, required: bool) -> Self {
        self.schema_extensions.push((urn.into(), required));
        self
    }

    pub fn describe(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// The built-in `User` type with the Enterprise extension.
    pub fn user() -> Self {
        Self::new("User", "/Users", USER_SCHEMA)
            .describe("User Account")
            .with_extension(ENTERPRISE_USER_SCHEMA, false)
    }

    pub fn group() -> Self {
        Self::new("Group", "/Groups", GROUP_SCHEMA).describe("Group")
    }

    /// The endpoint without the leading slash, as [`crate::provider::Endpoint`] spells it.
    pub fn endpoint_name(&self) -> &str {
        self.endpoint.trim_start_matches('/')
    }

    pub fn has_extension(&self, urn: &str) -> bool {
        self.schema_extensions
            .iter()
            .any(|(u, _)| u.eq_ignore_ascii_case(urn))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.id,
            "name": self.name,
            "endpoint": format!("/{}", self.endpoint_name()),
            "description": self.description,
            "schema": self.schema,
            "schemaExtensions": self.schema_extensions.iter()
                .map(|(u, r)| json!({"schema": u, "required": r}))
                .collect::<Vec<_>>(),
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{}/ResourceTypes/{}", base_url.trim_end_matches('/'), self.id),
            }
        })
    }
}

/// Where an attribute lives and what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    /// The URN of the schema that defines it (`None` for the common attributes).
    pub schema: Option<&'a str>,
    /// True when the attribute lives in an extension object (`resource[schema][name]`).
    pub extension: bool,
    pub attr: &'a AttributeDef,
}

impl<'a> Resolved<'a> {
    /// The JSON key of the extension container, if the attribute lives in one.
    pub fn container(&self) -> Option<&'a str> {
        if self.extension { self.schema } else { None }
    }
}

/// The schemas and resource types in force: built-ins plus the provider's.
#[derive(Debug, Clone)]
pub struct Schemas {
    schemas: Vec<SchemaDef>,
    resource_types: Vec<ResourceTypeDef>,
    common: Vec<AttributeDef>,
}

impl Default for Schemas {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Schemas {
    /// Built-in schemas plus `extra` (a provider schema with a built-in id replaces it).
    /// With no resource types, the built-in User and Group types are used.
    pub fn new(extra: Vec<SchemaDef>, resource_types: Vec<ResourceTypeDef>) -> Self {
        let mut schemas = vec![
            SchemaDef::core_user(),
            SchemaDef::core_group(),
            SchemaDef::enterprise_user(),
        ];
        for s in extra {
            if let Some(existing) = schemas
                .iter_mut()
                .find(|b| b.id.eq_ignore_ascii_case(&s.id))
            {
                *existing = s;
            } else {
                schemas.push(s);
            }
        }
        let resource_types = if resource_types.is_empty() {
            vec![ResourceTypeDef::user(), ResourceTypeDef::group()]
        } else {
            resource_types
        };
        Self {
            schemas,
            resource_types,
            common: common_attributes(),
        }
    }

    pub fn builtin() -> Self {
        Self::new(Vec::new(), Vec::new())
    }

    pub fn schemas(&self) -> &[SchemaDef] {
        &self.schemas
    }

    pub fn resource_types(&self) -> &[ResourceTypeDef] {
        &self.resource_types
    }

    pub fn schema(&self, id: &str) -> Option<&SchemaDef> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// By name (`User`), id, or endpoint (`Users` or `/Users`), case-insensitively.
    pub fn resource_type(&self, key: &str) -> Option<&ResourceTypeDef> {
        let bare = key.trim_start_matches('/');
        self.resource_types.iter().find(|r| {
            r.endpoint_name().eq_ignore_ascii_case(bare)
                || r.name.eq_ignore_ascii_case(bare)
                || r.id.eq_ignore_ascii_case(bare)
        })
    }

    /// The resource type whose core schema is `urn` (e.g. the User type for `/Me`).
    pub fn resource_type_for_schema(&self, urn: &str) -> Option<&ResourceTypeDef> {
        self.resource_types
            .iter()
            .find(|r| r.schema.eq_ignore_ascii_case(urn))
    }

    pub fn common_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.common
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The extension schemas a resource type declares, in declaration order.
    pub fn extensions<'a>(
        &'a self,
        rt: &'a ResourceTypeDef,
    ) -> impl Iterator<Item = (&'a SchemaDef, bool)> + 'a {
        rt.schema_extensions
            .iter()
            .filter_map(|(u, req)| self.schema(u).map(|s| (s, *req)))
    }

    /// Whether a resource of this type has a top-level attribute that is immutable, whose
    /// value a PUT must then be checked against the stored one.
    pub fn has_immutables(&self, resource_type: &str) -> bool {
        let Some(rt) = self.resource_type(resource_type) else {
            return false;
        };
        self.schema(&rt.schema)
            .into_iter()
            .chain(self.extensions(rt).map(|(s, _)| s))
            .flat_map(|s| s.attributes.iter())
            .any(|d| d.mutability == Mutability::Immutable)
    }

    /// Whether `urn` names a schema of this resource type that lives in its own JSON object.
    pub fn extension_of<'a>(&'a self, resource_type: &str, urn: &str) -> Option<&'a SchemaDef> {
        let rt = self.resource_type(resource_type)?;
        if !rt.has_extension(urn) {
            return None;
        }
        self.schema(urn)
    }

    /// Resolves a top-level attribute of `resource_type`. With `urn`, only that schema is
    /// searched; without, the common attributes, then the core schema, then the extensions
    /// (an unqualified extension attribute is accepted because clients send them).
    pub fn resolve(
        &self,
        resource_type: &str,
        urn: Option<&str>,
        name: &str,
    ) -> Option<Resolved<'_>> {
        let rt = self.resource_type(resource_type)?;
        match urn {
            Some(u) if u.eq_ignore_ascii_case(&rt.schema) => {
                let s = self.schema(&rt.schema)?;
                let attr = s.attribute(name).or_else(|| self.common_attribute(name))?;
                Some(Resolved {
                    schema: Some(s.id.as_str()),
                    extension: false,
                    attr,
                })
            }
            Some(u) => {
                if !rt.has_extension(u) {
                    return None;
                }
                let s = self.schema(u)?;
                let attr = s.attribute(name)?;
                Some(Resolved {
                    schema: Some(s.id.as_str()),
                    extension: true,
                    attr,
                })
            }
            None => {
                if let Some(attr) = self.common_attribute(name) {
                    return Some(Resolved {
                        schema: None,
                        extension: false,
                        attr,
                    });
                }
                if let Some(s) = self.schema(&rt.schema)
                    && let Some(attr) = s.attribute(name)
                {
                    return Some(Resolved {
                        schema: Some(s.id.as_str()),
                        extension: false,
                        attr,
                    });
                }
                self.extensions(rt).find_map(|(s, _)| {
                    s.attribute(name).map(|attr| Resolved {
                        schema: Some(s.id.as_str()),
                        extension: true,
                        attr,
                    })
                })
            }
        }
    }

    /// Resolves `attr` or `attr.sub`, returning the top-level resolution and the definition of
    /// the leaf (the sub-attribute when given).
    pub fn resolve_leaf(
        &self,
        resource_type: &str,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<(Resolved<'_>, &AttributeDef)> {
        let r = self.resolve(resource_type, urn, name)?;
        match sub {
            None => Some((r, r.attr)),
            Some(s) => r.attr.sub(s).map(|leaf| (r, leaf)),
        }
    }

    /// Whether the resource type is described by the registry at all; when it is not, the
    /// crate treats its JSON as untyped (case-insensitive strings, no validation).
    pub fn knows(&self, resource_type: &str) -> bool {
        self.resource_type(resource_type)
            .and_then(|rt| self.schema(&rt.schema))
            .is_some()
    }
}

/// Case-insensitive lookup of a JSON object key, returning the key as stored.
pub fn find_key<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    if obj.contains_key(name) {
        return obj.get_key_value(name).map(|(k, _)| k.as_str());
    }
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| k.as_str())
}

/// Case-insensitive `get` on a JSON object.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    find_key(obj, name).and_then(|k| obj.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_case_insensitively_and_with_urn() {
        let s = Schemas::builtin();
        let r = s.resolve("Users", None, "USERNAME").expect("userName");
        assert_eq!(r.attr.name, "userName");
        assert!(!r.extension);
        let r = s
            .resolve("User", Some(ENTERPRISE_USER_SCHEMA), "manager")
            .expect("manager");
        assert!(r.extension);
        assert_eq!(r.container(), Some(ENTERPRISE_USER_SCHEMA));
        let r = s
            .resolve("/Users", None, "department")
            .expect("unqualified ext");
        assert!(r.extension);
        assert!(s.resolve("Groups", None, "department").is_none());
        let (_, leaf) = s
            .resolve_leaf("Users", Some(USER_SCHEMA), "emails", Some("VALUE"))
            .expect("emails.value");
        assert_eq!(leaf.name, "value");
        assert!(s.resolve("Users", None, "id").is_some());
    }

    #[test]
    fn password_is_never_returned() {
        let s = Schemas::builtin();
        let r = s.resolve("Users", None, "password").expect("password");
        assert_eq!(r.attr.returned, Returned::Never);
        assert_eq!(r.attr.mutability, Mutability::WriteOnly);
    }

    #[test]
    fn provider_schema_replaces_builtin() {
        let custom = SchemaDef::new(GROUP_SCHEMA, "Group", "", vec![AttributeDef::string("x")]);
        let s = Schemas::new(vec![custom], vec![]);
        assert!(s.resolve("Groups", None, "x").is_some());
        assert!(s.resolve("Groups", None, "members").is_none());
    }
}
