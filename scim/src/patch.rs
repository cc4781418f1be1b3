//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying it to a SCIM resource,
//! all operations or none.
//!
//! Beyond the RFC, this follows what Okta and Microsoft Entra ID are documented to send:
//! capitalised op names, string booleans, path-less values with dotted or URN keys,
//! value-filtered paths that must create the missing entry, member removal as a value list,
//! Okta's `id` inside a Group `replace` value, and the enterprise `manager` as a bare id.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::input::{
    canonicalize_key, coerce, coerce_single, not_an_attribute, present, unknown_attribute,
};
use crate::path::{AttrPath, PatchPath};
use crate::provider::MemberChanges;
use crate::schema::{AttributeDef, GROUP_SCHEMA, Mutability, Resolved, Schemas, find_key, get_ci};

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

impl OpKind {
    /// Op names in any case: Entra sends `Add`, `Replace`, `Remove`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "add" => Some(Self::Add),
            "replace" => Some(Self::Replace),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    /// Parses a PatchOp body. Structure errors are 400 `invalidSyntax`/`invalidValue`, bad paths
    /// 400 `invalidPath`, `remove` without a path 400 `noTarget`.
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a PatchOp request must be a JSON object"))?;
        let has_schema = get_ci(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                })
            });
        if !has_schema {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain \"{PATCH_OP_SCHEMA}\""
            )));
        }
        let ops = get_ci(obj, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be an array"))?;
        if ops.is_empty() {
            return Err(ScimError::invalid_value("'Operations' is empty"));
        }
        let mut operations = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let o = op.as_object().ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {i} must be a JSON object"))
            })?;
            let name = get_ci(o, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| ScimError::invalid_syntax(format!("operation {i} has no 'op'")))?;
            let kind = OpKind::parse(name).ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "operation {i}: unknown op '{name}' (add, replace or remove)"
                ))
            })?;
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p.trim())?),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "operation {i}: 'path' must be a string"
                    )));
                }
            };
            let value = get_ci(o, "value").cloned();
            match kind {
                OpKind::Remove if path.is_none() => {
                    return Err(ScimError::no_target(format!(
                        "operation {i}: 'remove' needs a 'path'"
                    )));
                }
                OpKind::Add | OpKind::Replace if value.is_none() => {
                    return Err(ScimError::invalid_value(format!(
                        "operation {i}: '{name}' needs a 'value'"
                    )));
                }
                _ => {}
            }
            operations.push(PatchOperation {
                op: kind,
                path,
                value,
            });
        }
        Ok(Self { operations })
    }

    /// The request as member additions and removals, when that is all it does: `add` of
    /// `members` with member objects, and `remove` of `members` with member objects (Entra ID)
    /// or of `members[value eq "…"]` (Okta). `members` is the Group schema's attribute. Anything
    /// else is `None`, and so is a request whose outcome the changes could not give exactly:
    /// a replace, a removal of every member, another attribute, a member object the schema
    /// refuses (the whole-resource PATCH says why), or a member both added and removed (there
    /// the order of the operations decides).
    pub fn member_changes(&self, members: &AttributeDef) -> Option<MemberChanges> {
        let value_def = members.sub("value")?;
        let mut changes = MemberChanges::default();
        // What each value was compared as by the whole-resource PATCH, and in the widest of
        // those comparisons, to find a member both added and removed.
        let mut removed_loosely = Vec::new();
        for op in &self.operations {
            let path = op.path.as_ref()?;
            let attr = &path.attr;
            if !attr.name.eq_ignore_ascii_case(&members.name)
                || attr.sub.is_some()
                || path.filter_sub.is_some()
                || attr
                    .urn
                    .as_deref()
                    .is_some_and(|urn| !urn.eq_ignore_ascii_case(GROUP_SCHEMA))
            {
                return None;
            }
            match (op.op, &path.filter, &op.value) {
                (OpKind::Add, None, Some(value)) => {
                    let Value::Array(added) =
                        coerce(members, value.clone(), "members", true).ok()??
                    else {
                        return None;
                    };
                    for member in added {
                        let member = member.as_object()?;
                        let mut canonical = Map::new();
                        canonical.insert("value".into(), get_ci(member, "value")?.as_str()?.into());
                        if let Some(kind) = get_ci(member, "type").filter(|t| !t.is_null()) {
                            canonical.insert("type".into(), kind.as_str()?.into());
                        }
                        changes.add.push(Value::Object(canonical));
                    }
                }
                // As `set_whole` compares a value list: the `value`s, ASCII case aside.
                (OpKind::Remove, None, Some(value)) => {
                    let listed = match value {
                        Value::Array(items) => items.as_slice(),
                        Value::Object(_) => std::slice::from_ref(value),
                        _ => return None,
                    };
                    for member in listed {
                        let v = get_ci(member.as_object()?, "value")?.as_str()?;
                        removed_loosely.push(loose(v));
                        changes.remove.push(if value_def.case_exact {
                            v.to_owned()
                        } else {
                            v.to_ascii_lowercase()
                        });
                    }
                }
                // As the filter compares a string equality.
                (OpKind::Remove, Some(filter), None) => {
                    let v = value_equality(filter)?;
                    removed_loosely.push(loose(v));
                    changes.remove.push(if value_def.case_exact {
                        v.to_owned()
                    } else {
                        loose(v)
                    });
                }
                _ => return None,
            }
        }
        let both = changes.add.iter().any(|m| {
            m["value"]
                .as_str()
                .is_some_and(|v| removed_loosely.contains(&loose(v)))
        });
        (!both).then_some(changes)
    }

    /// Applies every operation to a copy of `resource`; the first failure aborts and the
    /// caller's resource is untouched.
    pub fn apply(
        &self,
        resource: &Value,
        schemas: &Schemas,
        resource_type: &str,
    ) -> Result<Value, ScimError> {
        let mut doc = match resource {
            Value::Object(o) => o.clone(),
            _ => return Err(ScimError::internal("the resource is not a JSON object")),
        };
        if !schemas.knows(resource_type) {
            return Err(ScimError::invalid_path(format!(
                "resource type '{resource_type}' has no schema to patch against"
            )));
        }
        let id = get_ci(&doc, "id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let p = Patcher {
            schemas,
            rt: resource_type,
            id,
        };
        for op in &self.operations {
            p.apply_op(&mut doc, op)?;
        }
        p.finish(&mut doc)?;
        Ok(Value::Object(doc))
    }
}

