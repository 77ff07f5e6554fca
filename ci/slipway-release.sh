#!/usr/bin/env bash
# Slipway's shared release step (seed 003: one pipeline for every service). The GitLab CI
# template, the GitHub Actions composite action and the Jenkins step all run this one script:
# push the build's artifacts to the vault, create the release, then push its test results,
# coverage reports and vulnerability scans — all with the `slipway` CLI.
#
# Inputs are environment variables (lists are one item per line, or separated by spaces):
#   SLIPWAY_SERVER, SLIPWAY_TOKEN   the server and a CI token (required; read by the CLI itself)
#   SLIPWAY_PROJECT                 the project (required)
#   SLIPWAY_VERSION                 the release version, e.g. 1.4.2 (required)
#   SLIPWAY_ARTIFACTS               COMPONENT=FILE: each file pushed as that component at
#                                   SLIPWAY_VERSION, and the release made of them (required
#                                   unless SLIPWAY_LIKE names a release to take them from)
#   SLIPWAY_LIKE                    create the release with the artifacts of this release
#   SLIPWAY_COMMIT, SLIPWAY_BRANCH, SLIPWAY_PIPELINE_URL   provenance of the artifacts
#   SLIPWAY_SIGN_KEY                a key file (`slipway key generate`) signing each artifact
#   SLIPWAY_UNSIGNED_OK             `true`: create the release even with unsigned artifacts
#   SLIPWAY_COMMITS_FILE, SLIPWAY_NOTES_FILE   release notes: commit messages, or as written
#   SLIPWAY_LABELS                  labels choosing a lifecycle (e.g. hotfix)
#   SLIPWAY_ENV                     the environment test results were produced in (required
#                                   with SLIPWAY_TEST_RESULTS)
#   SLIPWAY_TEST_RESULTS            SUITE=FILE: JUnit XML files (plain or .gz), one run per suite
#   SLIPWAY_LAUNCH                  files of one launch merge into one run (default: one run)
#   SLIPWAY_COVERAGE                KIND=FILE: Cobertura XML or LCOV (unit, contract, e2e…)
#   SLIPWAY_SCANS                   [COMPONENT=]FILE: Trivy, Grype, SARIF or CycloneDX reports
#   SLIPWAY_BIN                     the CLI (default: `slipway` on the PATH)
set -euo pipefail

slipway="${SLIPWAY_BIN:-slipway}"

fail() {
  printf 'error: %s\n' "$1" >&2
  if [ $# -gt 1 ]; then printf '  hint: %s\n' "$2" >&2; fi
  exit 3
}

need() {
  local name="$1" what="$2"
  if [ -z "${!name:-}" ]; then
    fail "$name is not set: $what" "set it in the pipeline's variables (see ci/slipway-release.sh)"
  fi
}

# The items of a list variable, one per line.
items() {
  printf '%s\n' "${1:-}" | tr ' \t' '\n\n' | sed '/^$/d'
}

# KEY=VALUE, or a refusal naming the variable and the form.
split_pair() {
  local var="$1" item="$2" example="$3"
  case "$item" in
    ?*=?*) ;;
    *) fail "$var: \`$item\` is not KEY=FILE" "write it as $example" ;;
  esac
}

need SLIPWAY_SERVER "the Slipway server's URL, e.g. https://slipway.example.com"
need SLIPWAY_TOKEN "an API token the CI pushes with (\`slipway token create\`)"
need SLIPWAY_PROJECT "the project the release belongs to, e.g. pets"
need SLIPWAY_VERSION "the release's version, e.g. 1.4.2 (often the tag)"
if [ -z "${SLIPWAY_ARTIFACTS:-}" ] && [ -z "${SLIPWAY_LIKE:-}" ]; then
  fail "SLIPWAY_ARTIFACTS is not set: the files to release, as COMPONENT=FILE" \
    "e.g. SLIPWAY_ARTIFACTS=\"pets-web=target/pets.war pets-sql=db.zip\", or SLIPWAY_LIKE=1.4.1 to reuse a release's artifacts"
fi
if [ -n "${SLIPWAY_TEST_RESULTS:-}" ]; then
  need SLIPWAY_ENV "the environment the test results were produced in, e.g. DEV"
fi
command -v "$slipway" >/dev/null 2>&1 ||
  fail "the slipway CLI \`$slipway\` is not on the PATH" "install it in the job's image, or set SLIPWAY_BIN"

