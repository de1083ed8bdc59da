//! The key tables as a JSON Schema (draft-07) for editors: what `weir schema`
//! prints and the repository ships.

use super::{NameRule, ROOT, Table, Ty};
use serde_json::{Map, Value, json};

impl Ty {
    fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        match self {
            Ty::Str => json!({"type": "string"}),
            Ty::Enum(vs) => json!({"type": "string", "enum": vs}),
            Ty::Pattern(p, words) => json!({"type": "string", "pattern": p, "description": words}),
            Ty::Int(lo, hi) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("integer"));
                if let Some(lo) = lo {
                    m.insert("minimum".into(), json!(lo));
                }
                if let Some(hi) = hi {
                    m.insert("maximum".into(), json!(hi));
                }
                Value::Object(m)
            }
            Ty::Number(min) => json!({"type": "number", "minimum": min}),
            Ty::False => json!({"const": false}),
            Ty::Date => json!({"$ref": "#/definitions/date"}),
            Ty::Duration => json!({"$ref": "#/definitions/duration"}),
            Ty::Table(t) => {
                let id = t.id.to_string();
                if !defs.contains_key(&id) {
                    // Reserve the name first: tables may be reached twice.
                    defs.insert(id.clone(), Value::Null);
                    let s = t.schema(defs);
                    defs.insert(id.clone(), s);
                }
                json!({"$ref": format!("#/definitions/{id}")})
            }
            Ty::Map(inner, names) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("object"));
                m.insert("additionalProperties".into(), inner.schema(defs));
                match names {
                    NameRule::Any => {}
                    NameRule::Ident => {
                        m.insert("propertyNames".into(), json!({"pattern": "^[a-z][a-z0-9_]{0,63}$"}));
                    }
                    NameRule::Counter => {
                        m.insert("propertyNames".into(), json!({"pattern": "^[a-z0-9_.]+$"}));
                    }
                }
                Value::Object(m)
            }
            Ty::List(inner) => json!({"type": "array", "items": inner.schema(defs)}),
            Ty::Either(tys) => json!({"anyOf": tys.iter().map(|t| t.schema(defs)).collect::<Vec<_>>()}),
        }
    }
}

impl Table {
    fn schema(&self, defs: &mut Map<String, Value>) -> Value {
        let mut props = Map::new();
        for k in self.keys {
            let mut s = k.ty.schema(defs);
            if let Value::Object(m) = &mut s {
                let mut doc = k.doc.to_string();
                if let Some(d) = k.default {
                    doc.push_str(&format!(" Default: {d}."));
                }
                // A `$ref` beside other keywords is ignored by draft-07
                // validators, so a reference is wrapped.
                if m.contains_key("$ref") {
                    s = json!({"allOf": [s], "description": doc});
                } else {
                    m.insert("description".into(), json!(doc));
                }
            }
            props.insert(k.name.to_string(), s);
        }
        let required: Vec<&str> = self.keys.iter().filter(|k| k.required).map(|k| k.name).collect();
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        m.insert("description".into(), json!(self.doc));
        m.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            m.insert("required".into(), json!(required));
        }
        m.insert("additionalProperties".into(), json!(false));
        Value::Object(m)
    }
}

/// The JSON Schema (draft-07, which TOML language servers such as taplo read)
/// of `weir.toml`. TOML dates are strings to a validator.
pub fn json_schema() -> Value {
    let mut defs = Map::new();
    defs.insert(
        "date".into(),
        json!({
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "description": "A date or instant: \"2026-01-01\" or \"2026-01-01T06:00:00Z\" (UTC)."
        }),
    );
    defs.insert(
        "duration".into(),
        json!({
            "type": "string",
            "pattern": "^\\s*[+-]?[0-9]+(s|m|min|h|d|w|mo)\\s*$",
            "description": "A duration: a whole number and a unit, s, m, h, d, w or mo (\"28d\", \"-1d\", \"15m\")."
        }),
    );
    let Value::Object(mut root) = ROOT.schema(&mut defs) else {
        return Value::Null;
    };
    root.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
    root.insert("title".into(), json!("weir.toml"));
    root.insert(
        "description".into(),
        json!("A weir project's definitions (docs/reference.md). Print it with `weir schema`."),
    );
    root.insert("definitions".into(), Value::Object(defs));
    Value::Object(root)
}

