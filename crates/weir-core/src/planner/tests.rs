use super::*;
use crate::load::load_project;
use crate::partition::{Granularity, parse_instant};

const PROJECT: &str = r#"
[project]
name = "t"
start = "2026-01-01"
[datasets.raw]
partition = "hour"
ingest = { path = "l/{date}/{hour}.jsonl", format = "jsonl" }
[datasets.daily]
partition = "day"
inputs = ["raw"]
sql = "SELECT count(*) AS n FROM raw"
[datasets.weekly]
partition = "day"
inputs = { d = { dataset = "daily", window = "7d" } }
sql = "SELECT sum(n) AS n FROM d"
"#;

fn project() -> Project {
    load_project(PROJECT, &|_| Err("no files".into())).expect("valid")
}

fn now() -> DateTime<Utc> {
    parse_instant("2026-01-04T00:30:00Z").expect("now")
}

fn hours(from: &str, n: i64) -> PartSet {
    let lo = Granularity::Hour.index_of(parse_instant(from).expect("t"));
    (lo..lo + n).collect()
}

#[test]
fn ingest_waits_for_landing_and_runs_newest_first() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.landed.insert("raw".into(), hours("2026-01-01", 30));
    let plan = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    assert_eq!(plan.runnable, 30);
    assert_eq!(
        Granularity::Hour.format_key(plan.tasks[0].partition),
        "hour=2026-01-02T05"
    );
    let raw = &plan.datasets.iter().find(|d| d.dataset == "raw").expect("raw");
    assert_eq!((raw.desired, raw.runnable, raw.waiting), (72, 30, 42));
    let b = plan
        .blocked
        .iter()
        .find(|b| b.dataset == "daily")
        .expect("daily blocked");
    assert_eq!(
        b.reason,
        Reason::WaitingFor {
            dataset: "raw".into(),
            partition: Granularity::Hour.parse_partition("2026-01-01T00").expect("p")
        }
    );
    assert_eq!(b.count, 3);
}

#[test]
fn downstream_runs_when_inputs_are_complete_and_windows_clip() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 48));
    let plan1 = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    let daily: Vec<String> = plan1
        .tasks
        .iter()
        .filter(|t| t.dataset == "daily")
        .map(|t| Granularity::Day.format_key(t.partition))
        .collect();
    assert_eq!(daily, vec!["date=2026-01-01", "date=2026-01-02"]);
    assert_eq!(plan1.tasks[0].inputs[0].hi - plan1.tasks[0].inputs[0].lo, 24);
    // weekly on day 2 reads days 1..2 (clipped to daily's start).
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    snap.present.insert("daily".into(), [d1, d1 + 1].into_iter().collect());
    let plan2 = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    let weekly: Vec<&Task> = plan2.tasks.iter().filter(|t| t.dataset == "weekly").collect();
    assert_eq!(weekly.len(), 2);
    assert_eq!((weekly[1].inputs[0].lo, weekly[1].inputs[0].hi), (d1, d1 + 2));
}

#[test]
fn running_and_failed_instances_are_not_dispatched() {
    let p = project();
    let mut snap = Snapshot::default();
    let landed = hours("2026-01-01", 3);
    snap.landed.insert("raw".into(), landed.clone());
    let first = landed.iter().next().expect("one");
    snap.running.insert("raw".into(), [first].into_iter().collect());
    snap.failed.insert("raw".into(), [first + 1].into_iter().collect());
    let plan = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, Some(10));
    assert_eq!(plan.tasks.len(), 1);
    let raw = plan.datasets.iter().find(|d| d.dataset == "raw").expect("raw");
    assert_eq!((raw.running, raw.failed), (1, 1));
}

#[test]
fn complete_means_nothing_to_do() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    snap.present.insert("daily".into(), (d1..d1 + 3).collect());
    snap.present.insert("weekly".into(), (d1..d1 + 3).collect());
    let plan = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    assert_eq!(plan.runnable, 0);
    assert!(plan.blocked.is_empty());
    assert!(plan.datasets.iter().all(|d| d.present == d.desired));
}

#[test]
fn selection_pulls_in_upstream_ranges() {
    let p = project();
    let sel = Selection {
        datasets: vec!["weekly".into()],
        from: parse_instant("2026-01-03"),
        until: parse_instant("2026-01-04"),
        ..Default::default()
    };
    let r = desired_ranges(&p, now(), &sel);
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    assert_eq!(r["weekly"], (d1 + 2, d1 + 3));
    assert_eq!(
        r["daily"],
        (d1, d1 + 3),
        "the 7-day window reaches back to daily's start"
    );
    assert_eq!(r["raw"].1 - r["raw"].0, 72);
    let only_daily = Selection {
        datasets: vec!["daily".into()],
        ..Default::default()
    };
    assert!(!desired_ranges(&p, now(), &only_daily).contains_key("weekly"));
}

