#!/bin/sh
# IBTool's nightly purge: complaints closed more than PURGE_DAYS days ago (default 90) are
# deleted. One line per run on standard output, `ERROR …` on failure (the log rules match it).
set -eu
days=${PURGE_DAYS:-90}
case "$days" in *[!0-9]*|'') echo "ERROR PURGE_DAYS must be a number of days, not '$days'"; exit 2 ;; esac
if ! deleted=$(psql "${DB_URL:?set DB_URL}" -X -q -A -t -v ON_ERROR_STOP=1 -v days="$days" -f - <<'SQL'
WITH gone AS (
  DELETE FROM complaints WHERE status = 'closed' AND closed_at < now() - make_interval(days => :days)
  RETURNING 1
) SELECT count(*) FROM gone;
SQL
); then
  echo "ERROR purge failed"
  exit 1
fi
echo "PURGED $deleted complaints closed more than $days days ago"
