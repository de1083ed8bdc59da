use super::*;
use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::ParquetReadOptions;

fn batches() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("flag", DataType::Boolean, true),
    ]));
    let hour = 3_600_000_000i64;
    let day0 = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z
    let batch = |k: i64| {
        let n = 40 + k * 7;
        let ids: Vec<Option<i64>> = (0..n).map(|i| (i % 5 != 0).then_some((i * k) % 13)).collect();
        let names: Vec<Option<String>> = (0..n)
            .map(|i| (i % 7 != 3).then(|| ["a", "b", "bb", "", "ä"][((i + k) % 5) as usize].to_string()))
            .collect();
        let ts: Vec<Option<i64>> = (0..n)
            .map(|i| (i % 11 != 0).then_some(day0 + (i % 30) * hour))
            .collect();
        let flags: Vec<Option<bool>> = (0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(BooleanArray::from(flags)),
            ],
        )
        .expect("batch")
    };
    let bs = (1..=4).map(batch).collect();
    (schema, bs)
}

/// `t` as the executor registers a JSON-lines input (in memory), `p` as
/// it registers a Parquet one (a view over the files), `e` empty.
async fn session(dir: &std::path::Path) -> SessionContext {
    let ctx = SessionContext::new();
    let (schema, bs) = batches();
    let path = dir.join("t.parquet");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
    for b in &bs {
        w.write(b).expect("write");
    }
    w.close().expect("close");
    ctx.register_table("t", Arc::new(MemTable::try_new(schema.clone(), vec![bs]).expect("mem")))
        .expect("register");
    ctx.register_table("e", Arc::new(MemTable::try_new(schema, vec![vec![]]).expect("mem")))
        .expect("register");
    let df = ctx
        .read_parquet(vec![format!("{}/", dir.display())], ParquetReadOptions::default())
        .await
        .expect("parquet");
    ctx.register_table("p", df.into_view()).expect("register");
    ctx
}

async fn by_sql(ctx: &SessionContext, sql: &str) -> Vec<i64> {
    let out = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
    let b = out.iter().find(|b| b.num_rows() > 0).expect("a row");
    (0..b.num_columns())
        .map(|i| {
            let c = arrow::compute::cast(b.column(i), &DataType::Int64).expect("cast");
            c.as_any().downcast_ref::<Int64Array>().expect("ints").value(0)
        })
        .collect()
}

#[tokio::test]
async fn counts_equal_what_sql_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = session(dir.path()).await;
    let queries = [
        "SELECT count(*) FROM {t}",
        "SELECT count(*) FROM {t} WHERE name IS NULL",
        "SELECT count(name) FROM {t}",
        "SELECT count(DISTINCT name) FROM {t} WHERE id > 2",
        "SELECT count(*) - count(DISTINCT name) FROM {t} WHERE id IS NOT NULL AND ts IS NOT NULL",
        "SELECT count(*) FILTER (WHERE flag) AS c0, count(id) FILTER (WHERE name = 'b') AS c1, \
         count(DISTINCT id) FILTER (WHERE NOT flag) AS c2 FROM {t} \
         WHERE ts < TIMESTAMP '2026-01-01T12:00:00+00:00'",
        "SELECT 2 * count(*) + 1 - count(id) FROM {t}",
        "SELECT -(count(*) - 3) FROM {t}",
        "SELECT count(1) FROM {t} WHERE flag",
        "SELECT count(*) FROM {t} WHERE id + 1 > '3'",
        "SELECT count(*) FROM {t} WHERE lower(name) LIKE 'b%' OR ts >= TIMESTAMP '2026-01-01T20:00:00Z'",
        "SELECT count(DISTINCT ts) FROM {t}",
        "SELECT COUNT(*) FROM {t} WHERE {t}.id BETWEEN 2 AND 6",
        "SELECT count(NULL) FROM {t}",
        "SELECT count(*) FROM {T} WHERE {T}.ID > 2 AND \"{t}\".id < 9",
        "SELECT count(DISTINCT arrow_cast(name, 'LargeUtf8')) - count(DISTINCT arrow_cast(name, 'Utf8View')) \
         FILTER (WHERE flag) AS c0, count(DISTINCT CAST(name AS BYTEA)) FILTER (WHERE id < 9) AS c1, \
         count(DISTINCT lower(name)) FILTER (WHERE flag) AS c2 FROM {t} WHERE id IS NOT NULL",
    ];
    for table in ["t", "p", "e"] {
        for q in queries {
            let q = q.replace("{t}", table).replace("{T}", &table.to_uppercase());
            let c = Counting::compile(&ctx, &q).await;
            let c = c.unwrap_or_else(|| panic!("{q} compiles"));
            let counted = c.run(&ctx).await.unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(counted, by_sql(&ctx, &q).await, "{q}");
        }
    }
    // The fixture has what the queries tell apart.
    assert_eq!(
        by_sql(&ctx, "SELECT count(*), count(DISTINCT name) FROM t").await,
        vec![230, 5]
    );
}

#[tokio::test]
async fn other_queries_are_left_to_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = session(dir.path()).await;
    for q in [
        "SELECT sum(id) FROM t",
        "SELECT count(*) / 2 FROM t",
        "SELECT 5 FROM t",
        "SELECT count(*) FROM t GROUP BY name",
        "SELECT count(*) FROM t LIMIT 1",
        "SELECT count(*) FROM t a",
        "SELECT count(*) FROM t JOIN p ON t.id = p.id",
        "SELECT count(*) FROM t WHERE id IN (SELECT id FROM p)",
        "SELECT count(*) OVER () FROM t",
        "SELECT count(*) FROM t WHERE id",
        "SELECT count(*) FROM nope",
        "SELECT count(*) FROM t WHERE nope = 1",
        "SELECT count(DISTINCT *) FROM t",
        "SELECT count(id, name) FROM t",
        "WITH x AS (SELECT * FROM t) SELECT count(*) FROM x",
        "SELECT count(*) FROM t; SELECT count(*) FROM t",
        "not sql",
    ] {
        assert!(Counting::compile(&ctx, q).await.is_none(), "{q}");
    }
}

#[tokio::test]
async fn an_error_while_counting_is_reported_not_guessed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = session(dir.path()).await;
    let c = Counting::compile(&ctx, "SELECT count(*) FROM t WHERE CAST(name AS INT) > 0")
        .await
        .expect("compiles");
    assert!(c.run(&ctx).await.is_err());
    let c = Counting::compile(&ctx, "SELECT count(*) * 9223372036854775807 FROM t")
        .await
        .expect("compiles");
    let err = c.run(&ctx).await.expect_err("overflow");
    assert_eq!(err.to_string(), "a counter overflowed 64 bits");
}
