-- Each variant against each other (by name), on plays per impression:
-- the difference and its 95% confidence interval (two-proportion z).
WITH v AS (
    SELECT variant, CAST(sum(impressions) AS DOUBLE) AS n, CAST(sum(plays) AS DOUBLE) AS x
    FROM sessions
    WHERE variant <> 'none'
    GROUP BY variant
),
p AS (
    SELECT a.variant, b.variant AS baseline, a.x / a.n AS rate, b.x / b.n AS baseline_rate,
           a.n AS n, b.n AS baseline_n
    FROM v a JOIN v b ON a.variant < b.variant
)
SELECT CAST({{ partition_start }} AS DATE) AS day,
       variant, baseline, 'play_rate' AS metric, rate, baseline_rate,
       rate - baseline_rate AS diff,
       rate - baseline_rate - 1.96 * sqrt(rate * (1 - rate) / n + baseline_rate * (1 - baseline_rate) / baseline_n) AS ci_low,
       rate - baseline_rate + 1.96 * sqrt(rate * (1 - rate) / n + baseline_rate * (1 - baseline_rate) / baseline_n) AS ci_high,
       (rate - baseline_rate) / sqrt(rate * (1 - rate) / n + baseline_rate * (1 - baseline_rate) / baseline_n) AS z
FROM p
