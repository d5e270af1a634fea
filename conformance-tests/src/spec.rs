//! The specification the suite checks against, compiled into the binary so that the runner
//! needs nothing but a server: `spec/openapi.yaml` (every answer is validated against its
//! operation's schema) and the clause documents (every case cites clauses from them).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use jsonschema::Validator;
use regex::Regex;
use serde_json::Value;

pub const OPENAPI_YAML: &str = include_str!("../../spec/openapi.yaml");
/// The documents whose numbered clauses the cases cite.
pub const CLAUSE_DOCUMENTS: [(&str, &str); 4] = [
    (
        "room-semantics.md",
        include_str!("../../spec/room-semantics.md"),
    ),
    ("usersig.md", include_str!("../../spec/usersig.md")),
    ("url-signing.md", include_str!("../../spec/url-signing.md")),
    ("events.md", include_str!("../../spec/events.md")),
];

/// `spec/openapi.yaml` as JSON, and a validator per response schema.
pub struct Spec {
    pub document: Value,
    validators: BTreeMap<String, Validator>,
}

impl Spec {
    /// The compiled-in specification (parsed once).
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| Spec::parse(OPENAPI_YAML).expect("spec/openapi.yaml is valid"))
    }

    pub fn parse(yaml: &str) -> Result<Spec, String> {
        let document: Value =
            serde_norway::from_str(yaml).map_err(|e| format!("openapi.yaml: {e}"))?;
        let schemas = document["components"]["schemas"]
            .as_object()
            .ok_or("openapi.yaml has no components.schemas")?;
        let mut validators = BTreeMap::new();
        for name in schemas.keys().filter(|n| n.ends_with("Response")) {
            // The whole document is the root resource, so `#/components/...` references
            // resolve; the keywords OpenAPI adds around the schemas are unknown to JSON Schema
            // and ignored.
            let mut root = document.clone();
            let root_map = root.as_object_mut().expect("an object");
            root_map.insert(
                "$schema".into(),
                "https://json-schema.org/draft/2020-12/schema".into(),
            );
            root_map.insert("$ref".into(), format!("#/components/schemas/{name}").into());
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .map_err(|e| format!("schema {name}: {e}"))?;
            validators.insert(name.clone(), validator);
        }
        Ok(Spec {
            document,
            validators,
        })
    }

    /// The response schema of an API: `add_pusher` → `AddPusherResponse`.
    pub fn response_schema_name(api: &str) -> String {
        let camel: String = api
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("{camel}Response")
    }

    /// Checks an answer of `api` against its schema; the error lists what did not match.
    pub fn validate(&self, api: &str, answer: &Value) -> Result<(), String> {
        let name = Self::response_schema_name(api);
        let validator = self
            .validators
            .get(&name)
            .ok_or_else(|| format!("openapi.yaml has no schema {name}"))?;
        let errors: Vec<String> = validator
            .iter_errors(answer)
            .take(3)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Every API that needs a session, as (room type, API): the operations under the
    /// document's global `security` (an operation that overrides it with `[]`, or offers `{}`
    /// among its options, can be called without a token). A `{roomType}` path is listed under
    /// each room type.
    pub fn authenticated_apis(&self) -> Vec<(&'static str, String)> {
        const ROOM_TYPES: [&str; 3] = ["double_room", "multi_room", "live_room"];
        let global = self.document["security"]
            .as_array()
            .is_some_and(|options| !options.is_empty() && !options.iter().any(is_empty_object));
        let mut apis = Vec::new();
        for (path, item) in self.document["paths"].as_object().into_iter().flatten() {
            let Some((scope, api)) = path
                .strip_prefix("/weapp/")
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            let required = item.as_object().into_iter().flatten().all(|(_, op)| {
                match op.get("security").and_then(Value::as_array) {
                    None => global,
                    Some(options) => !options.is_empty() && !options.iter().any(is_empty_object),
                }
            });
            if !required {
                continue;
            }
            let scopes: Vec<&'static str> = match scope {
                "{roomType}" => ROOM_TYPES.to_vec(),
                other => ROOM_TYPES.into_iter().filter(|t| *t == other).collect(),
            };
            apis.extend(scopes.into_iter().map(|t| (t, api.to_owned())));
        }
        apis
    }

    /// Every protocol code the document names: each `code` property's `const`/`enum` values.
    pub fn codes(&self) -> BTreeSet<i64> {
        fn walk(v: &Value, out: &mut BTreeSet<i64>) {
            match v {
                Value::Object(map) => {
                    if let Some(code) = map.get("properties").and_then(|p| p.get("code")) {
                        for key in ["const", "enum"] {
                            match code.get(key) {
                                Some(Value::Array(values)) => {
                                    out.extend(values.iter().filter_map(Value::as_i64))
                                }
                                Some(value) => out.extend(value.as_i64()),
                                None => {}
                            }
                        }
                    }
                    map.values().for_each(|v| walk(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.document, &mut out);
        out
    }
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

/// Every clause ID defined (as `**ID**`) in the clause documents, with its document.
pub fn clauses() -> BTreeMap<String, &'static str> {
    let defined = Regex::new(r"\*\*([A-Z]+(?:-[A-Z]+)*-\d+)\*\*").expect("valid regex");
    let mut out = BTreeMap::new();
    for (doc, text) in CLAUSE_DOCUMENTS {
        for m in defined.captures_iter(text) {
            out.insert(m[1].to_owned(), doc);
        }
    }
    out
}