#[test]
fn the_limit_keeps_the_first_tasks_in_order() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.landed.insert("raw".into(), hours("2026-01-01", 72));
    let all = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    let some = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, Some(5));
    assert_eq!(some.runnable, 72);
    assert_eq!(some.tasks, all.tasks[..5].to_vec());
}

#[test]
fn a_blocked_instance_is_present_but_not_consumed() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    snap.present.insert("daily".into(), (d1..d1 + 3).collect());
    snap.blocked.insert("daily".into(), [d1 + 1].into_iter().collect());
    let plan = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    // daily is complete (the blocked one is not rebuilt) …
    let daily = plan.datasets.iter().find(|d| d.dataset == "daily").expect("daily");
    assert_eq!((daily.present, daily.runnable, daily.blocked), (3, 0, 1));
    // … and weekly builds only day 1, whose 7-day window does not reach the blocked day.
    let weekly: Vec<i64> = plan
        .tasks
        .iter()
        .filter(|t| t.dataset == "weekly")
        .map(|t| t.partition)
        .collect();
    assert_eq!(weekly, vec![d1]);
    let b = plan
        .blocked
        .iter()
        .find(|b| b.dataset == "weekly")
        .expect("weekly held");
    assert_eq!(
        b.reason,
        Reason::InputBlocked {
            dataset: "daily".into(),
            partition: d1 + 1
        }
    );
    assert_eq!(b.count, 2);
}

#[test]
fn a_metrics_dataset_gates_the_consumers_of_what_it_measures() {
    let text = format!(
        "{PROJECT}[datasets.daily_quality]\npartition = \"day\"\nmetrics_of = \"daily\"\nsql = \"SELECT sum(n) AS total FROM daily\"\nchecks = [\"total > 0\"]\n"
    );
    let p = load_project(&text, &|_| Err("no files".into())).expect("valid");
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    snap.present.insert("daily".into(), (d1..d1 + 3).collect());
    // Selecting only weekly still builds the gate over what weekly reads.
    let sel = Selection {
        datasets: vec!["weekly".into()],
        ..Default::default()
    };
    let plan1 = plan(&p, &snap, now(), &sel, Order::OldestFirst, None);
    let runnable: Vec<&str> = plan1.tasks.iter().map(|t| t.dataset.as_str()).collect();
    assert_eq!(runnable, vec!["daily_quality", "daily_quality", "daily_quality"]);
    assert!(matches!(
        &plan1.blocked.iter().find(|b| b.dataset == "weekly").expect("waits").reason,
        Reason::WaitingFor { dataset, .. } if dataset == "daily_quality"
    ));
    // The gate built: day 2 failed its check, so weekly is held from day 2 on;
    // the metrics dataset itself still reads the blocked day.
    snap.present.insert("daily_quality".into(), (d1..d1 + 3).collect());
    snap.blocked
        .insert("daily_quality".into(), [d1 + 1].into_iter().collect());
    let plan2 = plan(&p, &snap, now(), &sel, Order::OldestFirst, None);
    let weekly: Vec<i64> = plan2.tasks.iter().map(|t| t.partition).collect();
    assert_eq!(weekly, vec![d1]);
    assert!(matches!(
        &plan2.blocked.iter().find(|b| b.dataset == "weekly").expect("held").reason,
        Reason::InputBlocked { dataset, partition } if dataset == "daily_quality" && *partition == d1 + 1
    ));
}

