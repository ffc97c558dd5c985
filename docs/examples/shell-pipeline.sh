#!/bin/sh
# A two-stage pipeline driven through the ckpt command line, as a Python or Go pipeline would
# drive it. Run it twice with CRASH_AT=transform the first time: the second run skips the stage
# that finished and resumes at the one that did not. Needs `ckpt` and `jq` on PATH and a store
# (CKPT_DIR or a .ckpt/ folder). JSON is built and read with jq, never pasted together as text:
# values may hold quotes, backslashes or newlines, and keys may come in any order.
set -eu

RUN=${RUN:-shell-run-1}
INPUT=${INPUT:-"hello checkpoints"}

# The input key of a stage: what it reads and how it is configured. Equal keys, equal output.
key() { printf '%s\n%s\n%s\n' "$1" "$2" "$3" | sha256sum | cut -c1-32; }

# Done already when HEAD holds this stage's output with this input key (see ckpt status --json).
done_already() { ckpt status --json | jq -e --arg stage "$1" --arg key "$2" 'any(.stages[]; .stage == $stage and .inputKey == $key)' > /dev/null; }

stage_extract() {
  k=$(key extract v1 "$INPUT")
  if done_already extract "$k"; then echo "extract: reused"; return; fi
  ckpt commit -s extract --json "$(jq -n --arg text "$INPUT" '{text: $text, length: ($text | length)}')" --run "$RUN" --meta "inputKey=$k" > /dev/null
  echo "extract: ran"
}

stage_transform() {
  text=$(ckpt cat HEAD:extract/text --json | jq -r .)   # restore the upstream output
  k=$(key transform v1 "$text")
  if done_already transform "$k"; then echo "transform: reused"; return; fi
  [ "${CRASH_AT:-}" = transform ] && { echo "transform: crashed" >&2; exit 3; }
  upper=$(printf '%s' "$text" | tr a-z A-Z)
  ckpt commit -s transform --json "$(jq -n --arg upper "$upper" '{upper: $upper}')" --run "$RUN" --meta "inputKey=$k" > /dev/null
  echo "transform: ran"
}

stage_extract
stage_transform
ckpt cat HEAD:transform/upper --json | jq -r .
