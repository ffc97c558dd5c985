#!/bin/sh
# A two-stage pipeline driven through the ckpt command line, as a Python or Go pipeline would
# drive it. Run it twice with CRASH_AT=transform the first time: the second run skips the stage
# that finished and resumes at the one that did not. Needs `ckpt` on PATH and a store
# (CKPT_DIR or a .ckpt/ folder).
set -eu

RUN=${RUN:-shell-run-1}
INPUT=${INPUT:-"hello checkpoints"}

# The input key of a stage: what it reads and how it is configured. Equal keys, equal output.
key() { printf '%s\n%s\n%s\n' "$1" "$2" "$3" | sha256sum | cut -c1-32; }

# Done already when HEAD holds this stage's output with this input key (see ckpt status --json).
done_already() { ckpt status --json | grep -q "\"stage\":\"$1\"[^}]*\"inputKey\":\"$2\""; }

stage_extract() {
  k=$(key extract v1 "$INPUT")
  if done_already extract "$k"; then echo "extract: reused"; return; fi
  ckpt commit -s extract --json "{\"text\": \"$INPUT\", \"length\": ${#INPUT}}" --run "$RUN" --meta "inputKey=$k" > /dev/null
  echo "extract: ran"
}

stage_transform() {
  text=$(ckpt cat HEAD:extract/text --json | tr -d '"')   # restore the upstream output
  k=$(key transform v1 "$text")
  if done_already transform "$k"; then echo "transform: reused"; return; fi
  [ "${CRASH_AT:-}" = transform ] && { echo "transform: crashed" >&2; exit 3; }
  upper=$(printf '%s' "$text" | tr a-z A-Z)
  ckpt commit -s transform --json "{\"upper\": \"$upper\"}" --run "$RUN" --meta "inputKey=$k" > /dev/null
  echo "transform: ran"
}

stage_extract
stage_transform
ckpt cat HEAD:transform/upper --json | tr -d '"'
