//! SCIM filters (RFC 7644 §3.4.2.2): parser, exact evaluator over SCIM JSON, and an index plan
//! a provider can use to fetch candidates cheaply.
//!
//! The router always re-checks candidates with [`Filter::matches`], so a provider's plan only
//! has to return a superset: correctness never depends on the provider's indexes.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ScimError;
use crate::path::{AttrPath, PatchPath, parse_attr_word};
use crate::schema::{AttrType, AttributeDef, Schemas, get_ci};

/// Nesting deeper than this is refused rather than risking the stack on hostile input.
const MAX_DEPTH: usize = 64;
/// Comparisons (and `pr` tests) in one filter. Identity providers send one to three; a script
/// may OR a batch of ids. More is refused: each one is evaluated against every candidate.
pub const MAX_TERMS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// A comparison literal: JSON `false`, `null`, `true`, a number or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

impl CompValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(s) => Value::String(s.clone()),
        }
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

/// A parsed filter. `emails[type eq "work"].value eq "x"` is represented as
/// `ValuePath { emails, And(type eq "work", value eq "x") }`: one value must satisfy both.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present {
        path: AttrPath,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued (or complex) `path` satisfies `filter`,
    /// whose attribute names are sub-attributes of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Whether the filter reads the top-level attribute `name` (case-insensitive), at any depth.
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Self::Compare { path, .. } | Self::Present { path } => {
                path.name.eq_ignore_ascii_case(name)
            }
            Self::ValuePath { path, .. } => path.name.eq_ignore_ascii_case(name),
            Self::And(a, b) | Self::Or(a, b) => a.mentions(name) || b.mentions(name),
            Self::Not(f) => f.mentions(name),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Self::Present { path } => write!(f, "{path} pr"),
            Self::And(a, b) => {
                write_grouped(f, a, matches!(**a, Self::Or(..)))?;
                f.write_str(" and ")?;
                write_grouped(f, b, matches!(**b, Self::Or(..) | Self::And(..)))
            }
            Self::Or(a, b) => {
                write!(f, "{a} or ")?;
                write_grouped(f, b, matches!(**b, Self::Or(..)))
            }
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

fn write_grouped(f: &mut fmt::Formatter<'_>, x: &Filter, group: bool) -> fmt::Result {
    if group {
        write!(f, "({x})")
    } else {
        write!(f, "{x}")
    }
}

/// How a provider may fetch candidates: equalities on attributes it indexes, combined.
/// `All` means "scan everything visible".
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Eq { path: AttrPath, value: CompValue },
    And(Vec<Plan>),
    Or(Vec<Plan>),
    All,
}