# Check every file named before anything is pushed: a typo must not leave half a release.
for var in SLIPWAY_ARTIFACTS SLIPWAY_TEST_RESULTS SLIPWAY_COVERAGE SLIPWAY_SCANS; do
  while IFS= read -r item; do
    file="${item#*=}"
    [ -f "$file" ] || fail "$var names \`$file\`, which does not exist" "check the path relative to $(pwd)"
  done < <(items "${!var:-}")
done

project=(--project "$SLIPWAY_PROJECT")
release_artifacts=()
while IFS= read -r item; do
  split_pair SLIPWAY_ARTIFACTS "$item" "pets-web=target/pets.war"
  component="${item%%=*}"
  file="${item#*=}"
  push=(artifact push "$file" "${project[@]}" --component "$component" --version "$SLIPWAY_VERSION")
  [ -n "${SLIPWAY_COMMIT:-}" ] && push+=(--commit "$SLIPWAY_COMMIT")
  [ -n "${SLIPWAY_BRANCH:-}" ] && push+=(--branch "$SLIPWAY_BRANCH")
  [ -n "${SLIPWAY_PIPELINE_URL:-}" ] && push+=(--pipeline-url "$SLIPWAY_PIPELINE_URL")
  [ -n "${SLIPWAY_SIGN_KEY:-}" ] && push+=(--sign-key "$SLIPWAY_SIGN_KEY")
  echo "slipway: pushing $file as $component $SLIPWAY_VERSION"
  "$slipway" "${push[@]}"
  release_artifacts+=(--artifact "$component=$SLIPWAY_VERSION")
done < <(items "${SLIPWAY_ARTIFACTS:-}")

create=(release create "${project[@]}" --version "$SLIPWAY_VERSION" "${release_artifacts[@]}")
[ -n "${SLIPWAY_LIKE:-}" ] && create+=(--like "$SLIPWAY_LIKE")
[ -n "${SLIPWAY_COMMITS_FILE:-}" ] && create+=(--commits-file "$SLIPWAY_COMMITS_FILE")
[ -n "${SLIPWAY_NOTES_FILE:-}" ] && create+=(--notes-file "$SLIPWAY_NOTES_FILE")
[ "${SLIPWAY_UNSIGNED_OK:-false}" = "true" ] && create+=(--unsigned-ok)
while IFS= read -r label; do create+=(--label "$label"); done < <(items "${SLIPWAY_LABELS:-}")
echo "slipway: creating release $SLIPWAY_VERSION of $SLIPWAY_PROJECT"
"$slipway" "${create[@]}"

of_release=("${project[@]}" --release "$SLIPWAY_VERSION")
while IFS= read -r item; do
  split_pair SLIPWAY_TEST_RESULTS "$item" "e2e=reports/junit.xml"
  tests=(tests push "${of_release[@]}" --env "$SLIPWAY_ENV" --suite "${item%%=*}")
  [ -n "${SLIPWAY_LAUNCH:-}" ] && tests+=(--launch "$SLIPWAY_LAUNCH")
  [ -n "${SLIPWAY_BRANCH:-}" ] && tests+=(--attr "branch=$SLIPWAY_BRANCH")
  [ -n "${SLIPWAY_COMMIT:-}" ] && tests+=(--attr "commit=$SLIPWAY_COMMIT")
  echo "slipway: pushing test results ${item#*=} (${item%%=*} in $SLIPWAY_ENV)"
  "$slipway" "${tests[@]}" "${item#*=}"
done < <(items "${SLIPWAY_TEST_RESULTS:-}")

while IFS= read -r item; do
  split_pair SLIPWAY_COVERAGE "$item" "unit=coverage.xml"
  echo "slipway: pushing coverage ${item#*=} (${item%%=*})"
  "$slipway" coverage push "${of_release[@]}" --kind "${item%%=*}" "${item#*=}"
done < <(items "${SLIPWAY_COVERAGE:-}")

while IFS= read -r item; do
  scan=(scan push "${of_release[@]}")
  case "$item" in
    *=*) scan+=(--component "${item%%=*}") ;;
  esac
  echo "slipway: pushing scan ${item#*=}"
  "$slipway" "${scan[@]}" "${item#*=}"
done < <(items "${SLIPWAY_SCANS:-}")

echo "slipway: release $SLIPWAY_VERSION of $SLIPWAY_PROJECT is in; promote it with \`slipway promote\`"
