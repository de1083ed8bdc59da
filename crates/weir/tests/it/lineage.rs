//! OpenLineage: every run's START and its end, validated against the
//! OpenLineage JSON Schemas (spec 2-0-2, copied into `tests/schemas`) with
//! Python's `jsonschema` (which `./scripts/test` installs).

use crate::support::*;
use serde_json::Value;

const PROJECT: &str = r#"
[project]
name = "ol"
start = "2026-01-03"
[lineage]
url = "lineage.jsonl"
[datasets.raw]
partition = "hour"
ingest = { path = "landing/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.daily]
partition = "day"
inputs = ["raw"]
sql = "SELECT count(*) AS n FROM raw"
[datasets.broken]
partition = "day"
inputs = ["daily"]
command = ["sh", "-c", "echo no >&2; exit 3"]
"#;

const VALIDATE: &str = r##"
import json, sys, pathlib
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
root = pathlib.Path(sys.argv[1])
resources = []
for p in [root / "OpenLineage.json", *sorted((root / "facets").glob("*.json"))]:
    doc = json.loads(p.read_text())
    resources.append((doc["$id"], Resource.from_contents(doc)))
registry = Registry().with_resources(resources)
main = json.loads((root / "OpenLineage.json").read_text())
run_event = {"$ref": main["$id"] + "#/$defs/RunEvent"}
facet_schemas = {
    "sql": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
    "errorMessage": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "outputStatistics": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
}
checker = Draft202012Validator.FORMAT_CHECKER
n = 0
for line in sys.stdin:
    e = json.loads(line)
    Draft202012Validator(run_event, registry=registry, format_checker=checker).validate(e)
    facets = dict(e["job"].get("facets", {}))
    facets.update(e["run"].get("facets", {}))
    for o in e.get("outputs", []):
        facets.update(o.get("outputFacets", {}))
    for name, f in facets.items():
        Draft202012Validator({"$ref": facet_schemas[name]}, registry=registry, format_checker=checker).validate(f)
    n += 1
print(n)
"##;

#[test]
fn run_events_are_valid_openlineage() {
    let python = std::env::var("WEIR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let files = landed("2026-01-03", 0..24);
    let tmp = project_with(PROJECT, &files);
    let dir = tmp.path();
    let (code, _, err) = exec(dir, NOW, &["run"]);
    assert_eq!(code, 1, "the broken job fails the run: {err}");
    let text = std::fs::read_to_string(dir.join("lineage.jsonl")).expect("lineage.jsonl");
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    // 24 hours + 1 day + 1 broken: a START and an end each.
    assert_eq!(events.len(), 2 * 26, "{text}");
    let kind = |k: &str| events.iter().filter(|e| e["eventType"] == k).count();
    assert_eq!((kind("START"), kind("COMPLETE"), kind("FAIL")), (26, 25, 1));
    let daily = events
        .iter()
        .find(|e| e["eventType"] == "COMPLETE" && e["job"]["name"] == "daily")
        .expect("daily completes");
    assert_eq!(
        daily["inputs"].as_array().map(Vec::len),
        Some(24),
        "the 24 hours it read"
    );
    assert_eq!(daily["inputs"][0]["name"], "raw/v1/hour=2026-01-03T00");
    assert!(
        daily["inputs"][0]["namespace"]
            .as_str()
            .is_some_and(|n| n.starts_with("file:///"))
    );
    assert_eq!(daily["outputs"][0]["name"], "daily/v1/date=2026-01-03");
    assert_eq!(daily["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"], 1);
    assert_eq!(daily["job"]["facets"]["sql"]["query"], "SELECT count(*) AS n FROM raw");
    let failed = events.iter().find(|e| e["eventType"] == "FAIL").expect("a failure");
    assert!(
        failed["run"]["facets"]["errorMessage"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("exit")),
        "{failed}"
    );
    let start = events
        .iter()
        .find(|e| e["eventType"] == "START" && e["run"]["runId"] == failed["run"]["runId"]);
    assert!(start.is_some(), "the failed run started");
    // Every event, and every facet, against the OpenLineage schemas.
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/openlineage");
    let mut child = std::process::Command::new(&python)
        .args(["-c", VALIDATE, schemas.to_str().expect("utf8")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python (./scripts/test sets WEIR_TEST_PYTHON)");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("validate");
    assert!(
        out.status.success(),
        "OpenLineage validation failed (needs jsonschema: ./scripts/test installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "52");
}
