#!/usr/bin/env bash
# Grade a class on a Slurm cluster: one array task per shard, then one merge.
#
#   sbatch --array=1-4 grade-slurm.sh /path/to/class /path/to/parts [backprop-grade options]
#   # once every task is done:
#   backprop-grade --merge /path/to/parts/shard-* --out /path/to/grades
#
# Each task grades the students of its shard (by name: the split is the same on every node and
# does not move when students are added) into PARTS/shard-I, computing the reference once for
# its own students. The merge writes the grades.csv, feedback files and summary one machine would.
#SBATCH --job-name=backprop-grade
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=01:00:00
set -euo pipefail
usage="usage: sbatch --array=1-N grade-slurm.sh CLASS_FOLDER PARTS_FOLDER [backprop-grade options]"
CLASS=${1:?$usage}
PARTS=${2:?$usage}
shift 2
COUNT=${SLURM_ARRAY_TASK_COUNT:?not a Slurm array task: $usage}
INDEX=$(( SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1 ))  # 1 … COUNT, whatever --array starts at
mkdir -p "$PARTS"
# BACKPROP_GRADE lets a site run it another way (e.g. "python -m compare.grade" from a checkout).
exec ${BACKPROP_GRADE:-backprop-grade} "$CLASS" --shard "$INDEX/$COUNT" --out "$PARTS/shard-$INDEX" \
    --jobs "${SLURM_CPUS_PER_TASK:-2}" --no-progress "$@"
