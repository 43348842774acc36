#!/bin/sh
# Open a new game's page, feed it (dev/feed.mjs MODE ARGS…) while taking screenshots.
#   dev/live.sh OUT.png "--wait 5000 --shots 3 --every 1200" scene
set -e
cd "$(dirname "$0")/.."
out=$1; shot_args=$2; shift 2
game=$(node -e 'console.log(crypto.randomUUID())')
node dev/shot.mjs "http://127.0.0.1:${DEV_PORT:-8781}/view/$game" "$out" $shot_args > "$out.log" 2>&1 &
pid=$!
sleep 1.5
node dev/feed.mjs "$@" --session "$game" > /dev/null
wait $pid
cat "$out.log"
