#!/bin/sh
# Record every scenario (or those named) into tests/fixtures/corpus/<name>/, one claude at a time.
#   tools/scenarios/record_corpus.sh [name ...]
# CORPUS_DEBUG_DIR=/tmp/dbg keeps each scenario's claude --debug-file logs in /tmp/dbg/<name>/
# (they are never stored in the corpus; the dispatch times taken from them are).
set -e
cd "$(dirname "$0")/../.."
names="$*"
[ -n "$names" ] || names=$(ls tools/scenarios/*.json | xargs -n1 basename | sed 's/\.json$//')
for n in $names; do
  rm -rf "tests/fixtures/corpus/$n"
  echo "== $n"
  .venv/bin/python tools/record_session.py "tools/scenarios/$n.json" --out "tests/fixtures/corpus/$n" \
    ${CORPUS_DEBUG_DIR:+--keep-debug "$CORPUS_DEBUG_DIR/$n"} \
    | grep -v '^check with'
done