/// Parses and applies in one step.
pub fn apply_patch(
    resource: &Value,
    body: &Value,
    schemas: &Schemas,
    resource_type: &str,
) -> Result<Value, ScimError> {
    PatchRequest::parse(body)?.apply(resource, schemas, resource_type)
}

struct Patcher<'a> {
    schemas: &'a Schemas,
    rt: &'a str,
    id: Option<String>,
}

/// What a path addresses once resolved against the schema.
enum Target<'a> {
    /// A whole extension object (`urn:…:enterprise:2.0:User`).
    Extension(&'a str),
    Attr(Resolved<'a>),
}

impl<'a> Patcher<'a> {
    fn apply_op(&self, doc: &mut Map<String, Value>, op: &PatchOperation) -> Result<(), ScimError> {
        match &op.path {
            Some(path) => self.apply_path(doc, op.op, path, op.value.clone()),
            None => {
                // Path-less add/replace: the value's keys are attribute paths (RFC 7644
                // §3.5.2.1/3, plus Entra's dotted and URN-qualified keys).
                let Some(Value::Object(obj)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an operation without 'path' needs an object 'value'",
                    ));
                };
                for (key, v) in obj {
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let path = if let Some(ext) = self.schemas.extension_of(self.rt, key) {
                        PatchPath {
                            attr: ext_as_path(&ext.id),
                            filter: None,
                            filter_sub: None,
                        }
                    } else {
                        PatchPath::parse(key).map_err(|_| self.unknown_key(key))?
                    };
                    self.apply_path(doc, op.op, &path, Some(v.clone()))
                        .map_err(in_value)?;
                }
                Ok(())
            }
        }
    }

    fn resolve(&self, path: &AttrPath) -> Result<Target<'a>, ScimError> {
        if let Some(urn) = path.as_schema_urn()
            && let Some(ext) = self.schemas.extension_of(self.rt, &urn)
        {
            return Ok(Target::Extension(ext.id.as_str()));
        }
        self.schemas
            .resolve(self.rt, path.urn.as_deref(), &path.name)
            .map(Target::Attr)
            .ok_or_else(|| {
                ScimError::invalid_path(not_an_attribute(self.schemas, self.rt, &path.to_string()))
            })
    }

    /// A key of a value that names no attribute: a wrong value, as in a POST body.
    fn unknown_key(&self, key: &str) -> ScimError {
        unknown_attribute(self.schemas, self.rt, key)
    }

    fn apply_path(
        &self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        path: &PatchPath,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        let r = match self.resolve(&path.attr)? {
            Target::Extension(urn) => return self.apply_extension(doc, op, urn, value),
            Target::Attr(r) => r,
        };
        let def = r.attr;
        let sub_def = match path.sub() {
            Some(s) => Some(def.sub(s).ok_or_else(|| {
                let path = format!("{}.{s}", def.name);
                ScimError::invalid_path(not_an_attribute(self.schemas, self.rt, &path))
            })?),
            None => None,
        };
        self.check_mutability(doc, op, &r, sub_def, path, value.as_ref())?;
        if def.mutability == Mutability::ReadOnly {
            // Only reached for Okta's `id` equal to the current one: nothing to do.
            return Ok(());
        }
        let before = container(doc, r.container())
            .and_then(|c| get_ci(c, &def.name))
            .cloned();
        let Some(c) = container_mut(doc, r.container(), op != OpKind::Remove) else {
            return Ok(());
        };
        canonicalize_key(c, &def.name);
        match (&path.filter, sub_def) {
            (None, None) => self.set_whole(c, op, def, value)?,
            (None, Some(sub)) => self.set_sub(c, op, def, sub, value)?,
            (Some(filter), sub) => self.set_filtered(c, op, def, filter, sub, value)?,
        }
        if def.mutability == Mutability::Immutable
            && before.as_ref().is_some_and(present)
            && c.get(&def.name) != before.as_ref()
        {
            return Err(ScimError::mutability(format!(
                "'{}' is immutable",
                def.name
            )));
        }
        Ok(())
    }

    fn check_mutability(
        &self,
        doc: &Map<String, Value>,
        op: OpKind,
        r: &Resolved<'_>,
        sub_def: Option<&AttributeDef>,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let def = r.attr;
        if def.mutability == Mutability::ReadOnly {
            // Okta sends the Group's own `id` inside a replace value; tolerate it unchanged.
            let same_id = def.name == "id"
                && op != OpKind::Remove
                && path.filter.is_none()
                && path.sub().is_none()
                && matches!((value, &self.id), (Some(Value::String(v)), Some(id)) if v == id);
            if same_id {
                return Ok(());
            }
            return Err(ScimError::mutability(format!(
                "'{}' is read-only",
                def.name
            )));
        }
        if let Some(sub) = sub_def
            && sub.mutability == Mutability::ReadOnly
        {
            return Err(ScimError::mutability(format!(
                "'{}.{}' is read-only",
                def.name, sub.name
            )));
        }
        if op == OpKind::Remove && def.required && path.filter.is_none() && sub_def.is_none() {
            let has = container(doc, r.container())
                .and_then(|c| get_ci(c, &def.name))
                .is_some();
            if has {
                return Err(ScimError::mutability(format!(
                    "'{}' is required and cannot be removed",
                    def.name
                )));
            }
        }
        Ok(())
    }

    fn apply_extension(
        &self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        urn: &str,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        match op {
            OpKind::Remove => {
                if let Some(k) = find_key(doc, urn).map(str::to_string) {
                    doc.remove(&k);
                }
                Ok(())
            }
            OpKind::Add | OpKind::Replace => {
                let obj = match value {
                    Some(Value::Object(o)) => o,
                    Some(Value::Null) | None => {
                        if op == OpKind::Replace
                            && let Some(k) = find_key(doc, urn).map(str::to_string)
                        {
                            doc.remove(&k);
                        }
                        return Ok(());
                    }
                    Some(_) => {
                        return Err(ScimError::invalid_value(format!(
                            "the value for '{urn}' must be an object"
                        )));
                    }
                };
                for (k, v) in obj {
                    let key = format!("{urn}:{k}");
                    let path = PatchPath::parse(&key).map_err(|_| self.unknown_key(&key))?;
                    self.apply_path(doc, op, &path, Some(v)).map_err(in_value)?;
                }
                Ok(())
            }
        }
    }

    /// `attr` with no filter and no sub-attribute.
    fn set_whole(
        &self,
        c: &mut Map<String, Value>,
        op: OpKind,
        def: &AttributeDef,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        let name = def.name.as_str();
        if op == OpKind::Remove {
            match (value, def.multi_valued) {
                // Entra removes members as `path: "members"` with the values to drop.
                (Some(v), true) if !v.is_null() => {
                    let gone: Vec<Value> = match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    if let Some(Value::Array(items)) = c.get_mut(name) {
                        items.retain(|el| !gone.iter().any(|g| same_value(el, g, def)));
                        if items.is_empty() {
                            c.remove(name);
                        }
                    }
                }
                _ => {
                    c.remove(name);
                }
            }
            return Ok(());
        }
        let raw_is_object = matches!(value, Some(Value::Object(_)));
        let new = match value {
            Some(v) => coerce(def, v, name, true)?,
            None => None,
        };
        let Some(new) = new else {
            c.remove(name);
            return Ok(());
        };
        if def.multi_valued {
            let items = match new {
                Value::Array(items) => items,
                other => vec![other],
            };
            if op == OpKind::Replace {
                if items.is_empty() {
                    c.remove(name);
                } else {
                    let mut items = items;
                    fix_primary(&mut items, None);
                    c.insert(name.to_string(), Value::Array(items));
                }
                return Ok(());
            }
            let existing = c
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !existing.is_array() {
                *existing = Value::Array(Vec::new());
            }
            if let Value::Array(list) = existing {
                for item in items {
                    // A value already there takes the sub-attributes sent with it (`primary`
                    // included): adding `{"value":"a@x","primary":true}` makes it primary.
                    let at = match list.iter().position(|el| same_value(el, &item, def)) {
                        Some(at) => {
                            if let (Value::Object(el), Value::Object(sent)) = (&mut list[at], item)
                            {
                                for (k, v) in sent {
                                    el.insert(k, v);
                                }
                            }
                            at
                        }
                        None => {
                            list.push(item);
                            list.len() - 1
                        }
                    };
                    fix_primary(list, Some(at));
                }
                if list.is_empty() {
                    c.remove(name);
                }
            }
            return Ok(());
        }
        if def.is_complex()
            && raw_is_object
            && let (Some(Value::Object(old)), Value::Object(patch)) = (c.get_mut(name), &new)
        {
            // RFC 7644 §3.5.2.1/3: sub-attributes not given are left unchanged, unless the value
            // names another referent (a different `value`), which makes the rest stale.
            let other_referent = match (get_ci(old, "value"), patch.get("value")) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            if !other_referent {
                for (k, v) in patch {
                    old.insert(k.clone(), v.clone());
                }
                return Ok(());
            }
        }
        c.insert(name.to_string(), new);
        Ok(())
    }

    /// `attr.sub`: on a single complex attribute, or on every value of a multi-valued one.
    fn set_sub(
        &self,
        c: &mut Map<String, Value>,
        op: OpKind,
        def: &AttributeDef,
        sub: &AttributeDef,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        let name = def.name.as_str();
        let label = format!("{name}.{}", sub.name);
        let new = match (op, value) {
            (OpKind::Remove, _) | (_, None) => None,
            (_, Some(v)) => coerce(sub, v, &label, false)?,
        };
        if def.multi_valued {
            let list = c
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            if let Value::Array(items) = list {
                if items.is_empty()
                    && let Some(v) = &new
                {
                    let mut el = Map::new();
                    el.insert(sub.name.clone(), v.clone());
                    items.push(Value::Object(el));
                } else {
                    for el in items.iter_mut() {
                        set_in_element(el, sub, new.clone());
                    }
                    items.retain(|el| el.as_object().is_some_and(|o| !o.is_empty()));
                    dedup_values(items, def);
                }
                if items.is_empty() {
                    c.remove(name);
                }
            }
            return Ok(());
        }
        match c.get_mut(name) {
            Some(el @ Value::Object(_)) => set_in_element(el, sub, new),
            _ => {
                if let Some(v) = new {
                    let mut el = Map::new();
                    el.insert(sub.name.clone(), v);
                    c.insert(name.to_string(), Value::Object(el));
                }
            }
        }
        if c.get(name)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            c.remove(name);
        }
        Ok(())
    }

    /// `attr[filter]` and `attr[filter].sub`.
    fn set_filtered(
        &self,
        c: &mut Map<String, Value>,
        op: OpKind,
        def: &AttributeDef,
        filter: &Filter,
        sub: Option<&AttributeDef>,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        let name = def.name.as_str();
        if !def.multi_valued || !def.is_complex() {
            return Err(ScimError::no_target(format!(
                "'{name}' is not a multi-valued complex attribute; a value filter cannot select in it"
            )));
        }
        let label = match sub {
            Some(s) => format!("{name}.{}", s.name),
            None => name.to_string(),
        };
        let new = match (op, value, sub) {
            (OpKind::Remove, _, _) | (_, None, _) => None,
            (_, Some(v), Some(s)) => coerce(s, v, &label, false)?,
            (_, Some(v), None) => coerce_single(def, v, &label)?,
        };
        let mut items = match c.remove(name) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        let matched: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, el)| filter.matches_element(el, Some(def), self.schemas, self.rt))
            .map(|(i, _)| i)
            .collect();
        let result = (|| {
            match op {
                OpKind::Remove => {
                    match sub {
                        Some(s) => {
                            for &i in &matched {
                                if let Some(el) = items.get_mut(i) {
                                    set_in_element(el, s, None);
                                }
                            }
                            items.retain(|el| el.as_object().is_some_and(|o| !o.is_empty()));
                        }
                        None => {
                            let mut i = 0;
                            items.retain(|_| {
                                let keep = !matched.contains(&i);
                                i += 1;
                                keep
                            });
                        }
                    }
                    Ok(())
                }
                OpKind::Add | OpKind::Replace => {
                    if matched.is_empty() {
                        // Entra: a value-filtered path with no matching value creates it,
                        // taking the filter's equalities (e.g. `type`) as its sub-attributes.
                        let Some(mut el) = creatable(filter, def) else {
                            return Err(ScimError::no_target(format!(
                                "no value of '{name}' matches [{filter}]"
                            )));
                        };
                        match (sub, new) {
                            (Some(s), Some(v)) => {
                                el.insert(s.name.clone(), v);
                            }
                            (None, Some(Value::Object(o))) => el.extend(o),
                            _ => return Ok(()),
                        }
                        items.push(Value::Object(el));
                        let last = items.len() - 1;
                        fix_primary(&mut items, Some(last));
                        return Ok(());
                    }
                    for &i in &matched {
                        let Some(el) = items.get_mut(i) else { continue };
                        match (sub, &new) {
                            (Some(s), v) => set_in_element(el, s, v.clone()),
                            (None, Some(Value::Object(o))) => {
                                if op == OpKind::Replace {
                                    let mut fresh = creatable(filter, def).unwrap_or_default();
                                    fresh.extend(o.clone());
                                    *el = Value::Object(fresh);
                                } else if let Value::Object(target) = el {
                                    target.extend(o.clone());
                                }
                            }
                            (None, _) => {}
                        }
                    }
                    items.retain(|el| el.as_object().is_some_and(|o| !o.is_empty()));
                    if let Some(&first) = matched.first()
                        && items
                            .get(first)
                            .and_then(Value::as_object)
                            .and_then(|o| o.get("primary"))
                            == Some(&Value::Bool(true))
                    {
                        fix_primary(&mut items, Some(first));
                    }
                    Ok(())
                }
            }
        })();
        if !items.is_empty() {
            c.insert(name.to_string(), Value::Array(items));
        }
        result
    }

    /// Final consistency: `schemas` lists exactly the extensions present; required attributes
    /// survive.
    fn finish(&self, doc: &mut Map<String, Value>) -> Result<(), ScimError> {
        let Some(rt) = self.schemas.resource_type(self.rt) else {
            return Ok(());
        };
        let mut list: Vec<Value> = match get_ci(doc, "schemas") {
            Some(Value::Array(a)) => a.clone(),
            _ => vec![Value::String(rt.schema.clone())],
        };
        for (ext, _) in self.schemas.extensions(rt) {
            let key = find_key(doc, &ext.id).map(str::to_string);
            let non_empty = key
                .as_ref()
                .and_then(|k| doc.get(k))
                .and_then(Value::as_object)
                .is_some_and(|o| !o.is_empty());
            if let (Some(k), false) = (&key, non_empty) {
                doc.remove(k);
            }
            let listed = list
                .iter()
                .position(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&ext.id)));
            match (non_empty, listed) {
                (true, None) => list.push(Value::String(ext.id.clone())),
                (false, Some(i)) => {
                    list.remove(i);
                }
                _ => {}
            }
        }
        if let Some(k) = find_key(doc, "schemas").map(str::to_string) {
            doc.remove(&k);
        }
        doc.insert("schemas".into(), Value::Array(list));
        if let Some(core) = self.schemas.schema(&rt.schema) {
            for def in core.attributes.iter().filter(|d| d.required) {
                if !get_ci(doc, &def.name).is_some_and(present) {
                    return Err(ScimError::invalid_value(format!(
                        "attribute '{}' is required",
                        def.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// An error about a name that came as a key of an operation's value rather than as its `path`:
/// an attribute that does not exist is then a wrong value (`invalidValue`, as in a POST or
/// PUT body), not a wrong path.
fn in_value(e: ScimError) -> ScimError {
    if e.scim_type == Some(ScimType::InvalidPath) {
        ScimError::invalid_value(e.detail)
    } else {
        e
    }
}

fn ext_as_path(urn: &str) -> AttrPath {
    match urn.rfind(':') {
        Some(i) => AttrPath::new(&urn[i + 1..]).with_urn(&urn[..i]),
        None => AttrPath::new(urn),
    }
}

fn container<'m>(doc: &'m Map<String, Value>, urn: Option<&str>) -> Option<&'m Map<String, Value>> {
    match urn {
        None => Some(doc),
        Some(u) => get_ci(doc, u).and_then(Value::as_object),
    }
}

fn container_mut<'m>(
    doc: &'m mut Map<String, Value>,
    urn: Option<&str>,
    create: bool,
) -> Option<&'m mut Map<String, Value>> {
    let Some(u) = urn else { return Some(doc) };
    canonicalize_key(doc, u);
    if create {
        let slot = doc
            .entry(u.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
    }
    doc.get_mut(u).and_then(Value::as_object_mut)
}

/// Sets (or with `None` removes) sub-attribute `sub` of a complex value.
fn set_in_element(el: &mut Value, sub: &AttributeDef, v: Option<Value>) {
    let Value::Object(o) = el else { return };
    if let Some(k) = find_key(o, &sub.name).map(str::to_string) {
        o.remove(&k);
    }
    if let Some(v) = v {
        o.insert(sub.name.clone(), v);
    }
}

/// Two values of a multi-valued attribute are the same value when their `value`
/// sub-attributes are equal (honouring caseExact), or, without one, when they are equal.
fn same_value(a: &Value, b: &Value, def: &AttributeDef) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(Value::String(p)), Some(Value::String(q))) => {
                let exact = def.sub("value").is_some_and(|d| d.case_exact);
                if exact {
                    p == q
                } else {
                    p.eq_ignore_ascii_case(q)
                }
            }
            (Some(p), Some(q)) => p == q,
            (None, None) => x == y,
            _ => false,
        },
        (Value::Object(x), Value::String(s)) | (Value::String(s), Value::Object(x)) => {
            get_ci(x, "value").and_then(Value::as_str) == Some(s.as_str())
        }
        _ => a == b,
    }
}

