-- Per variant: engagement and the funnel impression → play → like.
SELECT CAST({{ partition_start }} AS DATE) AS day,
       variant,
       count(DISTINCT user_id) AS units,
       count(*) AS sessions,
       CAST(sum(plays) AS DOUBLE) / count(*) AS plays_per_session,
       CAST(sum(skips) AS DOUBLE) / greatest(sum(plays) + sum(skips), 1) AS skip_rate,
       CAST(sum(ms_listened) AS DOUBLE) / 60000.0 / count(*) AS minutes_per_session,
       avg(length_s) AS avg_session_s,
       sum(impressions) AS impressions,
       sum(plays) AS plays,
       sum(likes) AS likes,
       CAST(sum(plays) AS DOUBLE) / greatest(sum(impressions), 1) AS play_rate,
       CAST(sum(likes) AS DOUBLE) / greatest(sum(plays), 1) AS like_rate
FROM sessions
GROUP BY variant
