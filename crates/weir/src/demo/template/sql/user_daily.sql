-- Per user and day: plays, distinct tracks, listening time, and sessions
-- (a new session starts after a gap of more than 30 minutes).
WITH ordered AS (
    SELECT user_id, track_id, ms_played, event_type, ts,
           lag(ts) OVER (PARTITION BY user_id ORDER BY ts, event_id) AS prev_ts
    FROM plays
)
SELECT user_id,
       sum(CASE WHEN event_type = 'play' THEN 1 ELSE 0 END) AS plays,
       count(DISTINCT track_id) AS distinct_tracks,
       sum(ms_played) AS ms_played,
       sum(CASE WHEN prev_ts IS NULL OR ts - prev_ts > INTERVAL '30 minutes' THEN 1 ELSE 0 END) AS sessions
FROM ordered
GROUP BY user_id
ORDER BY user_id