/// One entry per value (RFC 7643 §2.4 lets a provider remove duplicates): after `emails.value`
/// is set on every entry, the first keeps it (primary if any of them was).
fn dedup_values(items: &mut Vec<Value>, def: &AttributeDef) {
    let mut kept: Vec<Value> = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        match kept.iter_mut().find(|k| same_value(k, &item, def)) {
            Some(first) => {
                if is_primary(Some(&item))
                    && let Value::Object(o) = first
                {
                    o.insert("primary".into(), Value::Bool(true));
                }
            }
            None => kept.push(item),
        }
    }
    *items = kept;
}

/// Only one value may be `primary` (RFC 7643 §2.4): the newest primary wins.
fn fix_primary(items: &mut [Value], winner: Option<usize>) {
    let winner = winner
        .filter(|&i| is_primary(items.get(i)))
        .or_else(|| items.iter().rposition(|v| is_primary(Some(v))));
    let Some(w) = winner else { return };
    for (i, el) in items.iter_mut().enumerate() {
        if i != w
            && let Value::Object(o) = el
            && o.get("primary") == Some(&Value::Bool(true))
        {
            o.insert("primary".into(), Value::Bool(false));
        }
    }
}

fn is_primary(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).and_then(|o| o.get("primary")) == Some(&Value::Bool(true))
}

