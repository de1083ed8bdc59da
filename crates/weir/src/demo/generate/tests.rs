use super::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

/// A fresh scratch directory, unique to this test and process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-gen-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn small() -> GenConfig {
    GenConfig {
        days: 3,
        users: 150,
        tracks: 600,
        artists: 50,
        events_per_day: 3000,
        ..GenConfig::default()
    }
}

/// Every landing file under `dir/plays`, keyed by `YYYY-MM-DD/HH.jsonl`.
fn read_tree(dir: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for day in fs::read_dir(dir.join("plays"))? {
        let day = day?;
        for file in fs::read_dir(day.path())? {
            let file = file?;
            let name = file.file_name();
            let key = format!("{}/{}", day.file_name().to_string_lossy(), name.to_string_lossy());
            out.insert(key, fs::read(file.path())?);
        }
    }
    Ok(out)
}

/// The value of `key` in a generated line (quotes stripped), if present.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(&format!("\"{key}\":"))? + key.len() + 3..];
    Some(rest[..rest.find([',', '}'])?].trim_matches('"'))
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` into ms since the epoch.
fn parse_ts(s: &str) -> Option<i64> {
    let n = |at: usize, len: usize| s.get(at..at + len)?.parse::<u32>().ok();
    let days = days_from_civil(n(0, 4)? as i32, n(5, 2)?, n(8, 2)?);
    let hms = [(11, HOUR_MS), (14, MIN_MS), (17, 1000), (20, 1)];
    hms.iter().try_fold(days * DAY_MS, |acc, &(at, unit)| {
        let len = if unit == 1 { 3 } else { 2 };
        Some(acc + i64::from(n(at, len)?) * unit)
    })
}

#[test]
fn default_config_shape_dirt_and_realism() -> io::Result<()> {
    let (dir, cfg) = (scratch("default"), GenConfig::default());
    let st = generate(&dir, &cfg)?;
    let tree = read_tree(&dir)?;
    assert_eq!((tree.len(), st.files), (14 * 24, 14 * 24));
    let mut got = GenStats {
        files: st.files,
        ..GenStats::default()
    };
    let (mut seen, mut by_hour) = (HashSet::new(), [0u64; 24]);
    let mut sessions: HashMap<(&str, &str), Vec<i64>> = HashMap::new();
    for (key, bytes) in &tree {
        let (date, hour) = key.split_once('/').expect("date/hour key");
        let hour: i64 = hour[..2].parse().expect("hour");
        let file_start = parse_ts(&format!("{date}T00:00:00.000Z")).expect("date") + hour * HOUR_MS;
        for line in std::str::from_utf8(bytes).expect("utf-8").lines() {
            got.lines += 1;
            if !(line.starts_with("{\"event_id\":\"") && line.ends_with('}')) {
                got.malformed += 1;
                continue;
            }
            if !seen.insert(field(line, "event_id").expect("event_id")) {
                got.duplicates += 1;
                continue;
            }
            got.events += 1;
            for k in ["artist_id", "ts", "ms_played", "event_type"] {
                assert!(field(line, k).is_some(), "{k} missing: {line}");
            }
            let (user, track, ms) = (
                field(line, "user_id"),
                field(line, "track_id"),
                field(line, "ms_played"),
            );
            got.missing_field += u64::from(user.is_none() || track.is_none() || ms == Some("null"));
            let ts = parse_ts(field(line, "ts").expect("ts")).expect("valid ts");
            if ts < file_start {
                let window = file_start - 3 * HOUR_MS..file_start - HOUR_MS;
                assert!(window.contains(&ts), "not 1-3 h late: {line}");
                got.late += 1;
            } else if ts >= file_start + HOUR_MS {
                assert!((file_start + DAY_MS..file_start + 10 * DAY_MS).contains(&ts), "{line}");
                got.future += 1;
                continue;
            }
            by_hour[(ts.rem_euclid(DAY_MS) / HOUR_MS) as usize] += 1;
            if let (Some(t), Some(Ok(ms))) = (track, ms.map(str::parse::<u32>)) {
                let t: u32 = t[1..].parse().expect("track number");
                let artist = format!("a{:03}", artist_of(t, cfg.artists));
                assert_eq!(field(line, "artist_id"), Some(artist.as_str()));
                assert_eq!(field(line, "event_type") == Some("skip"), ms < 30_000, "{line}");
                assert!(ms <= track_len_ms(t), "{line}");
            }
            if let Some(u) = user {
                sessions.entry((date, u)).or_default().push(ts);
            }
        }
    }
    assert_eq!(got, st);
    assert_eq!(st.lines, st.events + st.malformed + st.duplicates);
    let late = P_LATE * 22.0 / 24.0; // events of hours 22 and 23 cannot be late
    let dirt = [P_MALFORMED, P_MISSING, P_DUPLICATE, late, P_FUTURE];
    let counts = [st.malformed, st.missing_field, st.duplicates, st.late, st.future];
    for (p, n) in dirt.into_iter().zip(counts) {
        let rate = n as f64 / st.events as f64;
        assert!(n > 0 && (0.7 * p..1.3 * p).contains(&rate), "{n} of {st:?}");
    }
    assert!((0.85..1.1).contains(&(st.events as f64 / (14.0 * 20_000.0))), "{st:?}");
    assert!(by_hour[3] * 4 < by_hour[20], "diurnal curve: {by_hour:?}");
    for ts in sessions.values_mut() {
        ts.sort_unstable();
        for w in ts.windows(2) {
            // Within a session: one listen (or two, around a future-dated
            // one skipped above); between sessions: a long break.
            let gap = w[1] - w[0];
            assert!(
                gap <= 22 * MIN_MS || gap >= SESSION_BREAK_MS,
                "ambiguous session gap {gap}"
            );
        }
    }
    fs::remove_dir_all(&dir)
}

#[test]
fn same_config_same_bytes() -> io::Result<()> {
    let (a, b, c) = (scratch("det-a"), scratch("det-b"), scratch("det-c"));
    assert_eq!(generate(&a, &small())?, generate(&b, &small())?);
    let tree = read_tree(&a)?;
    assert_eq!(tree, read_tree(&b)?);
    assert!(
        tree.keys().all(|k| k.ends_with(".jsonl")),
        "temporary files left behind"
    );
    generate(&c, &GenConfig { seed: 7, ..small() })?;
    assert_ne!(tree, read_tree(&c)?);
    [a, b, c].iter().try_for_each(fs::remove_dir_all)
}

#[test]
fn generate_day_matches_generate() -> io::Result<()> {
    let (all, one, cfg) = (scratch("day-all"), scratch("day-one"), small());
    let total = generate(&all, &cfg)?;
    let full = read_tree(&all)?;
    let mut sum = generate_day(&one, &cfg, 1)?;
    let single = read_tree(&one)?;
    assert_eq!(single.len(), 24);
    assert!(single.iter().all(|(k, v)| full.get(k) == Some(v)));
    sum.absorb(&generate_day(&one, &cfg, 0)?);
    sum.absorb(&generate_day(&one, &cfg, 2)?);
    assert_eq!((sum, read_tree(&one)?), (total, full));
    [all, one].iter().try_for_each(fs::remove_dir_all)
}

#[test]
fn anomaly_day_triples_lines() -> io::Result<()> {
    let (plain, anom) = (scratch("anom-plain"), scratch("anom"));
    let cfg = GenConfig {
        anomaly_day: Some(1),
        days: 2,
        ..small()
    };
    let p = generate(
        &plain,
        &GenConfig {
            anomaly_day: None,
            ..cfg.clone()
        },
    )?;
    let a = generate(&anom, &cfg)?;
    let (p1, a1) = (generate_day(&plain, &small(), 1)?, generate_day(&anom, &cfg, 1)?);
    assert_eq!((a1.lines, a1.events, a1.late), (3 * p1.lines, p1.events, p1.late));
    assert_eq!((a.lines - a1.lines, a.events), (p.lines - p1.lines, p.events));
    assert_eq!(a.lines, a.events + a.malformed + a.duplicates);
    let tripled = read_tree(&anom)?;
    for (k, v) in read_tree(&plain)? {
        let want = if k.starts_with("2026-01-02") { v.repeat(3) } else { v };
        assert_eq!(tripled.get(&k), Some(&want), "{k}");
    }
    [plain, anom].iter().try_for_each(fs::remove_dir_all)
}

#[test]
fn dates_and_timestamps() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    for z in -200_000..200_000 {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z);
    }
    let day = |y, m, d| days_from_civil(y, m, d) * DAY_MS;
    let cases = [
        (day(2028, 2, 29) - 1, "2028-02-28T23:59:59.999Z"),
        (day(2028, 2, 28) + DAY_MS, "2028-02-29T00:00:00.000Z"),
        (day(2028, 2, 29) + DAY_MS + 3_723_004, "2028-03-01T01:02:03.004Z"),
        (day(2027, 2, 28) + DAY_MS, "2027-03-01T00:00:00.000Z"),
        (day(2026, 12, 31) + DAY_MS, "2027-01-01T00:00:00.000Z"),
        (day(2026, 1, 31) + DAY_MS, "2026-02-01T00:00:00.000Z"),
        (day(2100, 2, 28) + DAY_MS, "2100-03-01T00:00:00.000Z"),
        (day(2000, 2, 28) + DAY_MS, "2000-02-29T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ];
    for (ms, want) in cases {
        assert_eq!(Ts(ms).to_string(), want);
        assert_eq!(parse_ts(want), Some(ms));
    }
}

#[test]
fn landing_dirs_cross_year_and_leap_day() -> io::Result<()> {
    let dir = scratch("leap");
    let tiny = |start| GenConfig {
        start,
        days: 3,
        users: 20,
        events_per_day: 100,
        ..small()
    };
    generate(&dir, &tiny((2027, 12, 31)))?;
    generate(&dir, &tiny((2028, 2, 28)))?;
    let dates: BTreeSet<String> = read_tree(&dir)?.keys().map(|k| k[..10].to_owned()).collect();
    let want = [
        "2027-12-31",
        "2028-01-01",
        "2028-01-02",
        "2028-02-28",
        "2028-02-29",
        "2028-03-01",
    ];
    assert_eq!(dates, want.iter().map(|d| (*d).to_owned()).collect());
    assert!(generate(&dir, &tiny((2027, 2, 29))).is_err(), "2027 is not a leap year");
    assert!(generate(&dir, &tiny((2028, 13, 1))).is_err());
    fs::remove_dir_all(&dir)
}
