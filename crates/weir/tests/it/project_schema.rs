//! `weir schema`: the JSON Schema of weir.toml that editors complete and
//! validate with. Every project the tests write is also checked against it
//! (`support::project`), so it never refuses what the loader accepts.

use crate::support::{NOW, exec, project, schema_errors};

const SHIPPED: &str = include_str!("../../../../schema/weir.schema.json");

#[test]
fn weir_schema_prints_the_shipped_schema_and_init_points_editors_at_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, printed, err) = exec(tmp.path(), NOW, &["schema"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed, SHIPPED, "schema/weir.schema.json is what `weir schema` prints");
    let schema: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");

    let dir = tmp.path().join("p");
    let (code, _, err) = exec(tmp.path(), NOW, &["init", dir.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    let toml = std::fs::read_to_string(dir.join("weir.toml")).expect("weir.toml");
    assert_eq!(
        toml.lines().next(),
        Some("#:schema ./weir.schema.json"),
        "taplo reads the first line"
    );
    let beside = std::fs::read_to_string(dir.join("weir.schema.json")).expect("weir.schema.json");
    assert_eq!(beside, printed);
    assert_eq!(schema_errors(&toml), Vec::<String>::new(), "the template validates");

    // The ML demo's project validates too (the nearline one is checked when
    // its test writes it).
    let ml = include_str!("../../src/demo/ml/weir.toml").replace("START", "2026-01-01");
    assert!(ml.starts_with("#:schema ./weir.schema.json\n"));
    assert_eq!(schema_errors(&ml), Vec::<String>::new());

    // `--write` refreshes a stale copy (after an upgrade).
    std::fs::write(dir.join("weir.schema.json"), "{}").expect("stale");
    let (code, _, err) = exec(&dir, NOW, &["schema", "--write"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("weir.schema.json")).expect("read"),
        printed
    );
}

#[test]
fn a_misspelt_key_is_refused_by_the_loader_and_the_schema_alike() {
    let toml = "[project]\nname = \"p\"\nstart = \"2026-01-01\"\n\n[datasets.a]\npartiton = \"day\"\nsql = \"SELECT 1 AS x\"\n";
    let dir = project(toml, &[]);
    let (code, _, err) = exec(dir.path(), NOW, &["validate"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("weir.toml:6:1") && err.contains("unknown key `partiton`"),
        "{err}"
    );
    assert!(err.contains("did you mean `partition`?"), "{err}");
    let errors = schema_errors(toml);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("partiton") && e.ends_with("/datasets/a")),
        "{errors:?}"
    );
    // A value of the wrong kind: the loader and the schema both refuse it.
    let toml = toml.replace("partiton = \"day\"", "partition = \"day\"\nretries = \"three\"");
    let dir = project(&toml, &[]);
    let (code, _, err) = exec(dir.path(), NOW, &["validate"]);
    assert_ne!(code, 0, "{err}");
    assert!(schema_errors(&toml).iter().any(|e| e.ends_with("/datasets/a/retries")));
}
