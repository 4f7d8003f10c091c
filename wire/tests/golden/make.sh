#!/usr/bin/env bash
# Writes the golden verb messages of wire/tests/verb_golden.rs as FlatBuffers' own
# compiler lays them out from the JSON beside this script (Debian: flatbuffers-compiler,
# flatc 2.0.8), so the test proves the hand-written codec reads what the reference
# implementation of the schema writes. Needed only when a golden JSON changes; builds
# and tests never run flatc.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
schema="$here/../../schema/verbs.fbs"
cd "$here"
flatc --binary -o . "$schema" read_meta.json commit.json lock_acquire.json install_data.json \
  walk_summaries.json
flatc --binary -o . --root-type shoal.wire.verb.Reply "$schema" walk_reply.json lock_granted.json
flatc --binary -o . --root-type shoal.wire.verb.List "$schema" walk_list.json \
  install_data_list.json walk_summaries_list.json
