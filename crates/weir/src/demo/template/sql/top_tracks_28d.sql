-- The 100 most played tracks over the 28 days ending at this partition
-- (fewer days at the very start of the data).
SELECT track_id,
       min(artist_id) AS artist_id,
       sum(plays) AS plays,
       sum(skips) AS skips,
       sum(ms_played) AS ms_played
FROM daily
GROUP BY track_id
ORDER BY plays DESC, track_id
LIMIT 100
