-- Clean and deduplicate one day of raw play events.
-- Dropped (and counted in this dataset's counters): lines missing a field,
-- events from before the day (late arrivals) or after it (clock skew), and
-- duplicate deliveries of the same event.
SELECT DISTINCT event_id, user_id, track_id, artist_id, ts, ms_played, event_type
FROM raw
WHERE event_id IS NOT NULL
  AND user_id IS NOT NULL
  AND track_id IS NOT NULL
  AND ms_played IS NOT NULL
  AND ts >= {{ partition_start }}
  AND ts < {{ partition_end }}
ORDER BY ts, event_id