#[test]
fn a_dataset_with_history_checks_builds_oldest_first_one_at_a_time() {
    let text = PROJECT.replace(
        "sql = \"SELECT count(*) AS n FROM raw\"",
        "sql = \"SELECT count(*) AS n FROM raw\"\nchecks = [\"rows_out >= 0.5 * median(rows_out, 7)\"]",
    );
    let p = load_project(&text, &|_| Err("no files".into())).expect("valid");
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    let plan1 = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    let daily: Vec<i64> = plan1
        .tasks
        .iter()
        .filter(|t| t.dataset == "daily")
        .map(|t| t.partition)
        .collect();
    assert_eq!(daily, vec![d1], "only the oldest runs; the rest wait for it");
    // While it runs, the next one still waits; once it failed, the next one goes.
    snap.running.insert("daily".into(), [d1].into_iter().collect());
    let plan2 = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    assert!(plan2.tasks.iter().all(|t| t.dataset != "daily"));
    snap.running.clear();
    snap.failed.insert("daily".into(), [d1].into_iter().collect());
    let plan3 = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    let daily: Vec<i64> = plan3
        .tasks
        .iter()
        .filter(|t| t.dataset == "daily")
        .map(|t| t.partition)
        .collect();
    assert_eq!(daily, vec![d1 + 1]);
    // Inputs still being built count as pending: newest-first upstream does
    // not let the newest day jump ahead of its history.
    let mut snap = Snapshot::default();
    snap.landed.insert("raw".into(), hours("2026-01-01", 72));
    snap.present.insert("raw".into(), hours("2026-01-03", 24));
    let plan4 = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    assert!(
        plan4.tasks.iter().all(|t| t.dataset != "daily"),
        "day 3 waits for days 1–2"
    );
    // But a gap that will not fill (files never landed) does not stall it.
    snap.landed.clear();
    let plan5 = plan(&p, &snap, now(), &Selection::default(), Order::NewestFirst, None);
    let daily: Vec<i64> = plan5
        .tasks
        .iter()
        .filter(|t| t.dataset == "daily")
        .map(|t| t.partition)
        .collect();
    assert_eq!(daily, vec![d1 + 2]);
}

#[test]
fn a_paused_dataset_plans_nothing_and_what_reads_it_waits() {
    let p = project();
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    let sel = Selection {
        paused: ["daily".to_string()].into(),
        ..Default::default()
    };
    let out = plan(&p, &snap, now(), &sel, Order::OldestFirst, None);
    assert!(
        out.tasks.iter().all(|t| t.dataset != "daily"),
        "nothing of a paused dataset runs"
    );
    let daily = out.blocked.iter().find(|b| b.dataset == "daily").expect("reported");
    assert_eq!(daily.reason, Reason::Paused);
    assert_eq!(daily.count, 3);
    let unpaused = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    assert!(unpaused.tasks.iter().any(|t| t.dataset == "daily"));
}

#[test]
fn partitions_close_to_their_sla_go_before_a_backfill() {
    let mut p = project();
    let d1 = Granularity::Day.parse_partition("2026-01-01").expect("p");
    let mut snap = Snapshot::default();
    snap.present.insert("raw".into(), hours("2026-01-01", 72));
    snap.present.insert("daily".into(), (d1..d1 + 2).collect());
    // Oldest first: weekly's backfill (from the 1st) goes before daily's 3rd …
    let first = |p: &Project| {
        let out = plan(p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
        out.tasks.first().map(|t| (t.dataset.clone(), t.partition))
    };
    assert_eq!(first(&p), Some(("weekly".to_string(), d1)));
    // … unless daily has an SLA whose deadline (the 4th, 03:00) is within a day.
    p.datasets.get_mut("daily").expect("daily").sla =
        Some(crate::service::Sla::parse("3h", Granularity::Day).expect("sla"));
    assert_eq!(first(&p), Some(("daily".to_string(), d1 + 2)));
}

/// A stream's partitions are sealed by its collector, never planned as
/// tasks: missing ones wait as "unsealed", and what reads them waits for
/// them, then runs once they exist.
#[test]
fn streams_are_never_tasks_and_their_readers_wait_for_seals() {
    let p = load_project(
        "[project]\nname = \"s\"\nstart = \"2026-01-01\"\n[datasets.ev]\npartition = \"15m\"\nstream = { source = \"http\" }\n[datasets.daily]\npartition = \"day\"\ninputs = [\"ev\"]\nsql = \"SELECT count(*) AS n FROM ev\"\n",
        &|_| Err("no files".into()),
    )
    .expect("valid");
    let mut snap = Snapshot::default();
    let plan1 = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    assert!(plan1.tasks.is_empty(), "{:?}", plan1.tasks);
    let ev = plan1.blocked.iter().find(|b| b.dataset == "ev").expect("ev waits");
    assert_eq!(ev.reason, Reason::Unsealed);
    assert_eq!(ev.count, 3 * 96 + 2, "three days of quarter hours, and two of today");
    // Day 1 sealed: its daily partition runs.
    let g = Granularity::Minutes(15);
    let lo = g.index_of(parse_instant("2026-01-01T00:00:00Z").expect("t"));
    snap.present.insert("ev".into(), (lo..lo + 96).collect());
    let plan2 = plan(&p, &snap, now(), &Selection::default(), Order::OldestFirst, None);
    let keys: Vec<String> = plan2
        .tasks
        .iter()
        .map(|t| format!("{} {}", t.dataset, Granularity::Day.format_key(t.partition)))
        .collect();
    assert_eq!(keys, vec!["daily date=2026-01-01"]);
}