/// Where `weir init` puts the schema in a project; the template's first
/// line, `#:schema ./weir.schema.json`, points editors at it.
pub const SCHEMA_FILE: &str = "weir.schema.json";

/// [`json_schema`] as the file `weir schema` prints and the repository ships
/// (`schema/weir.schema.json`).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// A TOML document as JSON, the way a TOML language server hands it to a
/// JSON Schema validator: dates and times become strings.
pub fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::tables;

    /// Every project a test of this crate loads is also checked against the
    /// schema (`load_project` calls this in test builds), so the schema can
    /// never refuse what the loader accepts.
    pub(crate) fn assert_schema_accepts(text: &str) {
        let schema = json_schema();
        let validator = match jsonschema::validator_for(&schema) {
            Ok(v) => v,
            Err(e) => panic!("the schema does not compile: {e}"),
        };
        let doc: toml::Value = match toml::from_str(text) {
            Ok(d) => d,
            Err(e) => panic!("the loader accepted TOML that toml does not parse: {e}"),
        };
        let errors: Vec<String> = validator
            .iter_errors(&toml_to_json(&doc))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "the loader accepts this project but the schema refuses it:\n{}\n---\n{text}",
            errors.join("\n")
        );
    }

    fn schema_errors(text: &str) -> Vec<String> {
        let schema = json_schema();
        let Ok(validator) = jsonschema::validator_for(&schema) else {
            panic!("the schema does not compile");
        };
        let doc: toml::Value = toml::from_str(text).expect("toml");
        validator
            .iter_errors(&toml_to_json(&doc))
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    #[test]
    fn the_schema_refuses_what_the_loader_refuses() {
        let base =
            "[project]\nname = \"p\"\nstart = 2026-01-01\n[datasets.a]\npartition = \"day\"\nsql = \"SELECT 1\"\n";
        assert_eq!(schema_errors(base), Vec::<String>::new());
        for (extra, at) in [
            ("partiton = \"day\"", "/datasets/a"),
            ("retries = 500", "/datasets/a/retries"),
            ("engine = \"duckdb\"", "/datasets/a/engine"),
            ("delay = \"2 hours\"", "/datasets/a/delay"),
            (
                "inputs = { raw = { dataset = \"b\", windw = \"2d\" } }",
                "/datasets/a/inputs",
            ),
            (
                "checks = [{ check = \"rows_out > 0\", severity = \"fatal\" }]",
                "/datasets/a/checks/0",
            ),
        ] {
            let errs = schema_errors(&format!("{base}{extra}\n"));
            assert!(errs.iter().any(|e| e.ends_with(at)), "{extra}: {errs:?}");
        }
        let errs = schema_errors("[project]\nname = \"p\"\n[datasets.Bad]\nsql = \"SELECT 1\"\n");
        assert!(!errs.is_empty(), "a dataset name that is not an identifier");
        let errs = schema_errors("[projct]\nname = \"p\"\n");
        assert_eq!(errs.len(), 2, "no [project], and an unknown table: {errs:?}");
    }

    #[test]
    fn every_table_is_reachable_from_the_root_and_titled_once() {
        let schema = json_schema();
        let defs = schema["definitions"].as_object().map(|m| m.len()).unwrap_or(0);
        // Every table but the root is a definition, plus date and duration.
        assert_eq!(defs, tables().len() - 1 + 2, "{schema:#}");
        let mut titles: Vec<&str> = tables().iter().map(|t| t.title).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), tables().len());
    }

    #[test]
    fn key_names_are_unique_within_a_table() {
        for t in tables() {
            let mut names: Vec<&str> = t.names().collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "a key is listed twice in {}", t.title);
        }
    }
}
