-- One row per session: a user's events with no gap over 30 minutes.
WITH e AS (
    SELECT json_get_str(event, 'user_id') AS user_id,
           json_get_str(event, 'type') AS type,
           json_get_int(event, 'ms') AS ms,
           CAST(to_unixtime(event_time) AS BIGINT) AS t
    FROM events
),
a AS (
    SELECT json_get_str(event, 'unit') AS user_id, max(json_get_str(event, 'variant')) AS variant
    FROM reco_assignments
    GROUP BY 1
),
g AS (
    SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) <= 1800 THEN 0 ELSE 1 END AS starts
    FROM e
),
s AS (
    SELECT *, sum(starts) OVER (PARTITION BY user_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS session_no
    FROM g
)
SELECT s.user_id,
       coalesce(a.variant, 'none') AS variant,
       s.session_no,
       min(s.t) AS started_s,
       max(s.t) - min(s.t) AS length_s,
       count(*) FILTER (WHERE s.type = 'impression') AS impressions,
       count(*) FILTER (WHERE s.type = 'play') AS plays,
       count(*) FILTER (WHERE s.type = 'skip') AS skips,
       count(*) FILTER (WHERE s.type = 'like') AS likes,
       coalesce(sum(s.ms) FILTER (WHERE s.type = 'play'), 0) AS ms_listened
FROM s LEFT JOIN a ON s.user_id = a.user_id
GROUP BY s.user_id, coalesce(a.variant, 'none'), s.session_no
