//! Property tests: the parsers and evaluators never panic, whatever the input.

use proptest::prelude::*;
use rollcall_scim::{AttrPath, Filter, PatchPath, Schemas, apply_patch};
use serde_json::json;

fn sample() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "u1",
        "userName": "bjensen",
        "active": true,
        "name": {"givenName": "B"},
        "emails": [{"value": "b@x", "type": "work"}],
        "meta": {"created": "2020-01-01T00:00:00Z"}
    })
}

/// Tokens of the filter grammar, so generated inputs get past the lexer often.
fn grammarish() -> impl Strategy<Value = String> {
    let tok = prop::sample::select(vec![
        "userName",
        "emails",
        "name.givenName",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        ".value",
        "\"x\"",
        "\"",
        "true",
        "false",
        "null",
        "1",
        "-2.5e3",
        " ",
        "\\",
        "é",
        "type",
        "members[value",
        "\"2020-01-01T00:00:00Z\"",
        "meta.created",
    ]);
    prop::collection::vec(tok, 0..24).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn filter_parser_never_panics(s in any::<String>()) {
        let _ = Filter::parse(&s);
        let _ = PatchPath::parse(&s);
        let _ = AttrPath::parse(&s);
    }

    #[test]
    fn grammar_like_inputs_never_panic(s in grammarish()) {
        let schemas = Schemas::builtin();
        if let Ok(f) = Filter::parse(&s) {
            let _ = f.matches(&sample(), &schemas, "Users");
            let _ = f.check(&schemas, "Users");
            let _ = f.plan(&|_| true);
            // What we print, we parse back to the same tree.
            let again = Filter::parse(&f.to_string());
            prop_assert_eq!(again.ok(), Some(f));
        }
        if PatchPath::parse(&s).is_ok() {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "add", "path": s, "value": "v"},
                    {"op": "remove", "path": s}
                ]
            });
            let _ = apply_patch(&sample(), &body, &schemas, "Users");
        }
    }

    #[test]
    fn patch_never_panics_on_arbitrary_values(key in "[a-zA-Z.:\\[\\] \"]{0,30}", val in any::<i64>(), b in any::<bool>()) {
        let schemas = Schemas::builtin();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "value": {key.clone(): val}},
                {"op": "Add", "path": key, "value": [{"value": b}]}
            ]
        });
        let _ = apply_patch(&sample(), &body, &schemas, "Users");
    }
}