/// The value a filter describes, when it is only `eq` comparisons joined by `and` on
/// sub-attributes of `def`: the entry to create for `emails[type eq "work"].value`.
fn creatable(filter: &Filter, def: &AttributeDef) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(f: &Filter, def: &AttributeDef, out: &mut Map<String, Value>) -> bool {
        match f {
            Filter::And(a, b) => walk(a, def, out) && walk(b, def, out),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub.is_none() && path.urn.is_none() && *value != CompValue::Null => {
                let Some(sub) = def.sub(&path.name) else {
                    return false;
                };
                match coerce_single(sub, value.to_json(), &sub.name) {
                    Ok(Some(v)) => {
                        out.insert(sub.name.clone(), v);
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
    walk(filter, def, &mut out).then_some(out)
}

/// A member value as the filter's equality of a string that is not case-exact reads it, the
/// loosest comparison the whole-resource PATCH makes of a member value.
fn loose(value: &str) -> String {
    crate::filter::fold(value.trim())
}

/// The `…` of a `value eq "…"` filter.
fn value_equality(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            value.as_str()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "id": "u1",
            "userName": "bjensen",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@work", "type": "work", "primary": true}],
            "groups": [{"value": "g1"}],
            "meta": {"resourceType": "User", "version": "W/\"1\""}
        })
    }

    fn group() -> Value {
        json!({
            "schemas": [GROUP_SCHEMA],
            "id": "g1",
            "displayName": "Sales",
            "members": [{"value": "u1"}, {"value": "u2"}]
        })
    }

    fn ops(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
    }

    fn run(res: &Value, rt: &str, o: Value) -> Result<Value, ScimError> {
        apply_patch(res, &ops(o), &Schemas::builtin(), rt)
    }

    #[test]
    fn op_names_any_case_and_string_booleans() {
        let out = run(
            &user(),
            "Users",
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .expect("ok");
        assert_eq!(out["active"], false);
        let out = run(
            &user(),
            "Users",
            json!([{"op": "REPLACE", "value": {"active": "True"}}]),
        )
        .expect("ok");
        assert_eq!(out["active"], true);
        let e = run(
            &user(),
            "Users",
            json!([{"op": "frobnicate", "path": "active", "value": true}]),
        )
        .expect_err("bad op");
        assert_eq!(e.status, 400);
    }

    #[test]
    fn adding_a_value_already_there_takes_what_is_sent_with_it() {
        let two = json!({"schemas": [USER_SCHEMA], "userName": "q", "emails": [
            {"value": "q1@x.com", "type": "work", "primary": false},
            {"value": "q2@x.com", "type": "home", "primary": true},
        ]});
        let out = run(
            &two,
            "Users",
            json!([{"op": "add", "path": "emails", "value": [{"value": "Q1@x.com", "primary": true}]}]),
        )
        .expect("ok");
        let emails = out["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 2, "{out}");
        assert_eq!(emails[0]["primary"], true, "{out}");
        assert_eq!(emails[0]["type"], "work", "{out}");
        assert_eq!(emails[1]["primary"], false, "{out}");
        // Setting a sub-attribute on every entry leaves one entry per value.
        let out = run(
            &two,
            "Users",
            json!([{"op": "replace", "path": "emails.value", "value": "same@x.com"}]),
        )
        .expect("ok");
        let emails = out["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 1, "{out}");
        assert_eq!(emails[0]["value"], "same@x.com");
        assert_eq!(emails[0]["primary"], true, "{out}");
    }

    #[test]
    fn pathless_dotted_and_urn_keys() {
        let out = run(
            &user(),
            "Users",
            json!([{"op": "Add", "value": {
                "name.givenName": "Babs",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tour",
                ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42"}
            }}]),
        )
        .expect("ok");
        assert_eq!(out["name"]["givenName"], "Babs");
        assert_eq!(out["name"]["familyName"], "Jensen");
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["department"], "Tour");
        assert_eq!(out[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "42");
        assert!(
            out["schemas"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(ENTERPRISE_USER_SCHEMA)))
        );
    }

    #[test]
    fn filtered_paths_create_and_merge() {
        let out = run(
            &user(),
            "Users",
            json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Town"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].Value", "value": "555"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work"}
            ]),
        )
        .expect("ok");
        assert_eq!(
            out["addresses"],
            json!([{"type": "work", "streetAddress": "1 Main", "locality": "Town"}])
        );
        assert_eq!(
            out["phoneNumbers"],
            json!([{"type": "mobile", "value": "555"}])
        );
        assert_eq!(out["emails"].as_array().map(Vec::len), Some(1));
        assert_eq!(out["emails"][0]["value"], "new@work");
    }

    #[test]
    fn members_add_remove_forms() {
        let g = group();
        let out = run(&g, "Groups", json!([
            {"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3", "$ref": null}]},
            {"op": "remove", "path": "members[value eq \"u1\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "u2"}]},
            {"op": "remove", "path": "members[value eq \"nobody\"]"}
        ]))
        .expect("ok");
        assert_eq!(out["members"], json!([{"value": "u3"}]));
        let out = run(
            &g,
            "Groups",
            json!([{"op": "add", "path": "members", "value": []}]),
        );
        assert_eq!(
            out.expect("ok")["members"],
            g["members"],
            "an add of no members"
        );
    }

    #[test]
    fn member_only_requests_are_told_apart() {
        let schemas = Schemas::builtin();
        let members = schemas
            .schema(GROUP_SCHEMA)
            .unwrap()
            .attributes
            .iter()
            .find(|a| a.name == "members")
            .unwrap();
        let changes = |ops: Value| {
            PatchRequest::parse(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops}))
                .unwrap()
                .member_changes(members)
        };
        let got = changes(json!([
            {"op": "Add", "path": "members", "value": [{"Value": "a", "$ref": null, "display": "A"}]},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": {"value": "b", "type": "User"}},
            {"op": "remove", "path": "members[value eq \" C\u{FF10} \"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "D"}]},
        ]))
        .unwrap();
        assert_eq!(
            got.add,
            vec![json!({"value": "a"}), json!({"value": "b", "type": "User"})]
        );
        // As the filter compares (spaces around, case, NFKC) and as a value list does (ASCII
        // case only).
        assert_eq!(got.remove, vec!["c0".to_string(), "d".to_string()]);
        let got = changes(json!([
            {"op": "Remove", "path": "members", "value": [{"value": " E\u{FF10}"}]},
        ]))
        .unwrap();
        assert_eq!(got.remove, vec![" e\u{FF10}".to_string()]);
        for ops in [
            json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
            json!([{"op": "remove", "path": "members"}]),
            json!([{"op": "remove", "path": "members[display eq \"A\"]"}]),
            json!([{"op": "remove", "path": "members[value co \"a\"]"}]),
            json!([{"op": "remove", "path": "members[value eq \"a\"].display"}]),
            json!([{"op": "add", "path": "members", "value": [{"display": "no value"}]}]),
            json!([{"op": "add", "path": "members", "value": ["a"]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a", "type": 3}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a", "bogus": 1}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a", "$ref": 5}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a", "display": 5}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": " A "}]},
                   {"op": "remove", "path": "members", "value": [{"value": "a"}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}]},
                   {"op": "replace", "path": "displayName", "value": "x"}]),
            json!([{"op": "add", "value": {"members": [{"value": "a"}]}}]),
            json!([{"op": "add", "path": "urn:other:Group:members", "value": [{"value": "a"}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}]},
                   {"op": "remove", "path": "members[value eq \"A\"]"}]),
            json!([{"op": "remove", "path": "members", "value": [{"value": "a"}]},
                   {"op": "add", "path": "members", "value": [{"value": "a"}]}]),
        ] {
            assert_eq!(changes(ops.clone()), None, "{ops}");
        }
    }

    #[test]
    fn okta_group_replace_with_id() {
        let out = run(&group(), "Groups", json!([
            {"op": "replace", "value": {"id": "g1", "displayName": "New", "members": [{"value": "u9", "display": "x"}]}}
        ]))
        .expect("ok");
        assert_eq!(out["displayName"], "New");
        assert_eq!(out["members"], json!([{"value": "u9", "display": "x"}]));
        let e = run(
            &group(),
            "Groups",
            json!([{"op": "replace", "value": {"id": "other"}}]),
        )
        .expect_err("id change");
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
    }

    #[test]
    fn manager_as_plain_id() {
        let out = run(
            &user(),
            "Users",
            json!([
                {"op": "Add", "path": format!("{ENTERPRISE_USER_SCHEMA}:manager"), "value": "m1"}
            ]),
        )
        .expect("ok");
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "m1"})
        );
    }

    #[test]
    fn errors() {
        let cases = [
            (json!([{"op": "remove"}]), ScimType::NoTarget),
            (
                json!([{"op": "replace", "path": "groups", "value": []}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "replace", "path": "meta.version", "value": "x"}]),
                ScimType::Mutability,
            ),
            (
                json!([{"op": "replace", "path": "nope", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "remove", "path": "title[value eq \"x\"]"}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                ScimType::Mutability,
            ),
        ];
        // An attribute named by a key of the value rather than by the path is a wrong value,
        // as in a POST body.
        let by_key = [
            (
                json!([{"op": "add", "value": {"nope": 1}}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "value": {"name.nope": 1}}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"nope": 1}}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "value": {ENTERPRISE_USER_SCHEMA: {"nope": 1}}}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "emails", "value": [{"value": "x", "nope": 1}]}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": format!("{ENTERPRISE_USER_SCHEMA}:nope"), "value": 1}]),
                ScimType::InvalidPath,
            ),
        ];
        for (o, t) in cases.into_iter().chain(by_key) {
            let e = run(&user(), "Users", o.clone()).expect_err(&o.to_string());
            assert_eq!(e.scim_type, Some(t), "{o}: {e}");
        }
        let e = apply_patch(
            &user(),
            &json!({"Operations": []}),
            &Schemas::builtin(),
            "Users",
        )
        .expect_err("schemas");
        assert_eq!(e.status, 400);
    }

    #[test]
    fn atomic() {
        let u = user();
        let e = run(
            &u,
            "Users",
            json!([
                {"op": "replace", "path": "title", "value": "Boss"},
                {"op": "replace", "path": "nope", "value": 1}
            ]),
        );
        assert!(e.is_err());
        assert!(u.get("title").is_none());
    }

    #[test]
    fn add_single_valued_replaces_and_duplicates_are_noops() {
        let out = run(&user(), "Users", json!([
            {"op": "add", "path": "userName", "value": "other"},
            {"op": "add", "path": "emails", "value": {"value": "b@work", "type": "work"}},
            {"op": "add", "path": "emails", "value": [{"value": "h@home", "type": "home", "primary": true}]}
        ]))
        .expect("ok");
        assert_eq!(out["userName"], "other");
        assert_eq!(out["emails"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["emails"][0]["primary"], false);
        assert_eq!(out["emails"][1]["primary"], true);
    }

    #[test]
    fn remove_sub_and_replace_list() {
        let out = run(
            &user(),
            "Users",
            json!([
                {"op": "remove", "path": "name.givenName"},
                {"op": "replace", "path": "emails", "value": [{"value": "z@z"}]},
                {"op": "remove", "path": "emails[type eq \"work\"]"}
            ]),
        )
        .expect("ok");
        assert_eq!(out["name"], json!({"familyName": "Jensen"}));
        assert_eq!(out["emails"], json!([{"value": "z@z"}]));
    }
}