impl Filter {
    /// Parses a filter; errors are 400 `invalidFilter` and say where parsing stopped.
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        Parser::parse_filter(input)
    }

    /// Exact evaluation against a SCIM resource of `resource_type` (name or endpoint).
    /// Case-exactness and types come from the schema; attributes the registry does not know
    /// are compared case-insensitively as found in the JSON.
    pub fn matches(&self, resource: &Value, schemas: &Schemas, resource_type: &str) -> bool {
        let ev = Eval {
            schemas,
            resource_type,
        };
        ev.eval(self, resource, None)
    }

    /// Evaluates a value filter (`attr[filter]`) against one value of `parent`.
    pub fn matches_element(
        &self,
        element: &Value,
        parent: Option<&AttributeDef>,
        schemas: &Schemas,
        resource_type: &str,
    ) -> bool {
        let ev = Eval {
            schemas,
            resource_type,
        };
        ev.eval(self, element, Some(Scope { parent }))
    }

    /// Rejects filters the RFC says must fail: ordering comparisons on boolean or binary
    /// attributes (RFC 7644 §3.4.2.2).
    pub fn check(&self, schemas: &Schemas, resource_type: &str) -> Result<(), ScimError> {
        self.check_across(schemas, &[resource_type])
    }

    /// [`Self::check`] for a search over several resource types (`/.search`): an attribute
    /// need only be one of theirs (`displayName eq "x" or userName eq "x"` finds groups and
    /// users), and a literal is checked against the types that have the attribute.
    pub fn check_across(
        &self,
        schemas: &Schemas,
        resource_types: &[&str],
    ) -> Result<(), ScimError> {
        let mut unknown_everywhere: Option<Vec<String>> = None;
        for resource_type in resource_types {
            let ev = Eval {
                schemas,
                resource_type,
            };
            let mut unknown = Vec::new();
            ev.check(self, None, &mut unknown)?;
            unknown_everywhere = Some(match unknown_everywhere {
                None => unknown,
                Some(before) => before.into_iter().filter(|p| unknown.contains(p)).collect(),
            });
        }
        match unknown_everywhere.unwrap_or_default().first() {
            Some(path) => Err(ScimError::invalid_filter(format!(
                "no resource searched has the attribute '{path}'"
            ))),
            None => Ok(()),
        }
    }

    /// An index plan: `indexed` says which attribute paths (e.g. `userName`, `emails.value`;
    /// test with [`AttrPath::is`]) the provider can look up by equality. Value filters
    /// contribute their equalities qualified with the parent, so
    /// `emails[type eq "work"].value eq "x"` yields `Eq { emails.value, "x" }`.
    pub fn plan(&self, indexed: &dyn Fn(&AttrPath) -> bool) -> Plan {
        plan(self, None, indexed)
    }

    /// The equalities of a filter that is one equality or a top-level `and` of some: the
    /// common IdP lookups (`userName eq "x"`, `externalId eq "x" and …`).
    pub fn equalities(&self) -> Vec<(AttrPath, CompValue)> {
        match self.plan(&|_| true) {
            Plan::Eq { path, value } => vec![(path, value)],
            Plan::And(parts) => parts
                .into_iter()
                .filter_map(|p| match p {
                    Plan::Eq { path, value } => Some((path, value)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn plan(f: &Filter, parent: Option<&AttrPath>, indexed: &dyn Fn(&AttrPath) -> bool) -> Plan {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if *value != CompValue::Null => {
            let path = match parent {
                Some(p) => AttrPath {
                    urn: p.urn.clone(),
                    name: p.name.clone(),
                    sub: Some(path.name.clone()),
                },
                None => path.clone(),
            };
            if indexed(&path) {
                Plan::Eq {
                    path,
                    value: value.clone(),
                }
            } else {
                Plan::All
            }
        }
        Filter::And(a, b) => {
            let mut parts = Vec::new();
            for p in [plan(a, parent, indexed), plan(b, parent, indexed)] {
                match p {
                    Plan::All => {}
                    Plan::And(inner) => parts.extend(inner),
                    other => parts.push(other),
                }
            }
            match parts.len() {
                0 => Plan::All,
                1 => parts.pop().unwrap_or(Plan::All),
                _ => Plan::And(parts),
            }
        }
        Filter::Or(a, b) => {
            let mut parts = Vec::new();
            for p in [plan(a, parent, indexed), plan(b, parent, indexed)] {
                match p {
                    Plan::All => return Plan::All,
                    Plan::Or(inner) => parts.extend(inner),
                    other => parts.push(other),
                }
            }
            Plan::Or(parts)
        }
        Filter::ValuePath { path, filter } if parent.is_none() => plan(filter, Some(path), indexed),
        _ => Plan::All,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBrack,
    RBrack,
    Str(String),
    Word(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::LBrack => f.write_str("'['"),
            Self::RBrack => f.write_str("']'"),
            Self::Str(s) => write!(f, "string {}", Value::String(s.clone())),
            Self::Word(w) => write!(f, "'{w}'"),
        }
    }
}

/// A syntax error: what and where (byte offset into the input).
struct SyntaxError {
    pos: usize,
    what: String,
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, SyntaxError> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b'[' => {
                out.push((Tok::LBrack, i));
                i += 1;
            }
            b']' => {
                out.push((Tok::RBrack, i));
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            closed = true;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                if !closed || i >= bytes.len() {
                    return Err(SyntaxError {
                        pos: start,
                        what: "unterminated string".into(),
                    });
                }
                let raw = input.get(start..=i).ok_or(SyntaxError {
                    pos: start,
                    what: "malformed string".into(),
                })?;
                let s: String = serde_json::from_str(raw).map_err(|e| SyntaxError {
                    pos: start,
                    what: format!("malformed string: {e}"),
                })?;
                out.push((Tok::Str(s), start));
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"'
                    )
                {
                    i += 1;
                }
                // Only ASCII delimiters stop a word, so `start..i` is on char boundaries.
                let w = input.get(start..i).unwrap_or_default();
                out.push((Tok::Word(w.to_string()), start));
            }
        }
    }
    Ok(out)
}

/// Joins the operands of one `and` or `or` chain into a balanced tree, in order. It is the
/// filter the left-leaning tree of the grammar would be (both operators are associative), but
/// only log2(operands) deep, so that the recursive walks over a filter (planning, evaluation,
/// cloning, dropping) stay shallow however long the chain: with [`MAX_DEPTH`] and [`MAX_TERMS`]
/// no filter is deeper than a few hundred levels.
fn balanced(mut operands: Vec<Filter>, join: fn(Box<Filter>, Box<Filter>) -> Filter) -> Filter {
    while operands.len() > 1 {
        let mut joined = Vec::with_capacity(operands.len().div_ceil(2));
        let mut pairs = operands.into_iter();
        while let Some(a) = pairs.next() {
            joined.push(match pairs.next() {
                Some(b) => join(Box::new(a), Box::new(b)),
                None => a,
            });
        }
        operands = joined;
    }
    operands.pop().expect("a chain has at least one operand")
}

/// Recursive-descent parser shared by filters and PATCH paths.
pub(crate) struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    end: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, SyntaxError> {
        Ok(Self {
            toks: lex(input)?,
            i: 0,
            end: input.len(),
            depth: 0,
            terms: 0,
        })
    }

    pub(crate) fn parse_filter(input: &str) -> Result<Filter, ScimError> {
        let run = || -> Result<Filter, SyntaxError> {
            let mut p = Parser::new(input)?;
            if p.toks.is_empty() {
                return Err(SyntaxError {
                    pos: 0,
                    what: "empty filter".into(),
                });
            }
            let f = p.or_expr(false)?;
            p.expect_end()?;
            Ok(f)
        };
        run().map_err(|e| {
            ScimError::invalid_filter(format!("invalid filter at position {}: {}", e.pos, e.what))
        })
    }

    pub(crate) fn parse_patch_path(input: &str) -> Result<PatchPath, ScimError> {
        let run = || -> Result<PatchPath, SyntaxError> {
            let mut p = Parser::new(input)?;
            let (word, pos) = match p.next() {
                Some((Tok::Word(w), pos)) => (w, pos),
                Some((t, pos)) => {
                    return Err(SyntaxError {
                        pos,
                        what: format!("expected an attribute name, found {t}"),
                    });
                }
                None => {
                    return Err(SyntaxError {
                        pos: 0,
                        what: "empty path".into(),
                    });
                }
            };
            let attr = parse_attr_word(&word).map_err(|what| SyntaxError { pos, what })?;
            let mut path = PatchPath {
                attr,
                filter: None,
                filter_sub: None,
            };
            if p.peek_is(&Tok::LBrack) {
                let (filter, sub) = p.value_filter_tail(&path.attr, pos)?;
                path.filter = Some(filter);
                path.filter_sub = sub;
            }
            p.expect_end()?;
            Ok(path)
        };
        run().map_err(|e| {
            ScimError::invalid_path(format!(
                "invalid path '{input}' at position {}: {}",
                e.pos, e.what
            ))
        })
    }

    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn peek(&self) -> Option<&(Tok, usize)> {
        self.toks.get(self.i)
    }

    fn peek_is(&self, t: &Tok) -> bool {
        self.peek().is_some_and(|(x, _)| x == t)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some((Tok::Word(w), _)) if w.eq_ignore_ascii_case(kw))
    }

    fn pos(&self) -> usize {
        self.peek().map(|(_, p)| *p).unwrap_or(self.end)
    }

    fn expect_end(&self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some((t, pos)) => Err(SyntaxError {
                pos: *pos,
                what: format!("unexpected {t}"),
            }),
        }
    }

    fn expect(&mut self, t: Tok) -> Result<(), SyntaxError> {
        let pos = self.pos();
        match self.next() {
            Some((x, _)) if x == t => Ok(()),
            Some((x, _)) => Err(SyntaxError {
                pos,
                what: format!("expected {t}, found {x}"),
            }),
            None => Err(SyntaxError {
                pos,
                what: format!("expected {t}, found end of input"),
            }),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                pos: self.pos(),
                what: format!("nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    /// `or` binds loosest; `in_value` forbids nested value filters (RFC `valFilter`).
    fn or_expr(&mut self, in_value: bool) -> Result<Filter, SyntaxError> {
        self.enter()?;
        let mut operands = vec![self.and_expr(in_value)?];
        while self.peek_keyword("or") {
            self.i += 1;
            operands.push(self.and_expr(in_value)?);
        }
        self.depth -= 1;
        Ok(balanced(operands, Filter::Or))
    }

    fn and_expr(&mut self, in_value: bool) -> Result<Filter, SyntaxError> {
        let mut operands = vec![self.unary(in_value)?];
        while self.peek_keyword("and") {
            self.i += 1;
            operands.push(self.unary(in_value)?);
        }
        Ok(balanced(operands, Filter::And))
    }

    /// Counts one comparison or presence test against [`MAX_TERMS`].
    fn term(&mut self) -> Result<(), SyntaxError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(SyntaxError {
                pos: self.pos(),
                what: format!("more than {MAX_TERMS} comparisons"),
            });
        }
        Ok(())
    }

    fn unary(&mut self, in_value: bool) -> Result<Filter, SyntaxError> {
        self.enter()?;
        let result = self.unary_inner(in_value);
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self, in_value: bool) -> Result<Filter, SyntaxError> {
        let pos = self.pos();
        if self.peek_keyword("not")
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|(t, _)| *t == Tok::LParen)
        {
            self.i += 2;
            let inner = self.or_expr(in_value)?;
            self.expect(Tok::RParen)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some((Tok::LParen, _)) => {
                let inner = self.or_expr(in_value)?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Some((Tok::Word(w), wpos)) => {
                let path = parse_attr_word(&w).map_err(|what| SyntaxError { pos: wpos, what })?;
                if self.peek_is(&Tok::LBrack) {
                    if in_value {
                        return Err(SyntaxError {
                            pos: self.pos(),
                            what: "value filters cannot be nested".into(),
                        });
                    }
                    if path.sub.is_some() {
                        return Err(SyntaxError {
                            pos: self.pos(),
                            what: "a value filter applies to an attribute, not a sub-attribute"
                                .into(),
                        });
                    }
                    let (inner, sub) = self.value_filter_tail(&path, wpos)?;
                    return match sub {
                        None => Ok(Filter::ValuePath {
                            path,
                            filter: Box::new(inner),
                        }),
                        Some(sub) => {
                            let tail = self.attr_expr_rest(AttrPath::new(sub))?;
                            Ok(Filter::ValuePath {
                                path,
                                filter: Box::new(Filter::And(Box::new(inner), Box::new(tail))),
                            })
                        }
                    };
                }
                self.attr_expr_rest(path)
            }
            Some((t, p)) => Err(SyntaxError {
                pos: p,
                what: format!("expected an attribute name, '(' or 'not', found {t}"),
            }),
            None => Err(SyntaxError {
                pos,
                what: "expected an expression, found end of input".into(),
            }),
        }
    }

    /// After `attr`: `[valFilter]` and an optional `.sub`.
    fn value_filter_tail(
        &mut self,
        attr: &AttrPath,
        attr_pos: usize,
    ) -> Result<(Filter, Option<String>), SyntaxError> {
        if attr.sub.is_some() {
            return Err(SyntaxError {
                pos: attr_pos,
                what: "a value filter applies to an attribute, not a sub-attribute".into(),
            });
        }
        self.expect(Tok::LBrack)?;
        let inner = self.or_expr(true)?;
        self.expect(Tok::RBrack)?;
        let sub = match self.peek() {
            Some((Tok::Word(w), p)) if w.starts_with('.') => {
                let (w, p) = (w.clone(), *p);
                self.i += 1;
                let name = &w[1..];
                let parsed = parse_attr_word(name).map_err(|what| SyntaxError { pos: p, what })?;
                if parsed.urn.is_some() || parsed.sub.is_some() {
                    return Err(SyntaxError {
                        pos: p,
                        what: format!("'{name}' is not a valid sub-attribute name"),
                    });
                }
                Some(parsed.name)
            }
            _ => None,
        };
        Ok((inner, sub))
    }

    /// After an attribute path: `pr` or `op value`.
    fn attr_expr_rest(&mut self, path: AttrPath) -> Result<Filter, SyntaxError> {
        self.term()?;
        let pos = self.pos();
        let op_word = match self.next() {
            Some((Tok::Word(w), _)) => w,
            Some((t, p)) => {
                return Err(SyntaxError {
                    pos: p,
                    what: format!("expected an operator after '{path}', found {t}"),
                });
            }
            None => {
                return Err(SyntaxError {
                    pos,
                    what: format!("expected an operator after '{path}', found end of input"),
                });
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present { path });
        }
        let op = CompareOp::parse(&op_word).ok_or_else(|| SyntaxError {
            pos,
            what: format!("unknown operator '{op_word}'"),
        })?;
        let vpos = self.pos();
        let value = match self.next() {
            Some((Tok::Str(s), _)) => CompValue::String(s),
            Some((Tok::Word(w), _)) => match w.to_ascii_lowercase().as_str() {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                _ => match serde_json::from_str::<Number>(&w) {
                    Ok(n) => CompValue::Number(n),
                    Err(_) => {
                        return Err(SyntaxError {
                            pos: vpos,
                            what: format!(
                                "expected a value (a quoted string, number, true, false or null), found '{w}'"
                            ),
                        });
                    }
                },
            },
            Some((t, _)) => {
                return Err(SyntaxError {
                    pos: vpos,
                    what: format!("expected a value after '{}', found {t}", op.as_str()),
                });
            }
            None => {
                return Err(SyntaxError {
                    pos: vpos,
                    what: format!(
                        "expected a value after '{}', found end of input",
                        op.as_str()
                    ),
                });
            }
        };
        Ok(Filter::Compare { path, op, value })
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct Eval<'a> {
    schemas: &'a Schemas,
    resource_type: &'a str,
}

/// Values found at a path, with the definition of the leaf attribute when known.
struct Found<'v, 'd> {
    values: Vec<&'v Value>,
    def: Option<&'d AttributeDef>,
}

impl<'a> Eval<'a> {
    /// `scope` is the parent attribute's definition when evaluating inside `attr[...]`.
    fn eval(&self, f: &Filter, node: &Value, scope: Option<Scope<'a>>) -> bool {
        match f {
            Filter::And(a, b) => self.eval(a, node, scope) && self.eval(b, node, scope),
            Filter::Or(a, b) => self.eval(a, node, scope) || self.eval(b, node, scope),
            Filter::Not(inner) => !self.eval(inner, node, scope),
            Filter::Present { path } => {
                let found = self.find(path, node, scope);
                found.values.iter().any(|v| is_present(v))
            }
            Filter::Compare { path, op, value } => {
                let found = self.find(path, node, scope);
                compare_all(&found, *op, value)
            }
            Filter::ValuePath { path, filter } => {
                let (elements, def) = self.elements(path, node, scope);
                let inner_scope = Some(Scope { parent: def });
                elements.iter().any(|el| self.eval(filter, el, inner_scope))
            }
        }
    }

    /// Type errors are returned at once; attributes this resource type does not have are
    /// gathered in `unknown` (as written, with the enclosing attribute of a value filter), for
    /// the caller to judge across the types searched.
    fn check(
        &self,
        f: &Filter,
        scope: Option<Scope<'a>>,
        unknown: &mut Vec<String>,
    ) -> Result<(), ScimError> {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                self.check(a, scope, unknown)?;
                self.check(b, scope, unknown)
            }
            Filter::Not(inner) => self.check(inner, scope, unknown),
            Filter::Present { path } => {
                self.named_def(path, scope, unknown);
                Ok(())
            }
            Filter::Compare { path, op, value } => {
                let Some(named) = self.named_def(path, scope, unknown) else {
                    return Ok(());
                };
                let Some(def) = self.leaf_def(path, scope) else {
                    return Err(ScimError::invalid_filter(format!(
                        "'{path}' is the complex attribute '{}': compare one of its \
                         sub-attributes",
                        named.name
                    )));
                };
                if op.is_ordering() && matches!(def.kind, AttrType::Boolean | AttrType::Binary) {
                    return Err(ScimError::invalid_filter(format!(
                        "'{}' cannot be compared with '{}' on the {} attribute '{path}'",
                        path,
                        op.as_str(),
                        def.kind.as_str()
                    )));
                }
                if literal_fits(def.kind, *op, value) {
                    Ok(())
                } else {
                    Err(ScimError::invalid_filter(format!(
                        "{value} is not a {} value, which '{path}' holds",
                        def.kind.as_str()
                    )))
                }
            }
            Filter::ValuePath { path, filter } => {
                let Some(def) = self.named_def(path, None, unknown) else {
                    return Ok(());
                };
                let mut inside = Vec::new();
                self.check(filter, Some(Scope { parent: Some(def) }), &mut inside)?;
                unknown.extend(inside.into_iter().map(|p| format!("{path}[{p}]")));
                Ok(())
            }
        }
    }

    /// The definition of the attribute (or sub-attribute) `path` names; `None`, with the path
    /// noted in `unknown`, when this resource type has no such attribute. Such a comparison
    /// would match nothing, and an empty page reads as "no such user" to a provisioning
    /// client: refused instead (RFC 7644 §3.4.2.2 lets a service provider refuse what it does
    /// not support).
    fn named_def(
        &self,
        path: &AttrPath,
        scope: Option<Scope<'a>>,
        unknown: &mut Vec<String>,
    ) -> Option<&'a AttributeDef> {
        let top = match scope {
            Some(s) => s.parent.and_then(|p| p.sub(&path.name)),
            None => self.top_def(path).map(|(d, _)| d),
        };
        let def = match (&path.sub, top) {
            (Some(sub), Some(top)) => top.sub(sub),
            (None, top) => top,
            (_, None) => None,
        };
        if def.is_none() {
            unknown.push(path.to_string());
        }
        def
    }

    fn top_def(&self, path: &AttrPath) -> Option<(&'a AttributeDef, Option<&'a str>)> {
        self.schemas
            .resolve(self.resource_type, path.urn.as_deref(), &path.name)
            .map(|r| (r.attr, r.container()))
    }

    fn leaf_def(&self, path: &AttrPath, scope: Option<Scope<'a>>) -> Option<&'a AttributeDef> {
        let top = match scope {
            Some(s) => s.parent?.sub(&path.name)?,
            None => self.top_def(path)?.0,
        };
        match &path.sub {
            Some(sub) => top.sub(sub),
            None if top.is_complex() => top.sub("value"),
            None => Some(top),
        }
    }

    /// The JSON value of the top-level attribute `path` names (without its sub-attribute).
    fn top_value<'v>(
        &self,
        path: &AttrPath,
        node: &'v Value,
        scope: Option<Scope<'a>>,
    ) -> (Option<&'v Value>, Option<&'a AttributeDef>) {
        let Some(obj) = node.as_object() else {
            return (None, None);
        };
        if let Some(s) = scope {
            let def = s.parent.and_then(|p| p.sub(&path.name));
            return (get_ci(obj, &path.name), def);
        }
        match self
            .schemas
            .resolve(self.resource_type, path.urn.as_deref(), &path.name)
        {
            Some(r) => {
                let container = match r.container() {
                    Some(c) => get_ci(obj, c).and_then(Value::as_object),
                    None => Some(obj),
                };
                (
                    container.and_then(|c| get_ci(c, &r.attr.name)),
                    Some(r.attr),
                )
            }
            None => {
                let container = match &path.urn {
                    Some(u) => get_ci(obj, u).and_then(Value::as_object).or_else(|| {
                        // A core-schema URN prefix addresses top-level attributes.
                        self.schemas
                            .resource_type(self.resource_type)
                            .filter(|rt| rt.schema.eq_ignore_ascii_case(u))
                            .map(|_| obj)
                    }),
                    None => Some(obj),
                };
                (container.and_then(|c| get_ci(c, &path.name)), None)
            }
        }
    }

    /// The values of a multi-valued (or single complex) attribute, for `attr[filter]`.
    fn elements<'v>(
        &self,
        path: &AttrPath,
        node: &'v Value,
        scope: Option<Scope<'a>>,
    ) -> (Vec<&'v Value>, Option<&'a AttributeDef>) {
        let (v, def) = self.top_value(path, node, scope);
        let elements = match v {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        (elements, def)
    }

    fn find<'v>(
        &self,
        path: &AttrPath,
        node: &'v Value,
        scope: Option<Scope<'a>>,
    ) -> Found<'v, 'a> {
        let (top, def) = self.top_value(path, node, scope);
        let mut values = Vec::new();
        let items: Vec<&Value> = match top {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v) => vec![v],
            None => Vec::new(),
        };
        let leaf_def;
        match &path.sub {
            Some(sub) => {
                leaf_def = def.and_then(|d| d.sub(sub));
                for item in items {
                    if let Some(v) = item.as_object().and_then(|o| get_ci(o, sub)) {
                        match v {
                            Value::Array(vs) => values.extend(vs.iter()),
                            v => values.push(v),
                        }
                    }
                }
            }
            None => {
                // A complex attribute compared without a sub-attribute compares its `value`
                // (RFC 7644 §3.4.2.2 example `emails co "example.com"`).
                let complex = def.is_some_and(|d| d.is_complex());
                leaf_def = if complex {
                    def.and_then(|d| d.sub("value"))
                } else {
                    def
                };
                for item in items {
                    match item {
                        Value::Object(o) => {
                            if let Some(v) = get_ci(o, "value") {
                                values.push(v);
                            }
                        }
                        v => values.push(v),
                    }
                }
            }
        }
        Found {
            values,
            def: leaf_def,
        }
    }
}

