//! Models are datasets (issue 20): a `kind = "model"` command job writes its
//! artifacts and a `model.json` card; the card's metrics go into the
//! manifest, where checks (with history) judge them as they judge data.

use crate::support::*;

const TRAIN: &str = r#"
set -e
case "$WEIR_PARTITION" in
  date=2026-01-04) auc=0.55 ;;
  *) auc=0.81 ;;
esac
printf 'weights of %s' "$WEIR_PARTITION" > "$WEIR_OUTPUT/model.bin"
cat > "$WEIR_OUTPUT/model.json" <<CARD
{"framework": "none", "metrics": {"auc": $auc, "rows.train": 1000},
 "signature": {"inputs": ["user_id"], "outputs": ["track_id"]}, "files": ["model.bin"]}
CARD
"#;

const PROJECT: &str = r#"
[project]
name = "m"
start = "2026-01-01"

[datasets.reco]
partition = "day"
kind = "model"
command = ["sh", "scripts/train.sh"]
checks = [
  "auc > 0.7",
  { name = "vs last week", check = "auc >= 0.95 * median(auc, 7)", severity = "warn" },
]

[datasets.no_card]
partition = "day"
kind = "model"
command = ["sh", "-c", "echo x > \"$WEIR_OUTPUT/model.bin\""]
"#;

#[test]
fn a_models_card_metrics_are_sealed_and_checked_like_data() {
    let tmp = project(PROJECT, &[("scripts/train.sh", TRAIN)]);
    let dir = tmp.path();
    let now = "2026-01-05T00:30:00Z";
    let (code, out, _) = exec(dir, now, &["run", "--json"]);
    assert_ne!(code, 0, "no_card fails: {out}");
    assert!(
        out.contains("a model dataset writes model.json into $WEIR_OUTPUT"),
        "{out}"
    );
    let st = status(dir, now);
    assert_eq!(st["reco"]["complete"], 4, "{}", st["reco"]);
    assert_eq!(
        st["reco"]["blocked"], 1,
        "the day with auc 0.55 is blocked: {}",
        st["reco"]
    );
    let shown = json(dir, now, &["show", "reco", "--partition", "2026-01-02"]);
    assert_eq!(shown["metrics"]["auc"], 0.81, "{shown}");
    assert_eq!(shown["metrics"]["rows.train"], 1000.0, "{shown}");
    let names: Vec<&str> = shown["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["model.bin", "model.json"]);
    let bad = json(dir, now, &["show", "reco", "--partition", "2026-01-04"]);
    let checks = bad["checks"].as_array().expect("checks");
    let auc = checks.iter().find(|c| c["name"] == "auc > 0.7").expect("the auc check");
    assert_eq!(auc["status"], "fail", "{bad}");
    let week = checks
        .iter()
        .find(|c| c["name"] == "vs last week")
        .expect("the history check");
    assert_eq!(week["status"], "fail", "0.55 < 0.95 × median(0.81): {bad}");
}

#[test]
fn a_model_card_that_lies_or_a_model_that_is_not_a_command_is_a_clear_error() {
    let lying = r#"printf x > "$WEIR_OUTPUT/a.bin"; printf '{"framework": "x", "metrics": {}, "signature": {"inputs": [], "outputs": []}, "files": ["a.bin", "b.bin"]}' > "$WEIR_OUTPUT/model.json""#;
    let toml = format!(
        "[project]\nname = \"m\"\nstart = \"2026-01-01\"\n[datasets.reco]\npartition = \"day\"\nkind = \"model\"\ncommand = [\"sh\", \"-c\", {lying:?}]\n"
    );
    let tmp = project(&toml, &[]);
    let (code, out, _) = exec(tmp.path(), "2026-01-02T00:30:00Z", &["run", "--json"]);
    assert_ne!(code, 0);
    assert!(out.contains("lists `b.bin`, which the job did not write"), "{out}");
    let toml = "[project]\nname = \"m\"\nstart = \"2026-01-01\"\n[datasets.reco]\npartition = \"day\"\nkind = \"model\"\nsql = \"SELECT 1 AS x\"\n";
    let tmp = project(toml, &[]);
    let (code, _, err) = exec(tmp.path(), "2026-01-02T00:30:00Z", &["validate"]);
    assert_ne!(code, 0);
    assert!(err.contains("a model dataset is a command job"), "{err}");
    assert!(err.contains("weir.toml:6:8"), "located: {err}");
}
