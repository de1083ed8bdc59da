//! The card a model dataset writes beside its artifacts: `model.json`,
//! `{ "framework": …, "metrics": { name: number }, "signature": { "inputs":
//! […], "outputs": […] }, "files": […] }`. Its metrics go into the
//! instance's manifest, so models get checks, history and revert as data
//! does. Parsing is pure; the executor reads the file.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The card's file name, in the job's output.
pub const MODEL_CARD: &str = "model.json";

/// A parsed, valid `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelCard {
    pub framework: String,
    pub metrics: BTreeMap<String, f64>,
    pub signature: Signature,
    /// The artifact files, relative to the output.
    pub files: Vec<String>,
}

/// What the model reads and answers (free-form entries, e.g. names or
/// `{ "name": …, "type": … }`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signature {
    pub inputs: Vec<Value>,
    pub outputs: Vec<Value>,
}

/// A metric name a check can read: a letter or `_`, then letters, digits,
/// `_` or `.`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Parses and checks `model.json`. The error names the field and says what
/// it must be.
pub fn parse(bytes: &[u8]) -> Result<ModelCard, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "{MODEL_CARD} is not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(o) = v else {
        return Err(format!("{MODEL_CARD} must be a JSON object"));
    };
    for k in o.keys() {
        if !["framework", "metrics", "signature", "files"].contains(&k.as_str()) {
            return Err(format!(
                "{MODEL_CARD} has an unknown key `{k}`; the keys are framework, metrics, signature and files"
            ));
        }
    }
    let framework = match o.get("framework") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => {
            return Err(format!(
                "{MODEL_CARD}: `framework` must be a non-empty string, e.g. \"sklearn\""
            ));
        }
    };
    let Some(Value::Object(m)) = o.get("metrics") else {
        return Err(format!(
            "{MODEL_CARD}: `metrics` must be an object of numbers, e.g. {{\"auc\": 0.81}}"
        ));
    };
    let mut metrics = BTreeMap::new();
    for (name, value) in m {
        if !is_name(name) {
            return Err(format!(
                "{MODEL_CARD}: metric `{name}` is not a name a check can read (letters, digits, `_` and `.`, not first a digit)"
            ));
        }
        match value.as_f64().filter(|f| f.is_finite()) {
            Some(f) => {
                metrics.insert(name.clone(), f);
            }
            None => {
                return Err(format!(
                    "{MODEL_CARD}: metrics.{name} must be a finite number, not {value}"
                ));
            }
        }
    }
    let signature = match o.get("signature") {
        Some(Value::Object(s)) => {
            let list = |k: &str| match s.get(k) {
                Some(Value::Array(a)) => Ok(a.clone()),
                _ => Err(format!("{MODEL_CARD}: `signature.{k}` must be a list")),
            };
            Signature {
                inputs: list("inputs")?,
                outputs: list("outputs")?,
            }
        }
        _ => {
            return Err(format!(
                "{MODEL_CARD}: `signature` must be an object with `inputs` and `outputs` lists"
            ));
        }
    };
    let Some(Value::Array(fs)) = o.get("files") else {
        return Err(format!(
            "{MODEL_CARD}: `files` must list the artifact files, e.g. [\"model.bin\"]"
        ));
    };
    let mut files = Vec::new();
    for f in fs {
        let Some(name) = f.as_str() else {
            return Err(format!("{MODEL_CARD}: `files` must hold file names, not {f}"));
        };
        if name.is_empty()
            || name.starts_with('/')
            || name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == ".." || p.starts_with('_'))
        {
            return Err(format!(
                "{MODEL_CARD}: `{name}` in `files` is not a file of the output (relative, no `..`, no names starting with `_`)"
            ));
        }
        files.push(name.to_string());
    }
    Ok(ModelCard {
        framework,
        metrics,
        signature,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"framework": "sklearn", "metrics": {"auc": 0.81, "rows.train": 1000},
        "signature": {"inputs": ["user_id"], "outputs": [{"name": "track_id", "type": "string"}]},
        "files": ["model.bin", "vocab/tracks.txt"]}"#;

    #[test]
    fn a_card_parses_with_its_metrics() {
        let c = parse(GOOD.as_bytes()).expect("valid");
        assert_eq!(c.framework, "sklearn");
        assert_eq!(c.metrics.get("auc"), Some(&0.81));
        assert_eq!(c.metrics.get("rows.train"), Some(&1000.0));
        assert_eq!(c.files, ["model.bin", "vocab/tracks.txt"]);
        assert_eq!(c.signature.inputs.len(), 1);
    }

    #[test]
    fn bad_cards_name_the_field() {
        for (body, says) in [
            ("{", "not valid JSON at line 1"),
            ("[]", "must be a JSON object"),
            (
                r#"{"framework": "", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": []}"#,
                "`framework`",
            ),
            (
                r#"{"framework": "x", "metrics": {"auc": "high"}, "signature": {"inputs": [], "outputs": []}, "files": []}"#,
                "metrics.auc must be a finite number",
            ),
            (
                r#"{"framework": "x", "metrics": {"1x": 1}, "signature": {"inputs": [], "outputs": []}, "files": []}"#,
                "metric `1x`",
            ),
            (
                r#"{"framework": "x", "metrics": {}, "signature": {"inputs": []}, "files": []}"#,
                "signature.outputs",
            ),
            (
                r#"{"framework": "x", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": ["../x"]}"#,
                "`../x` in `files`",
            ),
            (
                r#"{"framework": "x", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": ["_SUCCESS"]}"#,
                "`_SUCCESS` in `files`",
            ),
            (
                r#"{"framework": "x", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": [], "auc": 1}"#,
                "unknown key `auc`",
            ),
        ] {
            let err = parse(body.as_bytes()).expect_err(body);
            assert!(err.contains(says), "{body}: {err}");
        }
    }
}
