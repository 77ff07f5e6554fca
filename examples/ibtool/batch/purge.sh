#!/bin/sh
# IBTool's nightly purge: complaints closed more than PURGE_DAYS days ago (default 90) are
# deleted. One line per run on standard output, `ERROR …` on failure (the log rules match it),
# appended to $PURGE_LOG too when set (the file the agent follows for those rules).
set -eu
say() {
  echo "$1"
  if [ -n "${PURGE_LOG:-}" ]; then
    echo "$1" >> "$PURGE_LOG" || echo "cannot append to $PURGE_LOG" >&2
  fi
}
days=${PURGE_DAYS:-90}
case "$days" in *[!0-9]*|'') say "ERROR PURGE_DAYS must be a number of days, not '$days'"; exit 2 ;; esac
if ! deleted=$(psql "${DB_URL:?set DB_URL}" -X -q -A -t -v ON_ERROR_STOP=1 -v days="$days" -f - <<'SQL'
WITH gone AS (
  DELETE FROM complaints WHERE status = 'closed' AND closed_at < now() - make_interval(days => :days)
  RETURNING 1
) SELECT count(*) FROM gone;
SQL
); then
  say "ERROR purge failed"
  exit 1
fi
say "PURGED $deleted complaints closed more than $days days ago"
