-- Per track and day: plays, skips, listeners and listening time.
SELECT track_id,
       min(artist_id) AS artist_id,
       sum(CASE WHEN event_type = 'play' THEN 1 ELSE 0 END) AS plays,
       sum(CASE WHEN event_type = 'skip' THEN 1 ELSE 0 END) AS skips,
       count(DISTINCT user_id) AS listeners,
       sum(ms_played) AS ms_played
FROM plays
GROUP BY track_id
ORDER BY track_id