#[derive(Clone, Copy)]
struct Scope<'a> {
    parent: Option<&'a AttributeDef>,
}

/// Present per RFC 7644 §3.4.2.2 `pr`: has a non-empty, non-null value.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// Whether a literal can be compared with an attribute of `kind` (RFC 7644 §3.4.2.2 compares
/// "according to the attribute type"). A mismatch would otherwise match nothing and answer an
/// empty page, which a provisioning client reads as "no such user" and creates a duplicate.
/// Booleans and numbers written as strings pass, as Entra ID and Okta send them that way.
fn literal_fits(kind: AttrType, op: CompareOp, lit: &CompValue) -> bool {
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match (kind, lit) {
        (_, CompValue::Null) => matches!(op, CompareOp::Eq | CompareOp::Ne),
        (AttrType::Boolean, CompValue::Bool(_)) => !substring,
        (AttrType::Boolean, CompValue::String(s)) => {
            !substring && (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"))
        }
        (AttrType::Integer | AttrType::Decimal, CompValue::Number(_)) => !substring,
        (AttrType::Integer | AttrType::Decimal, CompValue::String(s)) => {
            !substring && s.parse::<Number>().is_ok()
        }
        (AttrType::DateTime, CompValue::String(s)) => substring || parse_datetime(s).is_some(),
        (AttrType::String | AttrType::Reference | AttrType::Binary, CompValue::String(_)) => true,
        (AttrType::String | AttrType::Reference, CompValue::Number(_)) => !substring,
        // Anything else, a complex attribute without a `value` sub-attribute among them,
        // has nothing the literal could equal.
        _ => false,
    }
}

fn compare_all(found: &Found<'_, '_>, op: CompareOp, lit: &CompValue) -> bool {
    let present: Vec<&Value> = found
        .values
        .iter()
        .copied()
        .filter(|v| !v.is_null())
        .collect();
    match (op, lit) {
        (CompareOp::Eq, CompValue::Null) => return present.is_empty(),
        (CompareOp::Ne, CompValue::Null) => return !present.is_empty(),
        (CompareOp::Ne, _) => {
            return !present
                .iter()
                .any(|v| compare_one(v, CompareOp::Eq, lit, found.def));
        }
        _ => {}
    }
    present.iter().any(|v| compare_one(v, op, lit, found.def))
}

/// How a `caseExact: false` string compares: case-folded and in NFKC, so that a name matches
/// whatever Unicode form a client sends it in (`e\u{301}` and `é`, fullwidth and ASCII), as
/// the directory's own uniqueness does.
pub(crate) fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lower = s.to_lowercase();
    if lower.is_ascii() {
        lower
    } else {
        lower.nfkc().collect()
    }
}

pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok())
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn compare_one(v: &Value, op: CompareOp, lit: &CompValue, def: Option<&AttributeDef>) -> bool {
    let kind = def.map(|d| d.kind);
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (v, lit) {
        (Value::String(s), CompValue::String(l)) => {
            let dates = match kind {
                Some(AttrType::DateTime) => true,
                Some(_) => false,
                None => op != CompareOp::Co && op != CompareOp::Sw && op != CompareOp::Ew,
            };
            if dates && let (Some(a), Some(b)) = (parse_datetime(s), parse_datetime(l)) {
                return ordering_holds(op, a.cmp(&b));
            }
            let (a, b) = if case_exact {
                (s.clone(), l.clone())
            } else if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                (fold(s), fold(l))
            } else {
                // Names are stored without the spaces around them: a client filtering on the
                // value it sent (`displayName eq "Sales "`) finds what it created.
                (fold(s.trim()), fold(l.trim()))
            };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordering_holds(op, a.cmp(&b)),
            }
        }
        (Value::Number(a), CompValue::Number(b)) => {
            compare_numbers(a, b).is_some_and(|o| ordering_holds(op, o))
        }
        // Some clients quote numbers; compare numerically when the text is a number.
        (Value::Number(a), CompValue::String(l)) => l
            .parse::<Number>()
            .ok()
            .and_then(|b| compare_numbers(a, &b))
            .is_some_and(|o| ordering_holds(op, o)),
        (Value::String(s), CompValue::Number(n)) => {
            matches!(op, CompareOp::Eq) && *s == n.to_string()
        }
        (Value::Bool(a), CompValue::Bool(b)) => op == CompareOp::Eq && a == b,
        (Value::Bool(a), CompValue::String(l)) => {
            op == CompareOp::Eq
                && ((l.eq_ignore_ascii_case("true") && *a)
                    || (l.eq_ignore_ascii_case("false") && !*a))
        }
        (Value::String(s), CompValue::Bool(b)) => {
            op == CompareOp::Eq && s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "ExtA",
            "userName": "Bjensen@Example.com",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "title": "Tour Guide",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "meta": {"created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T20:00:00Z", "resourceType": "User"},
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
            "x-count": 5
        })
    }

    fn m(f: &str) -> bool {
        let s = Schemas::builtin();
        Filter::parse(f).expect(f).matches(&user(), &s, "Users")
    }

    #[test]
    fn long_chains_are_shallow_and_too_many_comparisons_are_refused() {
        // A chain of the most comparisons allowed, walked every way on a thread with a small
        // stack: a left-leaning tree of 256 levels would need far more in a debug build.
        let chain = |op: &str, n: usize, last: &str| {
            let mut terms = vec!["nickName pr".to_string(); n - 1];
            terms.push(last.to_string());
            terms.join(&format!(" {op} "))
        };
        let any = chain("or", MAX_TERMS, "title pr");
        let all = chain("and", MAX_TERMS, "title pr");
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let s = Schemas::builtin();
                let any = Filter::parse(&any).unwrap();
                assert!(any.matches(&user(), &s, "Users"), "the last term matches");
                let all = Filter::parse(&all).unwrap();
                assert!(!all.matches(&user(), &s, "Users"));
                assert!(all.clone() == all);
                assert!(any.mentions("title") && !any.mentions("displayName"));
                assert!(matches!(any.plan(&|_| true), Plan::All | Plan::Or(_)));
                // Shown and read back, it is an equivalent filter.
                let shown = Filter::parse(&any.to_string()).unwrap();
                assert!(shown.matches(&user(), &s, "Users"));
            })
            .unwrap()
            .join()
            .expect("no stack overflow");

        let too_many = chain("or", MAX_TERMS + 1, "title pr");
        let e = Filter::parse(&too_many).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(
            e.detail.contains("more than 256 comparisons"),
            "{}",
            e.detail
        );
        // Also when spread over parentheses and value filters.
        let nested = format!(
            "({}) and emails[{}]",
            chain("or", 200, "a pr"),
            chain("and", 57, "b pr")
        );
        assert!(Filter::parse(&nested).is_err());
        let nested = format!(
            "({}) and emails[{}]",
            chain("or", 200, "a pr"),
            chain("and", 56, "b pr")
        );
        assert!(Filter::parse(&nested).is_ok());
        // The order of the terms is kept.
        let f = Filter::parse("a eq 1 and b eq 2 and c eq 3 and d eq 4 and e eq 5").unwrap();
        assert_eq!(
            f.to_string(),
            "a eq 1 and b eq 2 and (c eq 3 and d eq 4) and e eq 5"
        );
    }

    #[test]
    fn operators() {
        assert!(m("userName eq \"bjensen@example.com\""));
        assert!(m("USERNAME EQ \"BJENSEN@EXAMPLE.COM\""));
        assert!(!m("externalId eq \"exta\""), "externalId is caseExact");
        assert!(m("externalId eq \"ExtA\""));
        assert!(m("id ne \"x\""));
        assert!(m("name.familyName co \"ens\""));
        assert!(m("userName sw \"bj\""));
        assert!(m("userName ew \".COM\""));
        assert!(m("title pr"));
        assert!(!m("nickName pr"));
        assert!(m("meta.lastModified gt \"2011-05-13T04:42:34Z\""));
        assert!(m("meta.lastModified ge \"2011-08-01T20:00:00Z\""));
        assert!(m("meta.lastModified le \"2011-08-01T21:00:00+01:00\""));
        assert!(!m("meta.lastModified lt \"2011-08-01T20:00:00Z\""));
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("x-count gt 4 and x-count lt 5.5"));
        assert!(m("nickName eq null"));
        assert!(m("userName ne null"));
    }

    #[test]
    fn logic_and_precedence() {
        assert!(m("title pr and userName sw \"x\" or active eq true"));
        assert!(!m("title pr and (userName sw \"x\" or active eq false)"));
        assert!(m("not (userName sw \"x\")"));
        assert!(!m("NOT(title pr)"));
        let f = Filter::parse("a eq 1 or b eq 2 and c eq 3").expect("ok");
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    }

    #[test]
    fn complex_and_urn() {
        assert!(m("emails[type eq \"work\" and value co \"@example.com\"]"));
        assert!(!m("emails[type eq \"home\" and value co \"@example.com\"]"));
        assert!(m(
            "emails[type eq \"work\"].value eq \"BJENSEN@example.com\""
        ));
        assert!(!m(
            "emails[type eq \"home\"].value eq \"bjensen@example.com\""
        ));
        assert!(m("emails co \"jensen.org\""));
        assert!(m("emails.value eq \"babs@jensen.org\""));
        assert!(m("emails.type eq \"home\""));
        assert!(m(&format!(
            "{ENTERPRISE_USER_SCHEMA}:employeeNumber eq \"701984\""
        )));
        assert!(m(&format!(
            "{ENTERPRISE_USER_SCHEMA}:manager.value eq \"26118915\""
        )));
        assert!(m(
            "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"B\""
        ));
        assert!(m("employeeNumber eq \"701984\""));
    }

    #[test]
    fn errors_say_where() {
        for (f, needle) in [
            ("userName eq", "position 11"),
            ("userName zz \"x\"", "unknown operator"),
            ("(userName eq \"x\"", "expected ')'"),
            ("userName eq \"x", "unterminated"),
            ("", "empty"),
            ("userName eq \"x\" and", "end of input"),
            ("emails[type eq \"work\"", "expected ']'"),
            ("userName eq bob", "expected a value"),
        ] {
            let e = Filter::parse(f).expect_err(f);
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            assert!(e.detail.contains(needle), "{f}: {}", e.detail);
        }
        let deep = format!("{}a pr{}", "(".repeat(1000), ")".repeat(1000));
        assert!(Filter::parse(&deep).is_err());
    }

    #[test]
    fn display_round_trips() {
        for f in [
            "userName eq \"x\"",
            "a eq 1 or b eq 2 and c eq 3",
            "(a eq 1 or b eq 2) and c eq 3",
            "emails[type eq \"work\" and value co \"@x\"]",
            "not (a pr)",
            "urn:a:b:c eq true",
        ] {
            let p = Filter::parse(f).expect(f);
            let again = Filter::parse(&p.to_string()).expect("reparse");
            assert_eq!(p, again, "{f}");
        }
    }

    #[test]
    fn plans() {
        let idx = |p: &AttrPath| p.is("userName") || p.is("emails.value") || p.is("externalId");
        let f = Filter::parse("userName eq \"a\"").expect("ok");
        assert!(matches!(f.plan(&idx), Plan::Eq { ref path, .. } if path.is("username")));
        let f = Filter::parse("emails[type eq \"work\"].value eq \"x\"").expect("ok");
        assert!(matches!(f.plan(&idx), Plan::Eq { ref path, .. } if path.is("emails.value")));
        let f = Filter::parse("userName eq \"a\" and title pr").expect("ok");
        assert!(matches!(f.plan(&idx), Plan::Eq { .. }));
        let f = Filter::parse("userName eq \"a\" or title pr").expect("ok");
        assert_eq!(f.plan(&idx), Plan::All);
        let f = Filter::parse("userName eq \"a\" or externalId eq \"b\"").expect("ok");
        assert!(matches!(f.plan(&idx), Plan::Or(ref v) if v.len() == 2));
        let f = Filter::parse("externalId eq \"a\" and userName eq \"b\"").expect("ok");
        assert_eq!(f.equalities().len(), 2);
    }

    #[test]
    fn check_rejects_ordering_on_boolean() {
        let s = Schemas::builtin();
        let f = Filter::parse("active gt true").expect("ok");
        assert!(f.check(&s, "Users").is_err());
        let f = Filter::parse("title gt \"a\"").expect("ok");
        assert!(f.check(&s, "Users").is_ok());
    }

    #[test]
    fn check_refuses_attributes_no_resource_searched_has() {
        let s = Schemas::builtin();
        for bad in [
            "foo eq \"x\"",
            "name.foo eq \"x\"",
            "foo pr",
            "emails[foo eq \"x\"]",
            "urn:example:unknown:2.0:User:x eq \"y\"",
            "userName eq \"a\" or members pr",
        ] {
            let f = Filter::parse(bad).expect(bad);
            let e = f.check(&s, "Users").expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad}");
        }
        let f = Filter::parse("name eq \"x\"").expect("parse");
        let e = f.check(&s, "Users").expect_err("complex");
        assert!(e.detail.contains("sub-attributes"), "{}", e.detail);
        // Across Users and Groups, each attribute need be only one's.
        let f = Filter::parse("displayName eq \"Sales\" or userName eq \"a\" or members pr")
            .expect("parse");
        assert!(f.check_across(&s, &["Users", "Groups"]).is_ok());
        assert!(f.check(&s, "Users").is_err());
        let f = Filter::parse("userName eq \"a\" or foo pr").expect("parse");
        let e = f.check_across(&s, &["Users", "Groups"]).expect_err("foo");
        assert!(e.detail.contains("'foo'"), "{}", e.detail);
        for ok in [
            "name pr",
            "name.familyName sw \"J\"",
            "emails.value ew \"@x\"",
            "meta.created pr",
        ] {
            let f = Filter::parse(ok).expect(ok);
            assert!(f.check(&s, "Users").is_ok(), "{ok}");
        }
    }

    #[test]
    fn check_compares_literals_by_the_attribute_type() {
        let s = Schemas::builtin();
        for ok in [
            "active eq true",
            "active eq \"False\"",
            "meta.lastModified gt \"2026-01-01T00:00:00Z\"",
            "meta.created sw \"2026-\"",
            "userName eq \"a\" and title eq null",
            "employeeNumber eq 42",
            "emails[type eq \"work\" and primary eq true]",
            "not (active eq false)",
        ] {
            let f = Filter::parse(ok).expect(ok);
            assert!(f.check(&s, "Users").is_ok(), "{ok}");
        }
        for bad in [
            "active eq 1",
            "active eq \"yes\"",
            "active co \"t\"",
            "meta.lastModified gt \"yesterday\"",
            "meta.created eq 2026",
            "userName eq true",
            "emails[primary eq \"first\"]",
            "title eq \"x\" or active eq 0",
            "title gt null",
        ] {
            let f = Filter::parse(bad).expect(bad);
            let e = f.check(&s, "Users").expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad}");
        }
    }
}
